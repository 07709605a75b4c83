"""Devices through which a person takes over the robot: keyboard, gamepad, SpaceMouse.

Each one is a :class:`~robot_learning.tasks.hil_serl.human.Human` that takes over only *while held*
(a key, the stick, the puck, the hold button), as in HIL-SERL: the moment the person lets go, the
policy drives again, so the replay buffer gets short corrective segments rather than whole demos.

The person thinks in the robot's base (world) frame, standing behind the robot and facing the way it
faces: forward = +x, left = +y, up = +z. The policy acts in the TCP frame, so every device turns its
world-frame direction into an action with ``env.tcp_rot().T @ world`` (:func:`world_to_tcp`).

The mapping from keys / axes / buttons to commands is made of pure functions (:func:`decode_keys`,
:func:`keys_to_world`, :func:`gamepad_reading`, :func:`spacemouse_reading`) and the devices take an
injected clock or reader, so tests drive them without a terminal, pygame or a SpaceMouse.
"""
from __future__ import annotations

import atexit
import math
import os
import select
import sys
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Sequence
from types import MappingProxyType
from typing import TextIO

import numpy as np

from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.human import Action, Human, ScriptedHuman, ScriptedHumanConfig
from robot_learning.tasks.hil_serl.scene import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY

HUMANS = ("scripted", "none", "keyboard", "gamepad", "spacemouse")

KEYBOARD_ERROR = "--human keyboard needs an interactive terminal"
GAMEPAD_ERROR = "--human gamepad needs pygame (pip install pygame) and a connected gamepad"
SPACEMOUSE_ERROR = ("--human spacemouse needs pyspacemouse (pip install pyspacemouse; and the hidapi library) "
                    "and a connected SpaceMouse")

# one-shot events a device can send, besides motion
MARKS = ("success", "failure", "rerecord")


class DeviceUnavailable(RuntimeError):
    """The chosen ``--human`` device cannot be used here (no terminal, package or device): the CLI
    prints the message and exits rather than training without the person it was asked for."""


# ---------------------------------------------------------------------------- shared helpers
def world_to_tcp(env: PandaPickPlace, world: np.ndarray) -> np.ndarray:
    """A base-frame direction (each axis in [-1, 1]) as the TCP-frame action the policy emits."""
    return np.clip(env.tcp_rot().T @ np.asarray(world, dtype=np.float64), -1.0, 1.0).astype(np.float32)


def toggled_gripper(env: PandaPickPlace) -> int:
    """The command that flips the gripper from its *actual* state (so a toggle stays right even after
    the policy moved the gripper since the person's last toggle)."""
    return GRIPPER_OPEN if env.gripper_closed else GRIPPER_CLOSE


def apply_deadzone(values: np.ndarray, deadzone: float) -> np.ndarray:
    """Zero inside the deadzone, rescaled outside it so the output starts at 0 at its edge (no jump)."""
    v = np.asarray(values, dtype=np.float64)
    mag = np.clip((np.abs(v) - deadzone) / (1.0 - deadzone), 0.0, 1.0)
    return np.sign(v) * mag


# ---------------------------------------------------------------------------- keyboard
# key -> (world axis, sign); immutable, so no module state
MOTION_KEYS = MappingProxyType({"w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0),
                                "r": (2, 1.0), "f": (2, -1.0)})
MARK_KEYS = MappingProxyType({"1": "success", "0": "failure", "x": "rerecord", "backspace": "rerecord"})

KEYBOARD_HELP = """\
Keyboard takeover: hold a key to drive the arm, let go to hand it back to the policy.
(Directions as seen standing behind the robot, facing the way it faces.)
  w / s      forward / back      (base +x / -x)
  a / d      left / right        (base +y / -y)
  r / f      up / down           (base +z / -z)
  space      close / open the gripper
  1          mark the episode a success
  0          mark the episode a failure
  x, bksp    throw the episode away and record it again
  q          quit (asks the training loop to stop)
A key counts as held {first:.2f} s after a press and {hold:.2f} s after each auto-repeat
(terminals send no key releases). Ctrl-C interrupts as usual.
"""


