"""Step the HIL-SERL end-effector policy through a Panda adapter, the runtime's monitors in front.

Every 10 Hz tick is :class:`PandaArmController`'s pipeline: the end-effector runtime's checks
(NaN/inf in any field, a TCP rotation that is no rotation, the staleness watchdog on the arm's
reading, the action clip, the workspace box, the step bound) plus the platform's joint monitors
(:mod:`robot_learning.runtime.monitors`: joint readings outside what is possible -> ESTOP, a joint
faster than its limit -> FALLBACK) and the measured TCP far outside the workspace box -> FALLBACK.
A fault, or a reflex the adapter reports, ends the policy's control: that tick's command is the hold
(the measured TCP, the gripper untouched), the arm is stopped (:meth:`PandaArm.stop`), and the reason
is logged and recorded. Nothing opens the gripper but the policy's command or the start of a
session (announced).

- :func:`evaluate_on_simulated_arm`: the shipped policy's episodes through the adapter on
  :class:`~robot_learning.hardware.panda.sim_arm.SimulatedArm`, figures as the task's evaluator gives them.
- :func:`deploy_panda`: the real arm through :class:`~robot_learning.hardware.panda.franky_arm.FrankyArm`
  (what ``robot-learning deploy --robot panda --franka-host HOST`` runs).

Torch-free.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from robot_learning.core.config import ConfigError
from robot_learning.core.runs import default_run_dir, prepare_run_dir
from robot_learning.hardware.panda.arm import (
    ArmError,
    ArmReflex,
    ArmTransport,
    GraspTrackedObject,
    PandaArm,
    ScenePerception,
)
from robot_learning.robots import panda as panda_desc
from robot_learning.runtime.loop import FixedRateLoop, TimingStats
from robot_learning.runtime.manipulation import (
    EndEffectorCommand,
    EndEffectorController,
    EndEffectorControllerConfig,
    ResetMotion,
)
from robot_learning.runtime.monitors import Monitor, MonitorContext, build_monitors
from robot_learning.runtime.pipeline import ACTIVE
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.types import Fault, JointLimits, RobotState, Severity, Transport

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY = REPO_ROOT / "assets" / "policies" / "panda_pick_place.onnx"


@dataclass
class PandaRunConfig:
    """The runner's settings (the end-effector pipeline's, and the extra monitors').

    Attributes:
        soft_start_s: hold the measured TCP this long before the policy acts.
        stale_timeout_s: the arm's reading may be this old (0: off, a lock-step simulator).
        joint_velocity_factor: FALLBACK when a joint moves faster than this x its limit.
        tcp_box_margin_m: FALLBACK when the measured TCP is further than this outside the workspace box.
    """

    soft_start_s: float = 1.0
    stale_timeout_s: float = 0.3
    joint_velocity_factor: float = 1.0
    tcp_box_margin_m: float = 0.05


class PandaArmController(EndEffectorController):
    """The end-effector runtime with the platform's joint monitors and a box check on the measured TCP."""

    def __init__(self, policy: Any, transport: Transport, cfg: PandaRunConfig | None = None,
                 on_transition: Callable[[str], None] | None = None) -> None:
        self.run_cfg = rc = cfg or PandaRunConfig()
        super().__init__(policy, EndEffectorControllerConfig(robot=panda_desc.NAME, joint_names=panda_desc.PANDA_ARM_JOINTS,
                                                             robot_params={"tcp_offset_m": panda_desc.PANDA_TCP_OFFSET},
                                                             soft_start_s=rc.soft_start_s, stale_timeout_s=rc.stale_timeout_s),
                         transport=transport, on_transition=on_transition)
        s = panda_desc.PANDA_SPEC
        limits = JointLimits(list(s.joint_names), np.asarray(s.position_lower), np.asarray(s.position_upper),
                             np.asarray(s.velocity_limit), np.asarray(s.effort_limit))
        self.monitors: list[Monitor] = build_monitors([{"type": "range"}, {"type": "joint_velocity", "factor": rc.joint_velocity_factor}],
                                                      MonitorContext(limits, self.period_s, task="hil_serl"))

    def check_input(self, state: RobotState | None, now: float) -> list[Fault]:
        faults = super().check_input(state, now)
        if faults or state is None:
            return faults
        for m in self.monitors:
            f = m.check_state(state, now)
            if f is not None:
                self.counts["input_faults"] += 1
                return [f]
        tcp = np.asarray(state["tcp_pos"], dtype=np.float64)
        out = float(np.max(np.maximum(self.lo - tcp, tcp - self.hi)))
        if out > self.run_cfg.tcp_box_margin_m:
            self.counts["input_faults"] += 1
            return [Fault("workspace", Severity.FALLBACK, f"the measured TCP {np.round(tcp, 3).tolist()} is {out * 1e3:.0f} mm outside the box "
                                                          f"{self.lo.tolist()}..{self.hi.tolist()}")]
        return []

    def arm_fault(self, fault: Fault) -> None:
        """A fault the adapter reported outside the checks (a reflex): counted, logged, the state machine moves."""
        self._fault(fault)


