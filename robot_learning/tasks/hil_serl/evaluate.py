"""Evaluate an exported HIL-SERL actor on held-out scenes, in MuJoCo or in the PyBullet twin.

The policy runs *through the runtime* (:class:`~robot_learning.runtime.manipulation.EndEffectorController`):
the same checks, clipping and bounded references as on the robot, so what is measured here is what
would be deployed. MuJoCo is the training engine; PyBullet (:mod:`robot_learning.tasks.hil_serl.pybullet_env`)
is the sim-to-sim gate: a policy that only works in the engine it was trained in fails there. An
image policy (the wrist and front cameras) sees PyBullet's own rendering of the same cameras there
(:mod:`robot_learning.tasks.hil_serl.pybullet_cameras`), so the gate also tests it against another
renderer; the frame option's single front frame is rendered by MuJoCo only.

Episode ``i`` uses scene seed ``seed + i`` (held out from training's seeds by the default 10 000), and
lasts ``config.episode_steps`` control steps or until ``success()``.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import mujoco
import numpy as np

from robot_learning.export.rollout import rollout
from robot_learning.robots import panda as panda_desc
from robot_learning.runtime.control import ControlSettings, EndEffectorNodeConfig
from robot_learning.runtime.loop import TimingStats
from robot_learning.runtime.manipulation import EndEffectorController, EndEffectorControllerConfig
from robot_learning.runtime.transport import InProcessEndEffectorTransport
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.scene import ARM_JOINTS, CameraConfig, PickPlaceConfig, image_shape, policy_metadata
from robot_learning.types import PolicyMetadata, PolicyMetadataError

SIMS = ("mujoco", "pybullet")
# who draws an image policy's frames: the engine itself, MuJoCo from that engine's state, or MuJoCo one camera only
RENDERERS = ("own", "mujoco", "mujoco:wrist", "mujoco:front")
ObsPolicy = Callable[[np.ndarray], np.ndarray]


@dataclass
class CallablePolicy:
    """A plain ``obs -> action`` function with this task's metadata, for tests and in-process
    evaluation of an actor that has not been exported (the main path is an ONNX file)."""

    fn: ObsPolicy
    metadata: PolicyMetadata

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(obs), dtype=np.float32)


class MuJoCoEyes:
    """MuJoCo's cameras drawing the PyBullet twin's state: PyBullet's physics seen through the renderer the
    policy was trained with. Each :meth:`frames` copies the twin's arm and finger joints, the cube's pose and
    the bin's place into a MuJoCo scene of the same config (no stepping) and renders its cameras. With the
    twin's own cameras the gate measures physics and renderer together; with these, physics alone: the
    difference between the two is the renderer's share of a transfer gap. ``only`` (a camera name) has
    MuJoCo draw that camera alone and the twin's own cameras the others: which camera carries the share."""

    def __init__(self, twin: Any, config: PickPlaceConfig, only: str | None = None) -> None:
        import pybullet as pb

        if only is not None and only not in config.cameras():
            raise ValueError(f"no camera {only!r} in this task (cameras: {sorted(config.cameras())})")
        self._pb, self._twin, self._only = pb, twin, only
        self._own = twin.cameras
        self._mj = PandaPickPlace(config)

    def frames(self) -> dict[str, np.ndarray]:
        pb, tw, mj = self._pb, self._twin, self._mj
        c = tw.client
        q = mj.data.qpos
        q[mj._qadr] = tw.arm_q()
        q[mj._fingers] = [s[0] for s in pb.getJointStates(tw.robot, tw._fingers, physicsClientId=c)]
        pos, (x, y, z, w) = pb.getBasePositionAndOrientation(tw.cube, physicsClientId=c)
        q[mj._cube_q:mj._cube_q + 3] = pos
        q[mj._cube_q + 3:mj._cube_q + 7] = [w, x, y, z]
        mj.data.mocap_pos[mj._bin_mocap] = [tw.goal[0], tw.goal[1], 0.0]
        mj.goal = tw.goal.copy()
        mujoco.mj_forward(mj.model, mj.data)
        frames = mj.camera_frames()
        if self._only is not None:
            own = self._own.frames()
            frames = {k: v if k == f"{self._only}_image" else own[k] for k, v in frames.items()}
        return frames

    def close(self) -> None:
        self._mj.close()


def make_env(sim: str, config: PickPlaceConfig | None = None, renderer: str = "own") -> Any:
    """The task in engine ``sim`` ("mujoco" or "pybullet"); ``renderer="mujoco"`` has MuJoCo draw the
    PyBullet twin's camera frames (:class:`MuJoCoEyes`)."""
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; expected one of {RENDERERS}")
    if sim == "mujoco":
        return PandaPickPlace(config)
    if sim == "pybullet":
        from robot_learning.tasks.hil_serl.pybullet_env import PyBulletPandaPickPlace

        env = PyBulletPandaPickPlace(config)
        if renderer != "own":
            if env.cameras is None:
                env.close()
                raise ValueError(f"renderer {renderer!r} draws camera frames: the task has none (observation must be 'image')")
            env.cameras = MuJoCoEyes(env, env.config, only=renderer.partition(":")[2] or None)
        return env
    raise ValueError(f"unknown sim {sim!r}; expected one of {SIMS}")


