"""ASAP stage 2: deploy an exported tracking policy in a target world through the runtime, record
the session, and measure how well it tracked.

The policy runs in the runtime's :class:`~robot_learning.runtime.joint_controller.JointController`
(observation builder, monitors of the ``g1_motion_tracking`` profile, soft start to the default
pose) against the target world over the in-process transport, exactly as on the robot; every tick's
measured joint state and the PD targets actually sent are recorded and written as a runtime session
(MCAP, ``/joint_states`` + ``/joint_command``), which :func:`~robot_learning.tasks.asap.delta.load_recordings`
reads back like a real robot's log.

Metrics (ASAP's, with the pelvis fixed so global and root-relative are the same): mean per-body
position error (MPJPE, mm, from forward kinematics of the recorded and the reference joint angles),
joint-position error (rad), body velocity and acceleration errors (mm/frame, mm/frame^2) and success
(the mean body error never exceeds ``fail_mpjpe_mm``, and the runtime never stopped the policy:
a safety stop ends the episode as a failure, measured up to the stop).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.export.rollout import rollout
from robot_learning.robots.registry import load_robot
from robot_learning.runtime.control import ControlSettings
from robot_learning.runtime.joint_transport import InProcessJointTransport
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.asap.delta import Recording, SessionError, write_mcap
from robot_learning.tasks.asap.target_world import make_target_robot
from robot_learning.types import RobotMode

FAIL_MPJPE_MM = 100.0


class BodyKinematics:
    """World positions of every G1 body for joint angles, with the pelvis fixed (MuJoCo FK)."""

    def __init__(self) -> None:
        from robot_learning.motion.kinematics import GroundKinematics

        self.kin = GroundKinematics("primitive")
        self.bodies = np.arange(2, self.kin.model.nbody)  # all but the world and the pelvis

    def positions(self, joint_pos: np.ndarray) -> np.ndarray:
        """(T, 23) -> (T, bodies, 3) m."""
        out = np.empty((len(joint_pos), len(self.bodies), 3))
        root, quat = np.array([0.0, 0.0, 0.8]), np.array([1.0, 0.0, 0.0, 0.0])
        for i, q in enumerate(joint_pos):
            self.kin.forward(self.kin.qpos(q, root, quat))
            out[i] = self.kin.data.xpos[self.bodies]
        return out


def tracking_metrics(joint_pos: np.ndarray, reference: np.ndarray, kin: BodyKinematics | None = None,
                     fail_mpjpe_mm: float = FAIL_MPJPE_MM) -> dict[str, float]:
    """ASAP's tracking metrics of measured joint angles (T, 23) against the reference (T, 23)."""
    if joint_pos.shape != reference.shape or len(joint_pos) < 3:
        raise ValueError(f"measured {joint_pos.shape} and reference {reference.shape} must match and span 3+ frames")
    kin = kin or BodyKinematics()
    p, r = kin.positions(joint_pos) * 1e3, kin.positions(reference) * 1e3
    per_frame = np.linalg.norm(p - r, axis=-1).mean(-1)
    vel = np.linalg.norm(np.diff(p, axis=0) - np.diff(r, axis=0), axis=-1).mean()
    acc = np.linalg.norm(np.diff(p, 2, axis=0) - np.diff(r, 2, axis=0), axis=-1).mean()
    return {"mpjpe_mm": float(per_frame.mean()), "max_mpjpe_mm": float(per_frame.max()),
            "joint_pos_error_rad": float(np.abs(joint_pos - reference).mean()),
            "vel_error_mm_per_frame": float(vel), "acc_error_mm_per_frame2": float(acc),
            "success": bool(per_frame.max() <= fail_mpjpe_mm)}


SOFT_START_TICKS = 10_000  # the soft start must hand over to the policy within this many ticks


class _Session:
    """The deployment's callbacks for the rollout harness: from the default pose, the soft start,
    then one tick per frame of the routine; every tick records the measured joints (before the tick)
    and the PD targets sent. A safety stop ends the session (measured up to the stop)."""

    def __init__(self, robot: Any, num_frames: int, joint_names: list[str]) -> None:
        self.robot, self.num_frames, self.joint_names = robot, num_frames, joint_names
        self.qs: list[np.ndarray] = []
        self.vs: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.stopped: list[str] | None = None
        self.tracking = False

    def transport(self, robot: Any) -> InProcessJointTransport:
        self.tr = InProcessJointTransport(robot, self.joint_names)
        return self.tr

    def on_reset(self, episode: int) -> None:
        self.robot.reset(pose=np.asarray(G1_SPEC.default_positions, dtype=np.float64))

    def _measure(self) -> None:
        s = self.robot.state()
        self.qs.append(np.array(s["joint_position"]))
        self.vs.append(np.array(s["joint_velocity"]))

    def on_tick(self, episode: int, t: int, c: Any) -> bool:
        if not self.tracking:  # the soft start
            if c.mode == RobotMode.POLICY:
                self.tracking = True
                self._measure()
                return self.num_frames <= 1
            if t + 1 >= SOFT_START_TICKS:
                raise SessionError(f"the soft start did not hand over to the policy (mode {c.mode.name}, faults {dict(c.fault_counts)})")
            return False
        if c.mode != RobotMode.POLICY or c.last_command is None:  # a safety stop: the episode failed
            self.stopped = c.fault_log[-3:]
            self.qs, self.vs = self.qs[:-1], self.vs[:-1]
            self._measure()
            return True
        self.targets.append(_spec_order(c.last_command, self.tr))
        self._measure()
        return len(self.targets) >= self.num_frames - 1

    def on_episode_end(self, episode: int, c: Any) -> dict[str, Any]:
        return {}