class TickRecorder:
    """One JSON line per tick (time, mode, TCP, target, gripper, action, faults) into ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._f = self.path.open("w", encoding="utf-8")
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, default=_jsonable) + "\n")
        self._f.flush()
        self.lines += 1

    def close(self) -> None:
        self._f.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return np.round(v, 5).tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return str(v)


def _reason(ctrl: PandaArmController) -> str:
    if ctrl.last_fault is not None:
        return f"{ctrl.last_fault.severity.name} {ctrl.last_fault.monitor}: {ctrl.last_fault.message}"
    tr = ctrl.sm.transitions
    return tr[-1].reason if tr else ctrl.mode.name


def run_episode(ctrl: PandaArmController, arm: PandaArm, steps: int, done: Callable[[], bool] | None = None,
                recorder: TickRecorder | None = None, log: Callable[[str], None] = lambda s: None,
                timing: TimingStats | None = None) -> dict[str, Any]:
    """Start ``ctrl`` and tick it at the policy's rate (paced when ``arm.realtime``) for at most
    ``steps`` ticks, until ``done()`` or a fault. On a fault the arm is stopped and the reason logged."""
    out: dict[str, Any] = {"steps": 0, "success": False, "stopped": None}
    try:
        ctrl.start()
    except RuntimeError as e:
        out["stopped"] = f"did not start: {e}"
        log(f"[panda] {out['stopped']}")
        arm.stop()
        return out
    loop = FixedRateLoop(1.0 / ctrl.period_s, realtime=arm.realtime)

    def tick(i: int) -> bool:
        command: EndEffectorCommand | None
        try:
            command = ctrl.tick()
        except ArmReflex as e:
            ctrl.arm_fault(Fault("reflex", Severity.FALLBACK if e.recovered else Severity.ESTOP, str(e)))
            command = None
        except ArmError as e:
            ctrl.arm_fault(Fault("arm", Severity.ESTOP, str(e)))
            command = None
        out["steps"] = i + 1
        if recorder is not None:
            st = ctrl.last_state
            recorder.write({"t": None if st is None else st.stamp, "mode": ctrl.mode.name,
                            "tcp": None if st is None else st.values.get("tcp_pos"),
                            "gripper_width": None if st is None else st.values.get("gripper_opening"),
                            "object": None if st is None else st.values.get("object_pos"),
                            "target": None if command is None else command.tcp_target,
                            "gripper": None if command is None else command.gripper,
                            "action": None if command is None else command.action, "held": None if command is None else command.held,
                            "faults": [] if command is None else [f"{f.severity.name} {f.monitor}: {f.message}" for f in command.faults]})
        if ctrl.mode not in ACTIVE:
            out["stopped"] = _reason(ctrl)
            return False
        if done is not None and done():
            out["success"] = True
            return False
        return True

    loop.run(tick, max_ticks=steps, stats=timing)
    if out["stopped"] is not None:
        log(f"[panda] stopped after {out['steps']} ticks: {out['stopped']}")
        arm.stop()
    return out


# ------------------------------------------------------------------------------ simulation
def evaluate_on_simulated_arm(policy: str | Path | Any = DEFAULT_POLICY, sim: str = "mujoco", episodes: int = 20, seed: int = 10_000,
                              config: Any = None) -> dict[str, Any]:
    """The policy's episodes through the adapter interface on the simulated arm: episode ``i`` is scene
    seed ``seed + i`` (the task evaluator's), at most ``config.episode_steps`` ticks or until success."""
    from robot_learning.hardware.panda.sim_arm import SceneTruth, SimulatedArm
    from robot_learning.tasks.hil_serl.scene import PickPlaceConfig

    cfg = config or PickPlaceConfig()
    runner = PolicyRunner(policy) if isinstance(policy, (str, Path)) else policy
    arm = SimulatedArm(sim, cfg)
    arm.connect()
    timing: TimingStats | None = None
    per_episode, faults = [], {}
    t0 = time.perf_counter()
    try:
        for i in range(episodes):
            arm.reset(seed + i)
            ctrl = PandaArmController(runner, ArmTransport(arm, SceneTruth(arm)), PandaRunConfig(soft_start_s=0.0, stale_timeout_s=0.0))
            timing = timing or ctrl.timing
            ctrl.timing = timing
            rec = run_episode(ctrl, arm, cfg.episode_steps, done=arm.success)
            for k, v in ctrl.fault_counts.items():
                faults[k] = faults.get(k, 0) + v
            per_episode.append({"episode": i, "seed": seed + i, **rec})
    finally:
        arm.close()
    wins = [r["steps"] for r in per_episode if r["success"]]
    return {"sim": sim, "episodes": episodes, "seed": seed, "successes": len(wins), "success_rate": len(wins) / episodes,
            "mean_steps_to_success": float(np.mean(wins)) if wins else None, "faults": faults,
            "stops": sum(r["stopped"] is not None for r in per_episode), "wall_s": round(time.perf_counter() - t0, 3),
            "timing": timing.summary() if timing is not None else {"count": 0}, "per_episode": per_episode}


# ------------------------------------------------------------------------------ the real arm
def _position(value: Sequence[float] | None, what: str, flag: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    if value is None:
        raise ConfigError(f"the Panda pick-and-place policy observes the {what}: pass {flag} X Y Z (metres, robot base frame)")
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ConfigError(f"{flag} must be 3 finite numbers (X Y Z in metres), got {list(value)!r}")
    if np.any(a[:2] < lo[:2]) or np.any(a[:2] > hi[:2]):
        raise ConfigError(f"{flag} {a.tolist()} lies outside the policy's workspace box in x, y ({lo[:2].tolist()}..{hi[:2].tolist()})")
    return a


def reset_to(ctrl: PandaArmController, transport: ArmTransport, arm: PandaArm, pose: Sequence[float], log: Callable[[str], None]) -> int:
    """The runtime's policy-free reset motion (bounded steps inside the box, stiffer spring) to ``pose``,
    paced at the policy's rate; returns its ticks. Raises :class:`ArmError` if it does not arrive."""
    motion = ResetMotion(ctrl, pose)
    loop = FixedRateLoop(1.0 / ctrl.period_s, realtime=arm.realtime)
    arrived = {"ticks": 0, "done": False}

    def tick(i: int) -> bool:
        state = arm.read_state()
        try:
            command = motion.step(state.tcp_pos)
        except TimeoutError as e:
            raise ArmError(str(e)) from None
        if command is None:
            arrived["done"] = True
            return False
        if command.held:
            raise ArmError(f"reset motion: {command.faults[0].message if command.faults else 'held'}")
        transport.send_command(command)
        arrived["ticks"] = i + 1
        return True

    loop.run(tick, max_ticks=motion.cfg.max_ticks + 1)
    if not arrived["done"]:
        raise ArmError(f"the reset motion did not reach {np.round(pose, 3).tolist()}")
    log(f"[panda] at the start pose {np.round(pose, 3).tolist()} after {arrived['ticks']} ticks")
    return arrived["ticks"]


def deploy_panda(franka_host: str, seconds: float = 60.0, policy: str | Path = DEFAULT_POLICY, object_xyz: Sequence[float] | None = None,
                 goal_xyz: Sequence[float] | None = None, start_xyz: Sequence[float] | None = None, out: str | Path | None = None,
                 realtime: str = "enforce", soft_start_s: float = 1.0, log: Callable[[str], None] = print,
                 franky: ModuleType | None = None, arm: PandaArm | None = None) -> dict[str, Any]:
    """Run the Panda pick-and-place policy on the real arm at ``franka_host`` for at most ``seconds``.

    Connects (franky; refused in one line if no robot answers), sets the collision thresholds, opens
    the gripper and homes (announced), moves to ``start_xyz`` (default: the task's start pose) with the
    policy-free reset motion, then runs the policy through :class:`PandaArmController` until
    ``seconds`` pass, a fault stops it, or Ctrl-C. The arm is always stopped at the end; the gripper
    is left as it is. Ticks go to ``<out>/ticks.jsonl``, the summary to ``<out>/summary.json``.

    Args:
        object_xyz / goal_xyz: where the cube and the bin's floor centre are (base frame, m): the
            policy observes them and this set-up has no camera (:class:`GraspTrackedObject`).
        realtime: "enforce" (the robot's set-up: a PREEMPT_RT kernel) or "ignore".
        franky / arm: injected for tests (a fake franky module, or another adapter).
    """
    from robot_learning.hardware.panda.franky_arm import franky_arm
    from robot_learning.tasks.hil_serl.scene import PickPlaceConfig

    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"--seconds must be a positive number, got {seconds!r}")
    runner = PolicyRunner(policy) if isinstance(policy, (str, Path)) else policy
    meta = runner.metadata
    lo, hi = np.asarray(meta.safety_limits["workspace_min"], float), np.asarray(meta.safety_limits["workspace_max"], float)
    obj = _position(object_xyz, "cube's position", "--object-xyz", lo, hi)
    goal = _position(goal_xyz, "bin's position", "--goal-xyz", lo, hi)
    start = np.asarray(start_xyz if start_xyz is not None else PickPlaceConfig().start_tcp, dtype=np.float64)
    if start.shape != (3,) or np.any(start < lo) or np.any(start > hi):
        raise ConfigError(f"--start-xyz {start.tolist()} must lie inside the policy's workspace box {lo.tolist()}..{hi.tolist()}")
    cube = float(meta.robot_params.get("cube_half_m", 0.02)) * 2.0
    perception: ScenePerception = GraspTrackedObject(obj, goal, grasp_width=cube)
    robot = arm if arm is not None else franky_arm(franka_host, meta, franky=franky, realtime=realtime)
    run_dir = prepare_run_dir(out if out is not None else default_run_dir("panda-deploy"))
    recorder = TickRecorder(run_dir / "ticks.jsonl")
    transport = ArmTransport(robot, perception)
    summary: dict[str, Any] = {"host": franka_host, "policy": str(policy), "seconds": seconds, "object_xyz": obj.tolist(),
                               "goal_xyz": goal.tolist(), "start_xyz": start.tolist(), "run_dir": str(run_dir)}
    ctrl: PandaArmController | None = None
    t0 = time.monotonic()
    try:
        robot.connect()
        log(f"[panda] connected to {franka_host}; opening the gripper and moving home (hand on the user stop)")
        if hasattr(robot, "home"):
            robot.home()
        if hasattr(robot, "start_tracking"):
            robot.start_tracking()
        ctrl = PandaArmController(runner, transport, PandaRunConfig(soft_start_s=soft_start_s), on_transition=lambda s: log(f"[panda] {s}"))
        summary["reset_ticks"] = reset_to(ctrl, transport, robot, start, log)
        log(f"[panda] policy in control for up to {seconds:g} s (Ctrl-C or the user stop ends it)")
        rec = run_episode(ctrl, robot, round(seconds / ctrl.period_s), recorder=recorder, log=log)
        summary.update(rec)
    except KeyboardInterrupt:
        summary["stopped"] = "operator: Ctrl-C"
        log("[panda] Ctrl-C: stopping the arm")
    except ArmError as e:
        if ctrl is None:  # never connected (or could not start): the caller gets the one-line reason
            raise
        summary["stopped"] = f"arm: {e}"
        log(f"[panda] {e}")
    finally:
        robot.close()
        recorder.close()
    summary["wall_s"] = round(time.monotonic() - t0, 3)
    if ctrl is not None:
        summary["mode"] = ctrl.mode.name
        summary["runtime"] = ctrl.summary()
        summary["fault_log"] = ctrl.fault_log[:50]
    summary["arm_log"] = list(getattr(robot, "log", []))[:50]
    summary["grasp_tracked"] = bool(getattr(perception, "held", False))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=_jsonable))
    return summary