def make_controller(policy: str | Path | ObsPolicy, config: PickPlaceConfig) -> EndEffectorController:
    """The runtime controller for ``policy``, checked against this task's robot (joints, TCP offset)."""
    robot_params = {"tcp_offset_m": panda_desc.PANDA_TCP_OFFSET}
    runner: Any = policy if isinstance(policy, (str, Path)) else CallablePolicy(policy, policy_metadata(config))
    ctrl = EndEffectorController(runner, EndEffectorControllerConfig(robot=panda_desc.NAME, joint_names=ARM_JOINTS,
                                                                     robot_params=robot_params))
    rate = ctrl.metadata.control_rate_hz
    if abs(rate - config.control_rate_hz) > 1e-9:
        raise PolicyMetadataError(f"policy metadata field 'control_rate_hz' is {rate} but the task runs at {config.control_rate_hz} Hz")
    return ctrl


class _Scenes:
    """The evaluation's callbacks for the rollout harness: episode ``i`` is scene seed ``seed + i``;
    it ends at success. The controllers' timing goes into one record over all episodes."""

    def __init__(self, env: Any, seed: int, episodes: int, progress: Callable[[int, int, dict[str, Any]], None] | None) -> None:
        self.env, self.seed, self.episodes, self.progress = env, seed, episodes, progress
        self.timing: TimingStats | None = None
        self.counts: Counter[str] = Counter()

    def transport(self, env: Any) -> InProcessEndEffectorTransport:
        self.tr = InProcessEndEffectorTransport(env)
        return self.tr

    def on_reset(self, i: int) -> int:
        self.env.reset(self.seed + i)
        self.info: dict[str, Any] = {"success": False}
        self.steps = 0
        return self.seed + i

    def on_start(self, i: int, ctrl: Any) -> None:
        if self.timing is None:
            self.timing = ctrl.timing
        ctrl.timing = self.timing

    def on_tick(self, i: int, t: int, ctrl: Any) -> bool:
        self.steps, self.info = t + 1, self.tr.last_info
        return bool(self.info["success"])

    def on_episode_end(self, i: int, ctrl: Any) -> dict[str, Any]:
        self.counts.update(ctrl.counts)
        rec = {"episode": i, "seed": self.seed + i, "success": bool(self.info["success"]), "steps": self.steps,
               "object_off_table": bool(self.info.get("object_off_table", False))}
        if self.progress is not None:
            self.progress(i + 1, self.episodes, rec)
        return rec

    def runtime_summary(self, run: Any, max_step_m: float) -> dict[str, Any]:
        """The runtime's counts over all episodes (ticks, holds, clips, faults by monitor) and timing."""
        keys = ("ticks", "policy_ticks", "holds", "input_faults", "policy_faults", "action_clips", "workspace_clips", "step_clips",
                "reset_ticks")
        out: dict[str, Any] = {k: int(self.counts[k]) for k in keys}
        out["faults"] = run.aggregate()["faults"]
        out["max_step_m"] = max_step_m
        out["timing"] = self.timing.summary() if self.timing is not None else {"count": 0}
        return out


def camera_task_config(cfg: PickPlaceConfig, metadata: PolicyMetadata) -> PickPlaceConfig:
    """The task rendering the cameras an image policy was trained with: the frame sizes of its layout's
    image terms and, when its metadata carries them (``robot_params.cameras``), each camera's mount
    (body, pos, target, up) and field of view, so a policy is evaluated, in either engine, with its own
    cameras even after the task's defaults change. A layout whose image terms are not this task's
    cameras, or a camera entry that is not a valid camera, is refused by name."""
    cams = dict(cfg.cameras())
    trained = metadata.robot_params.get("cameras") or {}
    for t in metadata.observation_layout.shaped_terms():
        name = t.name.removesuffix("_image")
        if name not in cams or not t.name.endswith("_image") or t.shape is None or len(t.shape) != 3 or t.shape[2] != 3:
            raise PolicyMetadataError(f"policy metadata field 'observation_layout' term '{t.name}' (shape {list(t.shape or ())}) is not "
                                      f"an RGB frame of this task's cameras ({', '.join(f'{c}_image' for c in cams)})")
        cam = replace(cams[name], height=t.shape[0], width=t.shape[1])
        if name in trained:
            spec = trained[name]
            try:
                cam = CameraConfig(body=spec["body"], pos=tuple(spec["pos"]), target=tuple(spec["target"]), up=tuple(spec["up"]),
                                   fovy_deg=float(spec["fovy_deg"]), width=t.shape[1], height=t.shape[0])
            except (KeyError, TypeError, ValueError) as e:
                raise PolicyMetadataError(f"policy metadata field 'robot_params.cameras.{name}' is not a camera ({type(e).__name__}: {e})") from None
        cams[name] = cam
    return replace(cfg, observation="image", wrist_camera=cams["wrist"], front_camera=cams["front"])


