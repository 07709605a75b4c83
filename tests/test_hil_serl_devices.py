"""The HIL-SERL takeover devices: key/axis -> TCP-frame action mapping, hold timeouts, gripper
toggle, episode marks, and the factory's errors. No terminal, pygame or SpaceMouse is needed: the
devices take an injected clock or reader; the terminal path runs on a pseudo-terminal."""
from __future__ import annotations

import io
import os
import sys
import time

import numpy as np
import pytest

from robot_learning.tasks.hil_serl.devices import (
    GAMEPAD_ERROR, HUMANS, KEYBOARD_ERROR, SPACEMOUSE_ERROR, DeviceReading, DeviceUnavailable, GamepadConfig,
    GamepadHuman, KeyboardConfig, KeyboardHuman, SpaceMouseConfig, SpaceMouseHuman, decode_keys, gamepad_reading,
    make_human, spacemouse_reading)
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.human import Human, ScriptedHuman
from robot_learning.tasks.hil_serl.scene import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY

POLICY = (np.zeros(3, dtype=np.float32), GRIPPER_STAY)
OBS = np.zeros(1)


class StubEnv:
    """Just what the devices read: the TCP orientation (the env's held pose) and the gripper state."""

    def __init__(self, gripper_closed: bool = False) -> None:
        self.gripper_closed = gripper_closed

    def tcp_rot(self) -> np.ndarray:
        return np.diag([1.0, -1.0, -1.0])


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def keyboard(**cfg: float) -> tuple[KeyboardHuman, FakeClock]:
    clock = FakeClock()
    return KeyboardHuman(KeyboardConfig(**cfg), clock=clock, listen=False), clock


# ------------------------------------------------------------------ keyboard mapping
@pytest.mark.parametrize("keys, tcp", [
    ("w", [1, 0, 0]), ("s", [-1, 0, 0]),  # forward/back: base +-x = TCP +-x
    ("a", [0, -1, 0]), ("d", [0, 1, 0]),  # left/right: base +-y = TCP -+y
    ("r", [0, 0, -1]), ("f", [0, 0, 1]),  # up/down: base +-z = TCP -+z
    ("wr", [1, 0, -1]), ("ws", [0, 0, 0]),  # two axes at once; opposite keys cancel but still hold the arm
])
def test_held_keys_give_tcp_frame_action_stub_env(keys: str, tcp: list[float]) -> None:
    human, _ = keyboard()
    for k in keys:
        human.feed(k, 0.0)
    arm, gripper = human.act(StubEnv(), OBS, POLICY)
    np.testing.assert_array_equal(arm, tcp)
    assert gripper == GRIPPER_STAY


def test_keyboard_drives_real_env_the_way_the_person_means() -> None:
    env = PandaPickPlace()
    env.reset(seed=0)
    human, clock = keyboard()
    for key, axis, sign in (("r", 2, 1.0), ("a", 1, 1.0)):  # up, then left (base frame)
        start = env.tcp_pos()
        for _ in range(6):
            clock.t += env.dt
            human.feed(key, clock.t)  # auto-repeat
            arm, gripper = human.act(env, OBS, POLICY)
            env.step(arm, gripper)
        moved = env.tcp_pos() - start
        assert sign * moved[axis] > 0.04, (key, moved)
        assert np.abs(np.delete(moved, axis)).max() < 0.015, (key, moved)
        clock.t += 1.0  # let go


def test_key_hold_times_out() -> None:
    human, clock = keyboard(hold_s=0.25, first_hold_s=0.6)
    env = StubEnv()
    human.feed("w", 0.0)
    clock.t = 0.55  # a single press bridges the terminal's repeat delay
    assert human.act(env, OBS, POLICY) is not None
    clock.t = 0.61
    assert human.act(env, OBS, POLICY) is None
    human.feed("w", 1.0)
    human.feed("w", 1.5)  # the first auto-repeat: from now on, held hold_s after each repeat
    clock.t = 1.74
    assert human.act(env, OBS, POLICY) is not None
    clock.t = 1.76
    assert human.act(env, OBS, POLICY) is None
    assert human.held_keys() == []