def decode_keys(data: bytes) -> list[str]:
    """Key names in a chunk read from a cbreak terminal: letters lower-cased (caps lock does not
    matter), ``"space"``, ``"backspace"``; escape sequences (arrows, F-keys) are dropped so their
    letters (``ESC [ A``) are not taken for motion keys."""
    text = data.decode("utf-8", errors="ignore")
    keys: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\x1b":  # ESC, then optionally "[" or "O" and a sequence ending in a letter or "~"
            i += 1
            if i < len(text) and text[i] in "[O":
                i += 1
                while i < len(text) and not ("@" <= text[i] <= "~"):
                    i += 1
                i += 1
            continue
        if c == " ":
            keys.append("space")
        elif c in "\x7f\x08":
            keys.append("backspace")
        else:
            keys.append(c.lower())
        i += 1
    return keys


def keys_to_world(held: Iterable[str]) -> np.ndarray:
    """The base-frame direction of the held motion keys: a unit step per held axis (opposite keys cancel)."""
    world = np.zeros(3)
    for key in set(held):
        if key in MOTION_KEYS:
            axis, sign = MOTION_KEYS[key]
            world[axis] += sign
    return world


@dataclass
class KeyboardConfig:
    hold_s: float = 0.25  # a key counts as held this long after its last auto-repeat
    # ... and this long after its first press: the terminal's auto-repeat starts only after a delay
    # (often 0.25-0.66 s; `xset q` shows it), and the hold must bridge it or the takeover stutters
    # back to the policy for a few steps. Shorten both with e.g. `xset r rate 250 30`.
    first_hold_s: float = 0.6
    poll_s: float = 0.05  # the reader thread's wait for input (how quickly close() returns)


class KeyboardHuman(Human):
    """Takeover from the terminal: stdin in cbreak mode, read by a background thread.

    ``feed(key, t)`` is the one entry point for key presses (the reader thread calls it; tests and
    other key sources, e.g. a viewer's key callback, may too); ``act`` reads the held keys against the
    injected ``clock``. ``listen=False`` leaves the terminal alone (tests).
    """

    name = "keyboard"

    def __init__(self, config: KeyboardConfig | None = None, *, stdin: TextIO | None = None,
                 out: TextIO | None = None, clock: Callable[[], float] = time.monotonic, listen: bool = True) -> None:
        self.config = config or KeyboardConfig()
        self.quit_requested = False
        self._clock = clock
        self._lock = threading.Lock()
        self._hold_until: dict[str, float] = {}  # motion key -> held until this time
        self._last_press: dict[str, float] = {}  # any key -> time of its last press (debounces auto-repeat)
        self._toggle = False
        self._mark: str | None = None
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._saved_tty: list | None = None
        if listen:
            self._listen(sys.stdin if stdin is None else stdin, sys.stdout if out is None else out)

    # ------------------------------------------------------------------ terminal
    def _listen(self, stdin: TextIO | None, out: TextIO) -> None:
        try:
            is_tty = stdin is not None and stdin.isatty()
        except (ValueError, OSError):  # closed stream
            is_tty = False
        if not is_tty:
            raise DeviceUnavailable(f"{KEYBOARD_ERROR} (stdin is not a TTY: run it in a terminal, not piped)")
        try:
            import termios
            import tty
        except ImportError as e:  # Windows
            raise DeviceUnavailable(f"{KEYBOARD_ERROR} (a POSIX one: termios is missing)") from e
        self._fd = stdin.fileno()
        self._saved_tty = termios.tcgetattr(self._fd)
        try:
            tty.setcbreak(self._fd)  # keys arrive one by one, unechoed; Ctrl-C still interrupts
            atexit.register(self._restore_terminal)  # a crash that skips close() must not leave the terminal raw
            self._thread = threading.Thread(target=self._read_loop, name="keyboard-human", daemon=True)
            self._thread.start()
            print(KEYBOARD_HELP.format(first=self.config.first_hold_s, hold=self.config.hold_s), file=out, flush=True)
        except BaseException:
            self.close()
            raise

    def _read_loop(self) -> None:
        assert self._fd is not None
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], self.config.poll_s)
                if not ready:
                    continue
                data = os.read(self._fd, 64)
                if not data:
                    raise EOFError("stdin closed")
                now = self._clock()
                for key in decode_keys(data):
                    self.feed(key, now)
        except Exception as e:  # noqa: BLE001 - reported to the training loop by act()
            with self._lock:
                self._error = f"{type(e).__name__}: {e}"
        finally:
            self._restore_terminal()

    def _restore_terminal(self) -> None:
        with self._lock:
            saved, self._saved_tty = self._saved_tty, None
        if saved is not None and self._fd is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)
            except (termios.error, OSError):
                pass  # the terminal is gone: nothing left to restore

    # ------------------------------------------------------------------ key events
    def feed(self, key: str, t: float | None = None) -> None:
        """One key press or auto-repeat at time ``t`` (default: now)."""
        t = self._clock() if t is None else t
        cfg = self.config
        with self._lock:
            last = self._last_press.get(key, -math.inf)
            self._last_press[key] = t
            if key in MOTION_KEYS:
                repeat = self._hold_until.get(key, -math.inf) > t
                until = t + (cfg.hold_s if repeat else cfg.first_hold_s)
                self._hold_until[key] = max(self._hold_until.get(key, -math.inf), until)
                return
            if t - last < cfg.first_hold_s:
                return  # an auto-repeat of a held one-shot key: holding space must not toggle 10x a second
            if key == "space":
                self._toggle = True
            elif key in MARK_KEYS:
                self._mark = MARK_KEYS[key]
            elif key == "q":
                self.quit_requested = True

    def held_keys(self, now: float | None = None) -> list[str]:
        """The motion keys held at ``now`` (default: the clock's now)."""
        now = self._clock() if now is None else now
        with self._lock:
            return sorted(k for k, until in self._hold_until.items() if until > now)

    # ------------------------------------------------------------------ Human
    def reset(self, env: PandaPickPlace, env_steps: int) -> None:
        """Forget presses from the last episode (a late mark must not end the new one); keep the
        press times so a key still held across the reset stays debounced."""
        with self._lock:
            self._hold_until.clear()
            self._toggle = False
            self._mark = None

    def act(self, env: PandaPickPlace, obs: np.ndarray, policy_action: Action) -> Action | None:
        now = self._clock()
        with self._lock:
            if self._error is not None:
                raise DeviceUnavailable(f"the keyboard reader stopped ({self._error})")
            held = [k for k, until in self._hold_until.items() if until > now]
            toggle, self._toggle = self._toggle, False
        if not held and not toggle:
            return None
        gripper = toggled_gripper(env) if toggle else GRIPPER_STAY
        return world_to_tcp(env, keys_to_world(held)), gripper

    def episode_mark(self) -> str | None:
        with self._lock:
            mark, self._mark = self._mark, None
        return mark

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._restore_terminal()
        atexit.unregister(self._restore_terminal)