def _percentiles_ms(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    a = np.asarray(seconds) * 1e3
    return {"count": int(a.size), "p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3)}


def evaluate_policy(policy: str | Path | ObsPolicy, sim: str = "mujoco", episodes: int = 50, seed: int = 10_000,
                    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
                    config: PickPlaceConfig | None = None, renderer: str = "own") -> dict[str, Any]:
    """Success rate, steps (and seconds) to success, and the runtime's clip/fault counts and timing.

    Args:
        policy: an exported ONNX file (the main path), or an ``obs -> action`` callable that is given
            this task's metadata.
        sim: "mujoco" or "pybullet".
        episodes: number of episodes; episode ``i`` uses scene seed ``seed + i``.
        progress: called after every episode with (episodes done, episodes, that episode's record).
        config: the task (default :class:`PickPlaceConfig`).
        renderer: who draws an image policy's frames: "own" (the engine's own renderer), "mujoco"
            (MuJoCo draws the PyBullet twin's state: the gate without the renderer's share), or
            "mujoco:<camera>" (MuJoCo draws that camera only, PyBullet the others).
    """
    if sim not in SIMS:
        raise ValueError(f"unknown sim {sim!r}; expected one of {SIMS}")
    cfg = config or PickPlaceConfig()
    ctrl = make_controller(policy, cfg)
    layout = ctrl.metadata.observation_layout
    shape = image_shape(layout)
    frames = layout.shaped_terms()
    if shape is not None or frames:  # an image policy: the scene renders the frames its layout asks for
        if shape is not None and sim != "mujoco":
            raise PolicyMetadataError(f"the policy observes camera frames of the frame option (one {shape[1]} x {shape[2]} front "
                                      f"frame); only the MuJoCo task renders it (the {sim} twin renders the image option's wrist "
                                      "and front cameras): use --sim mujoco")
        cfg = replace(cfg, observation="frame", image_size=shape[1]) if shape is not None else camera_task_config(cfg, ctrl.metadata)
    if renderer != "own" and not frames:
        raise ValueError(f"renderer {renderer!r} draws camera frames: this policy observes none")
    env = make_env(sim, cfg, renderer)
    scenes = _Scenes(env, seed, episodes, progress)
    settings = ControlSettings(end_effector=EndEffectorNodeConfig(soft_start_s=0.0, stale_timeout_s=0.0))
    t_start = time.perf_counter()
    try:
        run = rollout(ctrl.policy, env, episodes, cfg.episode_steps, scenes, settings, transport=scenes.transport)
        dt = float(env.dt)
    finally:
        if isinstance(getattr(env, "cameras", None), MuJoCoEyes):
            env.cameras.close()
        close = getattr(env, "close", None)
        if close is not None:
            close()
    records = [e.metrics if e.metrics is not None else
               {"episode": e.episode, "seed": seed + e.episode, "success": False, "steps": 0, "object_off_table": False,
                "policy_output_nan": e.policy_output_nan, "start_error": e.start_error} for e in run.episodes]
    agg = run.aggregate()
    wins = [r["steps"] for r in records if r["success"]]
    mean_steps = float(np.mean(wins)) if wins else None
    return {
        "sim": sim,
        "policy": str(policy) if isinstance(policy, (str, Path)) else getattr(policy, "__name__", type(policy).__name__),
        "episodes": episodes,
        "seed": seed,
        "successes": len(wins),
        "success_rate": len(wins) / episodes if episodes else float("nan"),
        "mean_steps_to_success": mean_steps,
        "mean_seconds_to_success": None if mean_steps is None else mean_steps * dt,
        "control_dt_s": dt,
        "objects_off_table": sum(r["object_off_table"] for r in records),
        "runtime": scenes.runtime_summary(run, ctrl.max_step_m),
        # the policy's own compute per tick (the ONNX session: encoder and actor), apart from the simulator's step and rendering
        "policy_compute_ms": _percentiles_ms(run.policy_seconds),
        "policy_output_nan": agg["policy_output_nan"],  # episodes in which the policy's action was not finite
        **({"start_failures": agg["start_failures"], "start_error": agg["start_error"]} if agg["start_failures"] else {}),
        "wall_s": round(time.perf_counter() - t_start, 3),
        "per_episode": records,
    }
