"""The Crazyflie on-board controller's generated sources, and the host build's Python handle.

``generate`` writes what firmware/crazyflie/src needs from one exported ONNX policy:

- ``rlctl_policy.c`` / ``.h``: the network as plain C (:func:`~robot_learning.export.c_export.export_c`);
- ``rlctl_policy_meta.h``: the constants the controller takes from the policy's metadata (history
  length, hover action, RPM range, the clipping of position and velocity errors, the training rate),
  after checking that the observation layout is the one the C code builds;
- ``rlctl_policy_meta.c``: the boot self-test's stored pair, one observation and the action ONNX
  Runtime computes for it.

    python -m robot_learning.export.crazyflie_firmware POLICY.onnx OUT_DIR

:class:`HostController` loads the host build (``make -C firmware/crazyflie host``, a shared library)
with ctypes: the real ``controllerOutOfTree`` behind flat float arrays. Torch-free.
"""
from __future__ import annotations

import argparse
import ctypes
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_learning.export.c_export import CExportError, export_c
from robot_learning.runtime.observation import quat_to_rotmat
from robot_learning.runtime.policy import PolicyRunner

POLICY_NAME = "rlctl_policy"
STATE_TERMS = (("position_error", 3), ("rotation_matrix", 9), ("linear_velocity", 3), ("angular_velocity", 3))
SELFTEST_TOLERANCE = 1e-4  # |action - stored action|, per motor: float32 rounding is ~1e-6
CONTROL_FORCE = 2  # control_t.controlMode == controlModeForce


class FirmwareExportError(CExportError):
    """The policy cannot run in the on-board controller; the message names the metadata field."""


@dataclass(frozen=True)
class FirmwarePolicy:
    """What the controller needs to know about the policy, read from its metadata."""

    history: int
    hover_action: float
    rpm_min: float
    rpm_max: float
    max_position_error: float
    max_velocity: float
    training_rate_hz: int


def firmware_policy(runner: PolicyRunner) -> FirmwarePolicy:
    """Check the policy's metadata against what rlctl_core.c builds; one error per mismatch, naming it."""
    meta = runner.metadata
    src = runner.path
    if meta.robot != "crazyflie":
        raise FirmwareExportError(f"{src}: metadata field 'robot' is {meta.robot!r}; the on-board controller flies a crazyflie policy")
    terms = list(meta.observation_layout.terms)
    expected = [name for name, _ in STATE_TERMS] + ["action_history"]
    if [t.name for t in terms] != expected:
        raise FirmwareExportError(f"{src}: metadata field 'observation_layout' has terms {[t.name for t in terms]}; "
                                  f"the on-board controller builds {expected}")
    for t, (name, size) in zip(terms, STATE_TERMS):
        if t.size != size:
            raise FirmwareExportError(f"{src}: observation term '{name}' has size {t.size}, expected {size}")
    for t in terms:
        if t.scale != 1.0 or t.clip is not None:
            raise FirmwareExportError(f"{src}: observation term '{t.name}' has scale {t.scale} and clip {t.clip}; "
                                      "the on-board controller supports scale 1 and no clip")
    if terms[-1].size % 4:
        raise FirmwareExportError(f"{src}: observation term 'action_history' has size {terms[-1].size}, not a multiple of 4 motors")
    act = meta.action
    if act.get("type") != "normalised_rpm" or int(act.get("size", 0)) != 4:
        raise FirmwareExportError(f"{src}: metadata field 'action' is {act.get('type')!r} of size {act.get('size')}; "
                                  "the on-board controller needs 4 normalised RPM commands")
    rate = meta.control_rate_hz
    if rate <= 0 or rate > 500 or abs(1000.0 / rate - round(1000.0 / rate)) > 1e-9:
        raise FirmwareExportError(f"{src}: metadata field 'control_rate_hz' is {rate}; it must divide 1000 Hz and be at most 500 Hz")
    lm = meta.safety_limits
    return FirmwarePolicy(history=terms[-1].size // 4, hover_action=float(act["hover"]), rpm_min=float(act.get("rpm_min", 0.0)),
                          rpm_max=float(act["rpm_max"]), max_position_error=float(lm.get("max_position_error_m", 0.5)),
                          max_velocity=float(lm.get("max_velocity_m_s", 2.0)), training_rate_hz=int(round(rate)))