# ---------------------------------------------------------------------------- polled devices
@dataclass(frozen=True)
class DeviceReading:
    """One poll of a gamepad or SpaceMouse, already in the robot's terms."""

    world: np.ndarray  # base-frame motion, each axis in [-1, 1], zero inside the deadzone
    takeover: bool  # the person drives: out of the deadzone, or the hold-to-take-over button is down
    pressed: frozenset[str] = frozenset()  # event buttons held down: "gripper", MARKS, "quit"


class PolledHuman(Human):
    """A device read by polling (each ``act`` and ``episode_mark``): turns held event buttons into
    one-shot events on their press (rising edge), and motion into TCP-frame actions."""

    def __init__(self, read: Callable[[], DeviceReading], release: Callable[[], None] = lambda: None) -> None:
        self.quit_requested = False
        self._read = read
        self._release = release
        self._down: frozenset[str] = frozenset()
        self._last = DeviceReading(np.zeros(3), False)
        self._toggle = False
        self._mark: str | None = None

    def poll(self) -> DeviceReading:
        reading = self._read()
        for event in reading.pressed - self._down:
            if event == "gripper":
                self._toggle = True
            elif event in MARKS:
                self._mark = event
            elif event == "quit":
                self.quit_requested = True
        self._down = reading.pressed
        self._last = reading
        return reading

    def reset(self, env: PandaPickPlace, env_steps: int) -> None:
        self._toggle = False
        self._mark = None

    def act(self, env: PandaPickPlace, obs: np.ndarray, policy_action: Action) -> Action | None:
        reading = self.poll()
        toggle, self._toggle = self._toggle, False
        if not reading.takeover and not toggle:
            return None
        return world_to_tcp(env, reading.world), toggled_gripper(env) if toggle else GRIPPER_STAY

    def episode_mark(self) -> str | None:
        self.poll()
        mark, self._mark = self._mark, None
        return mark

    def close(self) -> None:
        self._release()