def deploy(policy: str | Path, world: Any, record_dir: str | Path | None = None, session: str = "deploy",
           seed: int = 0, kin: BodyKinematics | None = None) -> dict[str, Any]:
    """Run ``policy`` (ONNX, task ``asap_tracking``) once through its routine in target world ``world``
    (a :class:`~robot_learning.tasks.asap.target_world.TargetWorldConfig`); record the session to
    ``record_dir`` (MCAP) if given. Returns the metrics per motion and overall, and the recording."""
    from robot_learning.runtime.profiles import PROFILES
    from robot_learning.tasks.asap.tracking import TASK, load_routine

    runner = PolicyRunner(policy)
    meta = runner.metadata
    if meta.task != TASK:
        raise SessionError(f"{policy} is a '{meta.task}' policy, not an ASAP tracking policy ('{TASK}')")
    if meta.robot_params.get("fix_base", True) is False:
        raise SessionError(f"{policy} is a floating-base tracking policy; closed-loop deployment in the target worlds "
                           "runs the fixed-pelvis G1 only (evaluate it in simulation: the report of `train asap`)")
    if world.engine != "pybullet":
        raise SessionError(f"closed-loop deployment runs in a PyBullet target world; '{world.name}' is {world.engine}")
    if not world.fix_base:
        raise SessionError(f"target world '{world.name}' has a floating base; the shipped tracking policies are for the fixed-pelvis G1")
    routine = load_routine(meta.training["motions"], fps=meta.control_rate_hz)
    robot = make_target_robot(world, seed=seed)
    session_ = _Session(robot, routine.num_frames, list(meta.joint_names))
    settings = ControlSettings(joint=PROFILES["g1_motion_tracking"].controller)
    desc = dataclasses.replace(load_robot("g1"), name=meta.robot)  # the tracking policies name their robot 'g1'
    try:
        run = rollout(runner, robot, 1, SOFT_START_TICKS + routine.num_frames - 1, session_, settings, robot=desc,
                      transport=session_.transport)
    finally:
        robot.close()
    ep = run.episodes[0]
    if not ep.started or len(session_.qs) < 3:  # nothing tracked: the policy never had control
        if not ep.policy_output_nan:
            raise SessionError(f"the runtime stopped the policy at once: {ep.start_error or session_.stopped}")
        return {"target_world": world.name, "policy": str(policy), "per_motion": {}, "overall": {"success": False},
                "completed": False, "tracked_s": 0.0, "safety_stop": [ep.start_error] if ep.start_error else session_.stopped,
                "faults": ep.faults, "policy_output_nan": True, "recording": None}
    qs, vs, targets, stopped = session_.qs, session_.vs, session_.targets, session_.stopped
    rec = Recording(joint_pos=np.stack(qs), joint_vel=np.stack(vs), targets=np.stack(targets), dt=1.0 / meta.control_rate_hz,
                    name=session)
    if rec.num_steps < 2:
        raise SessionError(f"the runtime stopped the policy at once: {stopped}")
    kin = kin or BodyKinematics()
    n = rec.num_steps + 1
    per_motion = {name: tracking_metrics(rec.joint_pos[a:b], routine.joint_pos[a:b], kin)
                  for name, (a, b) in routine.segments.items() if b <= n}
    overall = tracking_metrics(rec.joint_pos, routine.joint_pos[:n], kin)
    if stopped is not None:
        overall["success"] = False
    out: dict[str, Any] = {"target_world": world.name, "policy": str(policy), "per_motion": per_motion, "overall": overall,
                           "completed": stopped is None, "tracked_s": round(rec.num_steps * rec.dt, 2), "safety_stop": stopped,
                           "faults": ep.faults, "policy_output_nan": ep.policy_output_nan}
    if record_dir is not None:
        out["session"] = str(write_mcap(rec, record_dir, session))
    out["recording"] = rec
    return out


def _spec_order(command: Any, transport: Any) -> np.ndarray:
    target = np.empty(G1_SPEC.num_joints)
    target[transport.idx] = command.position
    return target


def _limits() -> Any:
    return load_robot("g1").limits()


def segment(rec: Recording, start: int, end: int, name: str) -> Recording:
    """Frames [start, end) of a recording (``end - start - 1`` steps)."""
    end = min(end, rec.num_steps + 1)
    return Recording(joint_pos=rec.joint_pos[start:end], joint_vel=rec.joint_vel[start:end], targets=rec.targets[start:end - 1],
                     dt=rec.dt, name=name)


def split_by_motion(rec: Recording, segments: dict[str, tuple[int, int]], motions: Sequence[str]) -> list[Recording]:
    """The parts of a routine's recording that belong to ``motions`` and were recorded whole (a
    deployment that the runtime stopped early has only the motions before the stop). A session read
    back from MCAP lacks the outcome of its last command, so the last motion may be one frame short."""
    unknown = [m for m in motions if m not in segments]
    if unknown:
        raise SessionError(f"motions {unknown} are not in the routine ({list(segments)})")
    return [segment(rec, *segments[m], name=f"{rec.name}:{m}") for m in motions if segments[m][1] <= rec.num_steps + 2]