def selftest_observation(fp: FirmwarePolicy, seed: int = 7) -> np.ndarray:
    """A plausible in-flight observation (every term non-zero, inside the training ranges): the
    stored input of the boot self-test."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    half = math.radians(25.0) / 2
    quat = np.array([math.cos(half), *(math.sin(half) * axis)])
    rot = np.zeros(9)
    quat_to_rotmat(quat, rot)
    history = np.clip(fp.hover_action + 0.15 * rng.normal(size=(fp.history, 4)), -1.0, 1.0)
    obs = np.concatenate([rng.uniform(-0.3, 0.3, 3), rot, rng.uniform(-0.8, 0.8, 3), rng.uniform(-1.5, 1.5, 3), history.reshape(-1)])
    return obs.astype(np.float32)


def random_observations(n: int, history: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` observations spread over (and a little beyond) what the policy meets in flight: position
    errors up to the 0.5 m clip, any attitude, velocities up to the 2 m/s clip, body rates up to
    +-10 rad/s, any action history in [-1, 1]."""
    rng = np.random.default_rng(seed)
    quat = rng.normal(size=(n, 4))
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    rot = np.zeros((n, 9))
    quat_to_rotmat(quat, rot)
    parts = [rng.uniform(-0.5, 0.5, (n, 3)), rot, rng.uniform(-2.0, 2.0, (n, 3)), rng.uniform(-10.0, 10.0, (n, 3)),
             rng.uniform(-1.0, 1.0, (n, 4 * history))]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _cf(value: float) -> str:
    """A C float literal that round-trips float32 ("0" -> "0.0f": C needs a point or exponent before f)."""
    text = f"{float(np.float32(value)):.9g}"
    return text + ("f" if any(c in text for c in ".e") else ".0f")


def _floats(values: np.ndarray) -> str:
    text = [_cf(v) for v in values]
    return ",\n    ".join(", ".join(text[i:i + 6]) for i in range(0, len(text), 6))