# ---------------------------------------------------------------------------- gamepad
@dataclass
class GamepadConfig:
    """Indices as SDL/pygame report an Xbox-style pad on Linux; other pads: print ``get_axis``/``get_button``."""

    index: int = 0  # which joystick
    deadzone: float = 0.15
    axis_forward: int = 1  # left stick vertical (pushed forward reads -1): base +x
    axis_left: int = 0  # left stick horizontal (pushed left reads -1): base +y
    axis_up: int = 5  # right trigger: up
    axis_down: int = 2  # left trigger: down
    trigger_rest: float = -1.0  # a released trigger's reading (fully pressed reads +1)
    button_takeover: int = 5  # right shoulder: hold to take over (the arm holds still if nothing else moves)
    button_gripper: int = 0  # A: close / open the gripper
    button_success: int = 3  # Y
    button_failure: int = 1  # B
    button_rerecord: int = 2  # X
    button_quit: int = 7  # start


def gamepad_reading(axes: Sequence[float], buttons: Sequence[bool], cfg: GamepadConfig) -> DeviceReading:
    """A pad's raw axes and buttons as a :class:`DeviceReading`."""
    def trigger(i: int) -> float:
        return float(np.clip((axes[i] - cfg.trigger_rest) / (1.0 - cfg.trigger_rest), 0.0, 1.0))

    raw = np.array([-axes[cfg.axis_forward], -axes[cfg.axis_left], trigger(cfg.axis_up) - trigger(cfg.axis_down)])
    world = apply_deadzone(raw, cfg.deadzone)
    events = {"gripper": cfg.button_gripper, "success": cfg.button_success, "failure": cfg.button_failure,
              "rerecord": cfg.button_rerecord, "quit": cfg.button_quit}
    pressed = frozenset(name for name, b in events.items() if buttons[b])
    takeover = bool(np.any(world != 0.0)) or bool(buttons[cfg.button_takeover])
    return DeviceReading(world, takeover, pressed)


def _open_gamepad(cfg: GamepadConfig) -> tuple[Callable[[], DeviceReading], Callable[[], None]]:
    """Open the pad with pygame (imported here: it is an optional dependency)."""
    try:
        import pygame
    except ImportError as e:
        raise DeviceUnavailable(f"{GAMEPAD_ERROR} (pygame is not installed)") from e
    pygame.init()
    pygame.joystick.init()
    count = pygame.joystick.get_count()
    if count <= cfg.index:
        pygame.quit()
        raise DeviceUnavailable(f"{GAMEPAD_ERROR} (pygame sees {count} joystick(s), wanted index {cfg.index})")
    pad = pygame.joystick.Joystick(cfg.index)
    pad.init()
    n_axes, n_buttons = pad.get_numaxes(), pad.get_numbuttons()
    need_axes = max(cfg.axis_forward, cfg.axis_left, cfg.axis_up, cfg.axis_down) + 1
    need_buttons = max(cfg.button_takeover, cfg.button_gripper, cfg.button_success, cfg.button_failure,
                       cfg.button_rerecord, cfg.button_quit) + 1
    if n_axes < need_axes or n_buttons < need_buttons:
        name = pad.get_name()
        pygame.quit()
        raise DeviceUnavailable(f"{GAMEPAD_ERROR} ({name!r} has {n_axes} axes and {n_buttons} buttons; the "
                                f"GamepadConfig mapping needs {need_axes} and {need_buttons})")

    def read() -> DeviceReading:
        pygame.event.pump()
        axes = [pad.get_axis(i) for i in range(n_axes)]
        buttons = [bool(pad.get_button(i)) for i in range(n_buttons)]
        return gamepad_reading(axes, buttons, cfg)

    return read, pygame.quit