def test_gripper_toggle_follows_the_real_gripper_state_and_ignores_auto_repeat() -> None:
    human, clock = keyboard()
    human.feed("space", 0.0)
    arm, gripper = human.act(StubEnv(gripper_closed=False), OBS, POLICY)
    np.testing.assert_array_equal(arm, [0, 0, 0])  # the toggle alone is an intervention for that step
    assert gripper == GRIPPER_CLOSE
    assert human.act(StubEnv(), OBS, POLICY) is None  # one toggle per press
    human.feed("space", 0.03)  # auto-repeat of the held space bar
    assert human.act(StubEnv(), OBS, POLICY) is None
    human.feed("space", 2.0)
    human.feed("w", 2.0)
    clock.t = 2.0
    arm, gripper = human.act(StubEnv(gripper_closed=True), OBS, POLICY)
    assert gripper == GRIPPER_OPEN
    np.testing.assert_array_equal(arm, [1, 0, 0])


@pytest.mark.parametrize("key, mark", [("1", "success"), ("0", "failure"), ("x", "rerecord"), ("backspace", "rerecord")])
def test_marks_are_one_shot(key: str, mark: str) -> None:
    human, _ = keyboard()
    assert human.episode_mark() is None
    human.feed(key, 0.0)
    assert human.episode_mark() == mark
    assert human.episode_mark() is None
    assert human.act(StubEnv(), OBS, POLICY) is None  # a mark is not an intervention


def test_reset_drops_a_late_mark_and_held_keys() -> None:
    human, _ = keyboard()
    human.feed("1", 0.0)
    human.feed("w", 0.0)
    human.reset(StubEnv(), env_steps=0)
    assert human.episode_mark() is None
    assert human.act(StubEnv(), OBS, POLICY) is None


def test_quit_key_sets_the_flag() -> None:
    human, _ = keyboard()
    assert not human.quit_requested
    human.feed("q", 0.0)
    assert human.quit_requested


def test_decode_keys_drops_escape_sequences() -> None:
    # "A" alone is the a key (caps lock); ESC [ A is the up arrow and ESC [ 1 ; 5 C ctrl-right: not keys here
    assert decode_keys(b"w \x7fA\x1b[A\x1b[1;5C\x08q") == ["w", "space", "backspace", "a", "backspace", "q"]


def test_keyboard_reads_a_real_terminal_and_restores_it() -> None:
    termios = pytest.importorskip("termios")
    master, slave = os.openpty()
    tty_in = os.fdopen(slave, "r")
    before = termios.tcgetattr(slave)
    out = io.StringIO()
    human = KeyboardHuman(stdin=tty_in, out=out, clock=lambda: 0.0)
    try:
        assert "hold a key" in out.getvalue()
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # cbreak while listening
        os.write(master, b"rq")
        deadline = time.monotonic() + 2.0
        while (human.held_keys(0.0) != ["r"] or not human.quit_requested) and time.monotonic() < deadline:
            time.sleep(0.01)
        arm, _ = human.act(StubEnv(), OBS, POLICY)
        np.testing.assert_array_equal(arm, [0, 0, -1])
        assert human.quit_requested
    finally:
        human.close()
        assert termios.tcgetattr(slave) == before
        tty_in.close()
        os.close(master)


# ------------------------------------------------------------------ gamepad and SpaceMouse mapping
def pad(axes: dict[int, float] | None = None, buttons: tuple[int, ...] = ()) -> DeviceReading:
    raw = [0.0] * 6
    raw[2] = raw[5] = -1.0  # released triggers
    for i, v in (axes or {}).items():
        raw[i] = v
    return gamepad_reading(raw, [i in buttons for i in range(11)], GamepadConfig())


def scripted_reader(readings: list[DeviceReading]):
    it = iter(readings)
    return lambda: next(it)