def generate(policy: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the controller's generated sources for ``policy`` into ``out_dir``; returns their paths."""
    policy = Path(policy)
    if not policy.is_file():
        raise FileNotFoundError(f"policy file not found: {policy}")
    runner = PolicyRunner(policy)
    fp = firmware_policy(runner)
    out = Path(out_dir)
    h, c = export_c(policy, out, POLICY_NAME)
    obs = selftest_observation(fp)
    action = np.asarray(runner(obs[None]), dtype=np.float32).reshape(-1)
    meta_h = out / "rlctl_policy_meta.h"
    meta_c = out / "rlctl_policy_meta.c"
    meta_h.write_text(
        f"/* Generated by robot_learning.export.crazyflie_firmware from {policy.name}. Do not edit. */\n"
        "#ifndef RLCTL_POLICY_META_H\n#define RLCTL_POLICY_META_H\n\n#include \"rlctl_policy.h\"\n\n"
        f"#define RLCTL_POLICY_FILE \"{policy.name}\"\n"
        f"#define RLCTL_HISTORY {fp.history}                    /* action history entries (x 4 motors) */\n"
        f"#define RLCTL_TRAINING_RATE_HZ {fp.training_rate_hz}         /* the history advances at this rate */\n"
        f"#define RLCTL_HOVER_ACTION {_cf(fp.hover_action)}  /* the history's value at engagement */\n"
        f"#define RLCTL_RPM_MIN {_cf(fp.rpm_min)}\n#define RLCTL_RPM_MAX {_cf(fp.rpm_max)}\n"
        f"#define RLCTL_MAX_POSITION_ERROR {_cf(fp.max_position_error)} /* m, per axis */\n"
        f"#define RLCTL_MAX_VELOCITY {_cf(fp.max_velocity)}       /* m/s, per axis */\n"
        f"#define RLCTL_SELFTEST_TOLERANCE {SELFTEST_TOLERANCE:g}f\n\n"
        "extern const float rlctl_selftest_observation[RLCTL_POLICY_INPUT_DIM];\n"
        "extern const float rlctl_selftest_action[RLCTL_POLICY_OUTPUT_DIM];\n\n#endif\n")
    meta_c.write_text(
        f"/* Generated by robot_learning.export.crazyflie_firmware from {policy.name}. Do not edit.\n"
        " * The boot self-test's pair: an observation and the action ONNX Runtime computed for it. */\n"
        "#include \"rlctl_policy_meta.h\"\n\n"
        f"const float rlctl_selftest_observation[RLCTL_POLICY_INPUT_DIM] = {{\n    {_floats(obs)}\n}};\n\n"
        f"const float rlctl_selftest_action[RLCTL_POLICY_OUTPUT_DIM] = {{\n    {_floats(action)}\n}};\n")
    return [h, c, meta_h, meta_c]


class HostController:
    """The host build of the on-board controller (``librlctl.so``), driven through ctypes.

    :meth:`tick` is one 1 kHz stabiliser tick of the real ``controllerOutOfTree``; the FreeRTOS tick
    is set to ``now_ms`` first. The controller's state is static in C, as on the vehicle: instances of
    one library file share it (dlopen loads a file once per process); :meth:`init` resets it."""

    def __init__(self, library: str | Path) -> None:
        path = Path(library)
        if not path.is_file():
            raise FileNotFoundError(f"host build not found: {path} (make -C firmware/crazyflie host)")
        self.lib = lib = ctypes.CDLL(str(path.resolve()))
        f3 = ctypes.POINTER(ctypes.c_float)
        lib.rlctl_host_tick.argtypes = [f3, f3, f3, f3, f3, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32, f3]
        lib.rlctl_host_tick.restype = ctypes.c_int
        lib.rlctl_host_set_tick.argtypes = [ctypes.c_uint32]
        lib.rlctl_host_evaluate.argtypes = [f3, f3]
        lib.rlctl_host_last_observation.argtypes = [f3]
        lib.rlctl_host_last_observation.restype = ctypes.c_uint32
        lib.rlctl_host_param_get.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)]
        lib.rlctl_host_param_set.argtypes = [ctypes.c_char_p, ctypes.c_double]
        lib.rlctl_host_log_get.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)]
        lib.controllerOutOfTreeTest.restype = ctypes.c_bool
        for name in ("rlctl_host_pid_calls", "rlctl_host_pid_inits"):
            getattr(lib, name).restype = ctypes.c_uint32
        self.obs_size = int(lib.rlctl_host_observation_size())
        self._in = [np.zeros(n, dtype=np.float32) for n in (3, 4, 3, 3, 3)]
        self._forces = np.zeros(4, dtype=np.float32)

    @staticmethod
    def _ptr(a: np.ndarray) -> ctypes._Pointer:
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def init(self) -> None:
        """controllerOutOfTreeInit: reset, run the self-test."""
        self.lib.controllerOutOfTreeInit()

    def test(self) -> bool:
        """controllerOutOfTreeTest: the self-test's verdict (and the stock controller's)."""
        return bool(self.lib.controllerOutOfTreeTest())

    def tick(self, now_ms: int, step: int, position: np.ndarray, quaternion: np.ndarray, velocity: np.ndarray,
             gyro_deg: np.ndarray, setpoint: np.ndarray, setpoint_stamp: int, position_setpoint: bool = True) -> tuple[int, np.ndarray]:
        """One stabiliser tick; returns (control mode, the 4 normalised forces; NaN unless force mode)."""
        self.lib.rlctl_host_set_tick(int(now_ms) & 0xFFFFFFFF)
        for buf, v in zip(self._in, (position, quaternion, velocity, gyro_deg, setpoint)):
            buf[:] = v
        p = self._ptr
        mode = self.lib.rlctl_host_tick(p(self._in[0]), p(self._in[1]), p(self._in[2]), p(self._in[3]), p(self._in[4]),
                                        int(setpoint_stamp) & 0xFFFFFFFF, int(bool(position_setpoint)), int(step) & 0xFFFFFFFF,
                                        p(self._forces))
        return int(mode), self._forces.copy()

    def evaluate(self, observations: np.ndarray) -> np.ndarray:
        """The compiled network alone on a batch of observations (n, obs_size) -> (n, 4)."""
        obs = np.ascontiguousarray(observations, dtype=np.float32).reshape(-1, self.obs_size)
        out = np.zeros((len(obs), 4), dtype=np.float32)
        for i in range(len(obs)):
            self.lib.rlctl_host_evaluate(self._ptr(obs[i]), self._ptr(out[i]))
        return out

    def last_observation(self) -> tuple[np.ndarray, int]:
        out = np.zeros(self.obs_size, dtype=np.float32)
        steps = int(self.lib.rlctl_host_last_observation(self._ptr(out)))
        return out, steps

    def param(self, name: str) -> float:
        v = ctypes.c_double()
        if self.lib.rlctl_host_param_get(name.encode(), ctypes.byref(v)) != 0:
            raise KeyError(f"no parameter {name!r} in the controller")
        return v.value

    def set_param(self, name: str, value: float) -> None:
        rc = self.lib.rlctl_host_param_set(name.encode(), float(value))
        if rc == -1:
            raise KeyError(f"no parameter {name!r} in the controller")
        if rc == -2:
            raise PermissionError(f"parameter {name!r} is read-only")

    def log(self, name: str) -> float:
        v = ctypes.c_double()
        if self.lib.rlctl_host_log_get(name.encode(), ctypes.byref(v)) != 0:
            raise KeyError(f"no log variable {name!r} in the controller")
        return v.value

    @property
    def pid_calls(self) -> int:
        return int(self.lib.rlctl_host_pid_calls())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the Crazyflie on-board controller's policy sources from an ONNX policy.")
    ap.add_argument("policy", type=Path)
    ap.add_argument("out_dir", type=Path)
    a = ap.parse_args(argv)
    try:
        paths = generate(a.policy, a.out_dir)
    except (CExportError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