class GamepadHuman(PolledHuman):
    """Takeover with a gamepad: left stick = forward/left, triggers = up/down, hold the right shoulder
    to take over holding still (as HIL-SERL's operators do), A = gripper, Y/B/X = success/failure/re-record."""

    name = "gamepad"

    def __init__(self, config: GamepadConfig | None = None, *, read: Callable[[], DeviceReading] | None = None) -> None:
        self.config = config or GamepadConfig()
        if read is None:
            super().__init__(*_open_gamepad(self.config))
        else:
            super().__init__(read)


# ---------------------------------------------------------------------------- SpaceMouse
@dataclass
class SpaceMouseConfig:
    deadzone: float = 0.1
    # base axis <- (puck axis, sign), puck axes as pyspacemouse reports them (x right, y forward, z up):
    # for a person standing behind the robot facing the way it faces. Facing the robot: ((1, -1.0), (0, 1.0), (2, 1.0)).
    axis_map: tuple[tuple[int, float], ...] = ((1, 1.0), (0, -1.0), (2, 1.0))
    button_gripper: int = 0
    button_success: int = 1


def spacemouse_reading(xyz: Sequence[float], buttons: Sequence[bool], cfg: SpaceMouseConfig) -> DeviceReading:
    """A puck's translation and buttons as a :class:`DeviceReading` (its rotation is not read: this task has none)."""
    raw = np.array([sign * xyz[axis] for axis, sign in cfg.axis_map])
    world = apply_deadzone(raw, cfg.deadzone)
    events = {"gripper": cfg.button_gripper, "success": cfg.button_success}
    pressed = frozenset(name for name, b in events.items() if b < len(buttons) and buttons[b])
    return DeviceReading(world, bool(np.any(world != 0.0)), pressed)


def _open_spacemouse(cfg: SpaceMouseConfig) -> tuple[Callable[[], DeviceReading], Callable[[], None]]:
    """Open the SpaceMouse with pyspacemouse (imported here: it is an optional dependency)."""
    try:
        import pyspacemouse
    except (ImportError, OSError) as e:  # OSError: the package is there but the hidapi library is not
        raise DeviceUnavailable(f"{SPACEMOUSE_ERROR} ({type(e).__name__}: {e})") from e
    device = pyspacemouse.open()
    if not device:
        raise DeviceUnavailable(f"{SPACEMOUSE_ERROR} (pyspacemouse found no device; check the hidraw permissions)")
    read_state = device.read if hasattr(device, "read") else pyspacemouse.read
    close = device.close if hasattr(device, "close") else pyspacemouse.close

    def read() -> DeviceReading:
        s = read_state()
        buttons = getattr(s, "buttons", None) or getattr(s, "button", None) or ()
        return spacemouse_reading((s.x, s.y, s.z), [bool(b) for b in buttons], cfg)

    return read, close


class SpaceMouseHuman(PolledHuman):
    """Takeover with a SpaceMouse: push the puck to move (3-D translation), button 0 = gripper,
    button 1 = success."""

    name = "spacemouse"

    def __init__(self, config: SpaceMouseConfig | None = None, *, read: Callable[[], DeviceReading] | None = None) -> None:
        self.config = config or SpaceMouseConfig()
        if read is None:
            super().__init__(*_open_spacemouse(self.config))
        else:
            super().__init__(read)


# ---------------------------------------------------------------------------- factory
def make_human(name: str, seed: int, scripted_config: ScriptedHumanConfig | None = None) -> Human:
    """The human for ``--human NAME``; device errors are :class:`DeviceUnavailable` with a clear message."""
    if name == "scripted":
        return ScriptedHuman(scripted_config, seed=seed)
    if name == "none":
        return Human()
    if name == "keyboard":
        return KeyboardHuman()
    if name == "gamepad":
        return GamepadHuman()
    if name == "spacemouse":
        return SpaceMouseHuman()
    raise ValueError(f"unknown --human {name!r}; known: {', '.join(HUMANS)}")