def test_gamepad_stick_triggers_and_hold_button_stub_env() -> None:
    cfg = GamepadConfig()
    readings = [
        pad({1: -1.0}),  # stick forward
        pad({0: -1.0, 5: 1.0}),  # stick left, right trigger (up)
        pad({1: -0.1, 2: -0.8}),  # inside the deadzones: the policy drives
        pad(buttons=(cfg.button_takeover,)),  # hold to take over: the arm holds still
    ]
    human = GamepadHuman(read=scripted_reader(readings))
    env = StubEnv()
    np.testing.assert_allclose(human.act(env, OBS, POLICY)[0], [1, 0, 0])
    np.testing.assert_allclose(human.act(env, OBS, POLICY)[0], [0, -1, -1])
    assert human.act(env, OBS, POLICY) is None
    arm, gripper = human.act(env, OBS, POLICY)
    np.testing.assert_array_equal(arm, [0, 0, 0])
    assert gripper == GRIPPER_STAY


def test_gamepad_buttons_fire_once_per_press() -> None:
    cfg = GamepadConfig()
    a, y = cfg.button_gripper, cfg.button_success
    human = GamepadHuman(read=scripted_reader([pad(buttons=(a,)), pad(buttons=(a,)), pad(buttons=(y,)), pad(buttons=(y,))]))
    assert human.act(StubEnv(), OBS, POLICY)[1] == GRIPPER_CLOSE
    assert human.act(StubEnv(), OBS, POLICY) is None  # still held: no second toggle
    assert human.episode_mark() == "success"
    assert human.episode_mark() is None


def test_spacemouse_puck_and_buttons_stub_env() -> None:
    cfg = SpaceMouseConfig()
    readings = [
        spacemouse_reading((0.0, 0.8, 0.0), [False, False], cfg),  # pushed forward
        spacemouse_reading((0.05, 0.0, -0.05), [False, False], cfg),  # resting hand: inside the deadzone
        spacemouse_reading((0.0, 0.0, 0.0), [True, False], cfg),  # button 0: gripper
        spacemouse_reading((0.0, 0.0, 0.0), [False, True], cfg),  # button 1: success
    ]
    human = SpaceMouseHuman(read=scripted_reader(readings))
    arm, gripper = human.act(StubEnv(), OBS, POLICY)
    assert arm[0] > 0.7 and np.abs(arm[1:]).max() == 0.0 and gripper == GRIPPER_STAY
    assert human.act(StubEnv(), OBS, POLICY) is None
    assert human.act(StubEnv(gripper_closed=True), OBS, POLICY)[1] == GRIPPER_OPEN
    assert human.episode_mark() == "success"


# ------------------------------------------------------------------ factory
def test_make_human_known_names() -> None:
    assert isinstance(make_human("scripted", seed=0), ScriptedHuman)
    none = make_human("none", seed=0)
    assert type(none) is Human and none.act(StubEnv(), OBS, POLICY) is None


def test_make_human_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError) as e:
        make_human("joystick", seed=0)
    for name in HUMANS:
        assert name in str(e.value)


def test_gamepad_without_pygame_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pygame", None)  # import pygame -> ImportError, installed or not
    with pytest.raises(DeviceUnavailable, match="needs pygame") as e:
        make_human("gamepad", seed=0)
    assert GAMEPAD_ERROR in str(e.value)


def test_spacemouse_without_pyspacemouse_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspacemouse", None)
    with pytest.raises(DeviceUnavailable) as e:
        make_human("spacemouse", seed=0)
    assert SPACEMOUSE_ERROR in str(e.value)


def test_keyboard_without_a_tty_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("w"))
    with pytest.raises(DeviceUnavailable, match="--human keyboard needs an interactive terminal"):
        make_human("keyboard", seed=0)
    with open(os.devnull) as devnull, pytest.raises(DeviceUnavailable) as e:
        KeyboardHuman(stdin=devnull)
    assert KEYBOARD_ERROR in str(e.value)
