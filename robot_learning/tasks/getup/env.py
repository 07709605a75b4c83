"""The getting-up environment: N simulated G1s (MuJoCo, CPU threads), HumanUP's observations,
rewards, terminations and curricula, in numpy.

Observation (actor), per step 74 values as the paper's, with a 10-step history, built by the
runtime's own :class:`~robot_learning.runtime.observation.ObservationBuilder` from the fields the
robot also has (:class:`~robot_learning.runtime.joint_controller.JointObservation` names and
history semantics: oldest first, primed with the first value after a reset): IMU angular velocity
x 0.25, roll and pitch, joint positions minus the default pose, joint velocities x 0.05, the last
action. No linear velocity, no yaw. The critic additionally sees base and head height, base linear
velocity, feet contact, and (tracking) the reference's progress and joint error.

Action: PD targets = default + 0.5 * clip(action, -7, 7), the runtime's ``joint_position_offset``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.tasks.getup.balance import ComBalance
from robot_learning.tasks.getup.config import GetupEnvConfig
from robot_learning.types import ObsLayout, ObsTerm

N_JOINTS = len(G1_SPEC.joint_names)
DEFAULT = np.asarray(G1_SPEC.default_positions, dtype=np.float64)
LOWER = np.asarray(G1_SPEC.position_lower)
UPPER = np.asarray(G1_SPEC.position_upper)
EFFORT = np.asarray(G1_SPEC.effort_limit)
FIELDS = (("base_angular_velocity", 3, 0.25), ("roll_pitch", 2, 1.0), ("joint_position", N_JOINTS, 1.0),
          ("joint_velocity", N_JOINTS, 0.05), ("last_action", N_JOINTS, 1.0))


TIME_TERM = ObsTerm("policy_time", 1, 0.1, 1.0)  # seconds since the policy took over / 10 s, at most 1


def actor_layout(history: int, time_input: bool = False) -> ObsLayout:
    """The paper's 74 values per step; with ``history`` > 1 each field becomes ``<field>_history``.
    ``time_input``: one more value, the time since the policy took over (this project's CPU path:
    it tells a policy that tracks a timed reference where it is, also when lying still)."""
    if history <= 1:
        terms = tuple(ObsTerm(n, s, sc) for n, s, sc in FIELDS)
    else:
        terms = tuple(ObsTerm(n + "_history", s * history, sc) for n, s, sc in FIELDS)
    return ObsLayout(terms + ((TIME_TERM,) if time_input else ()))


def batch_roll_pitch(quat: np.ndarray) -> np.ndarray:
    w, x, y, z = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
    return np.stack([roll, pitch], -1)


def make_qpos(root_pos: np.ndarray, root_quat: np.ndarray, joint_pos: np.ndarray) -> np.ndarray:
    """The G1's qpos: free joint (position, quaternion wxyz) first, then the 23 joints in spec order."""
    return np.concatenate([root_pos, root_quat, joint_pos])


def up_z(quat: np.ndarray) -> np.ndarray:
    """z component of the body z axis in the world (1 upright, -1 upside down)."""
    x, y = quat[:, 1], quat[:, 2]
    return 1.0 - 2.0 * (x * x + y * y)


@dataclass
class EpisodeStats:
    success: np.ndarray
    head_height: np.ndarray
    length: np.ndarray


class GetupEnv:
    """Batched getting-up environment. ``reset()`` then ``step(actions)`` with numpy arrays."""

    def __init__(self, cfg: GetupEnvConfig, batch: Any, starts: dict[str, np.ndarray], references: dict[str, Any] | None = None,
                 terrain_starts: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        """``batch``: a G1Batch; ``starts``: fallen start states per posture ({"supine": qpos (K, nq), ...});
        ``references``: get-up references per posture (tracking stage); ``terrain_starts``: the
        fallen start states made on each non-flat ground of the batch ({"slope": {"supine": ...}}),
        for the environments on it (``batch.terrains``)."""
        self.cfg, self.batch = cfg, batch
        self.n = cfg.num_envs
        self.rng = np.random.default_rng(cfg.seed)
        self.postures = ["supine", "prone"] if cfg.posture == "both" else [cfg.posture]
        self.starts = {p: starts[p] for p in self.postures}
        # each environment's ground ("flat", "slope", "rough") and the fallen poses made on it
        self.ground = ["flat" if t is None else t.kind for t in batch.terrains]
        self.on_flat = np.array([g == "flat" for g in self.ground])
        self.terrain_starts = {"flat": self.starts}
        for g in sorted(set(self.ground) - {"flat"}):
            if not terrain_starts or g not in terrain_starts:
                raise ValueError(f"environments on {g} ground need fallen poses made there (terrain_starts[{g!r}])")
            self.terrain_starts[g] = {p: terrain_starts[g][p] for p in self.postures}
        self.refs = references or {}
        if cfg.stage == "tracking":
            missing = [p for p in self.postures if p not in self.refs]
            if missing:
                raise ValueError(f"tracking needs a reference motion for {missing}")
        self.dt = cfg.physics_dt * cfg.decimation
        self.max_steps = int(round(cfg.episode_s / self.dt))
        self.layout = actor_layout(cfg.history, cfg.time_input)
        self.builder = ObservationBuilder(self.layout)
        self.obs = np.zeros((self.n, self.layout.size), dtype=np.float32)
        self.hist = {n: np.zeros((self.n, cfg.history, s)) for n, s, _ in FIELDS}
        self.last_action = np.zeros((self.n, N_JOINTS))
        self.last_last_action = np.zeros((self.n, N_JOINTS))
        self.last_joint_vel = np.zeros((self.n, N_JOINTS))
        self.steps = np.zeros(self.n, dtype=np.int64)
        self.posture = np.zeros(self.n, dtype=np.int64)  # index into self.postures
        self.ref_t0 = np.zeros(self.n)  # reference time at the episode start (tracking)
        self.last_base_height = np.zeros(self.n)
        self.last_feet_force = np.zeros(self.n)
        self.reg_scale = 1.0 if cfg.stage == "tracking" else 0.8
        self.standing_fraction = cfg.standing_start_fraction[0]
        self.critic_size = sum(s for _, s, _ in FIELDS) + 8 + (N_JOINTS + 2 if cfg.stage == "tracking" else 0)
        self.critic_obs = np.zeros((self.n, self.critic_size), dtype=np.float32)
        self.episode_returns = np.zeros(self.n)
        self.fixed_starts = False  # evaluation: environment i starts from fallen pose i of its posture
        self.balance = ComBalance(batch.model, cfg.balance) if cfg.balance.enabled else None
        # domain randomisation (cfg.dr): per-robot action delay (physics steps) and push period
        self.delay = np.zeros(self.n, dtype=np.int64)
        self.push_every = max(1, int(round(cfg.dr.push_interval_s / self.dt)))
        self.prev_targets = np.tile(DEFAULT, (self.n, 1))

    @property
    def randomizing(self) -> bool:
        """Domain randomisation is on (``cfg.dr.enabled``) and this is not an evaluation."""
        return self.cfg.dr.enabled and not self.fixed_starts

    def _randomize(self, ids: np.ndarray) -> None:
        """New physical parameters and action delay for robots ``ids`` (HumanUP's Stage II ranges);
        evaluation episodes get the nominal robot back."""
        dr, k, u = self.cfg.dr, ids.size, self.rng.uniform
        if not self.randomizing:
            self.batch.randomize(ids)
            self.delay[ids] = 0
            return
        self.batch.randomize(ids, friction=u(*dr.friction, k), mass_delta=u(*dr.base_mass_delta_kg, k),
                             com_offset=u(-dr.com_offset_m, dr.com_offset_m, (k, 3)),
                             motor_strength=u(*dr.motor_strength, (k, N_JOINTS)))
        max_delay = min(int(round(dr.action_delay_s / self.cfg.physics_dt)), self.cfg.decimation)
        self.delay[ids] = self.rng.integers(0, max_delay + 1, k)

    def _push(self) -> None:
        """Every ``push_interval_s`` of each robot's episode: a horizontal velocity kick, uniform in a
        disc of radius ``push_max_speed``."""
        ids = np.flatnonzero((self.steps > 0) & (self.steps % self.push_every == 0))
        if ids.size:
            angle = self.rng.uniform(0.0, 2 * np.pi, ids.size)
            speed = self.cfg.dr.push_max_speed * np.sqrt(self.rng.uniform(0.0, 1.0, ids.size))
            self.batch.push(ids, np.stack([speed * np.cos(angle), speed * np.sin(angle), np.zeros(ids.size)], -1))

    # ------------------------------------------------------------------------------ resets
    def _reference_index(self, ref: Any, t: np.ndarray) -> np.ndarray:
        return np.clip(np.round(t / self.cfg.reference_slowdown * ref.fps).astype(int), 0, len(ref.joint_pos) - 1)

    def _reference_state(self, p: str, t: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(qpos, qvel) of posture ``p``'s reference at time ``t``: the simulated state of a feasible
        reference (with its velocities), or the kinematic pose of a keyframed one (at rest: None)."""
        ref = self.refs[p]
        i = int(self._reference_index(ref, np.array([t]))[0])
        if hasattr(ref, "qvel"):
            return ref.qpos[i].copy(), ref.qvel[i].copy()
        return make_qpos(ref.root_pos[i], ref.root_quat[i], ref.joint_pos[i]), None

    def reset(self, ids: np.ndarray | None = None) -> None:
        ids = np.arange(self.n) if ids is None else np.asarray(ids)
        if ids.size == 0:
            return
        cfg = self.cfg
        if self.fixed_starts:  # evaluation: half supine, half prone, pose i for environment i
            self.posture[ids] = (ids * len(self.postures)) // self.n
        else:
            self.posture[ids] = self.rng.integers(0, len(self.postures), ids.size)
        qpos = np.zeros((ids.size, self.batch.nq))
        qvel = np.zeros((ids.size, self.batch.nv))
        self.ref_t0[ids] = 0.0
        for k, i in enumerate(ids):
            p = self.postures[self.posture[i]]
            # on a slope or rough ground only fallen poses made there (the references and the standing
            # start are flat-ground states)
            u = self.rng.random() if self.on_flat[i] else np.inf
            if cfg.stage == "tracking" and u < cfg.reference_init_fraction:
                ref = self.refs[p]
                t = self.rng.uniform(0.0, ref.duration * cfg.reference_slowdown)
                q, v = self._reference_state(p, t)
                qpos[k] = q
                if v is not None:
                    qvel[k] = v
                self.ref_t0[i] = t
            elif cfg.stage == "discovery" and u < self.standing_fraction:
                qpos[k] = make_qpos(np.array([0.0, 0.0, 0.7914]), np.array([1.0, 0.0, 0.0, 0.0]), DEFAULT)
            else:
                pool = self.terrain_starts[self.ground[i]][p]
                qpos[k] = pool[i % len(pool)] if self.fixed_starts else pool[self.rng.integers(0, len(pool))]
        if cfg.dr.enabled:
            self._randomize(ids)
        self.batch.reset(ids, qpos, qvel)
        self.prev_targets[ids] = self.batch.joint_pos[ids]
        self.steps[ids] = 0
        self.last_action[ids] = 0.0
        self.last_last_action[ids] = 0.0
        self.last_joint_vel[ids] = 0.0
        self.last_base_height[ids] = self.height("base")[ids]
        self.last_feet_force[ids] = self._feet_force()[ids]
        self.episode_returns[ids] = 0.0
        cur = self._fields()
        for name, _, _ in FIELDS:
            self.hist[name][ids] = cur[name][ids][:, None, :]

    # ------------------------------------------------------------------------- observations
    def _fields(self) -> dict[str, np.ndarray]:
        b = self.batch
        quat = b.sensor("imu_quat")
        out = {"base_angular_velocity": b.sensor("imu_gyro"), "roll_pitch": batch_roll_pitch(quat),
               "joint_position": b.joint_pos - DEFAULT, "joint_velocity": b.joint_vel, "last_action": self.last_action}
        if self.randomizing and self.cfg.dr.obs_noise > 0:  # sensor noise, in the observation's (scaled) units
            for name, _, scale in FIELDS[:4]:
                out[name] = out[name] + self.rng.normal(0.0, self.cfg.dr.obs_noise / scale, out[name].shape)
        return out

    def height(self, what: str) -> np.ndarray:
        """(N,) the height of the pelvis ("base"), the head or a foot ("left_foot", "right_foot")
        above the ground under it, in each environment's terrain."""
        pos = self.batch.base_pos if what == "base" else self.batch.sensor(f"{what}_pos")
        if self.on_flat.all():
            return pos[:, 2].copy()
        return self.batch.height_above_ground(pos)

    def _feet_force(self) -> np.ndarray:
        return self.batch.sensor("left_foot_force")[:, 0] + self.batch.sensor("right_foot_force")[:, 0]

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        cur = self._fields()
        H = self.cfg.history
        fields = {}
        for name, _, _ in FIELDS:
            h = self.hist[name]
            if H > 1:
                fields[name + "_history"] = h
            else:
                fields[name] = cur[name]
        # the time input is the reference's time: for an episode started along the reference
        # (reference-state initialisation) it starts where that state is; from a fallen pose at 0,
        # as on the robot, where it counts from the policy's first tick
        fields["policy_time"] = (self.ref_t0 + self.steps * self.dt)[:, None]
        self.builder.build(fields, self.obs)
        b = self.batch
        base_h = self.height("base")[:, None]
        head_h = self.height("head")[:, None]
        feet = np.stack([self.batch.sensor("left_foot_force")[:, 0], self.batch.sensor("right_foot_force")[:, 0]], -1) / 300.0
        single = self._single_frame(cur)
        parts = [single, base_h, head_h, b.base_lin_vel, feet, up_z(b.base_quat)[:, None]]
        if self.cfg.stage == "tracking":
            ref = self._reference_sample()
            parts += [b.joint_pos - ref["joint_pos"], ref["progress"][:, None], (self.steps * self.dt / self.cfg.episode_s)[:, None]]
        self.critic_obs[:] = np.concatenate(parts, -1)
        return self.obs, self.critic_obs

    def _single_frame(self, cur: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([cur[n] * sc for n, _, sc in FIELDS], -1)

    def _reference_sample(self) -> dict[str, np.ndarray]:
        """Each environment's reference at its current time: joints (N, 23), head height, torso
        uprightness (z of the body z axis), progress in [0, 1] and (feasible references) the PD
        targets that the reference applies from this state."""
        out = {"joint_pos": np.zeros((self.n, N_JOINTS)), "head": np.zeros(self.n), "up": np.zeros(self.n), "progress": np.zeros(self.n),
               "targets": np.tile(DEFAULT, (self.n, 1)), "pelvis_z": np.zeros(self.n)}
        t = self.ref_t0 + self.steps * self.dt
        for pi, p in enumerate(self.postures):
            m = self.posture == pi
            if not np.any(m):
                continue
            ref = self.refs[p]
            i = self._reference_index(ref, t[m])
            out["joint_pos"][m] = ref.joint_pos[i]
            out["pelvis_z"][m] = ref.root_pos[i, 2]
            out["head"][m] = ref.head_height[i]
            out["up"][m] = ref.up[i] if hasattr(ref, "up") else up_z(ref.root_quat[i])
            if hasattr(ref, "targets"):
                out["targets"][m] = ref.targets[i]
            out["progress"][m] = i / (len(ref.joint_pos) - 1)
        return out

    def expert_action(self, until_head_m: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """The action that applies the feasible reference's PD targets at each environment's
        reference time (open loop), the teacher for behaviour cloning and the imitation term; and
        where it teaches: (N,) True while the reference's head is below ``until_head_m``."""
        ref = self._reference_sample()
        targets = ref["targets"]
        if self.balance is not None:  # on the feet: keep the COM over them (privileged)
            b = self.batch
            on_feet = ref["pelvis_z"] >= self.balance.cfg.from_pelvis_height_m
            corr = self.balance.correction(b.qpos, b.qvel, ref["joint_pos"])
            targets = targets + on_feet[:, None] * corr
        return self.action_for_targets(targets), ref["head"] < until_head_m

    def action_for_targets(self, targets: np.ndarray) -> np.ndarray:
        """The action whose PD targets are ``targets`` (clipped to the action range)."""
        return np.clip((targets - DEFAULT) / self.cfg.action_scale, -self.cfg.action_clip, self.cfg.action_clip)

    # ------------------------------------------------------------------------------ step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        cfg = self.cfg
        a = np.clip(actions, -cfg.action_clip, cfg.action_clip)
        targets = DEFAULT + cfg.action_scale * a
        if self.randomizing and self.delay.any():  # the first `delay` physics steps still see the previous targets
            sub = np.repeat(targets[:, None], cfg.decimation, 1)
            late = np.arange(cfg.decimation)[None, :] < self.delay[:, None]
            sub[late] = np.repeat(self.prev_targets[:, None], cfg.decimation, 1)[late]
            self.batch.step_substeps(sub)
        else:
            self.batch.step(targets)
        self.prev_targets = targets
        self.steps += 1
        if self.randomizing and cfg.dr.push_max_speed > 0:
            self._push()
        self.last_last_action, self.last_action = self.last_action, a
        cur = self._fields()
        for name, _, _ in FIELDS:  # history: drop the oldest, append the newest
            h = self.hist[name]
            h[:, :-1] = h[:, 1:]
            h[:, -1] = cur[name]
        reward, terminated, parts = (self._rewards_tracking(a) if cfg.stage == "tracking" else self._rewards_discovery(a))
        timeout = self.steps >= self.max_steps
        done = terminated | timeout
        self.episode_returns += reward
        info: dict[str, Any] = {"reward_terms": parts}
        if np.any(done):
            ids = np.flatnonzero(done)
            head = self.height("head")[ids]
            info["episodes"] = EpisodeStats(success=(head >= cfg.success_head_height) & ~terminated[ids], head_height=head,
                                            length=self.steps[ids].copy())
            info["done_ids"] = ids
            info["timeout"] = timeout[ids] & ~terminated[ids]
            self.reset(ids)
        self.last_base_height = self.height("base")
        self.last_feet_force = self._feet_force()
        self.last_joint_vel = self.batch.joint_vel.copy()
        obs, cobs = self.observe()
        return obs, cobs, reward.astype(np.float32), done, info

    # --------------------------------------------------------------------------- rewards
    def _regularisers(self, a: np.ndarray) -> dict[str, np.ndarray]:
        b = self.batch
        tau = b.actuator_force
        q, qd = b.joint_pos, b.joint_vel
        return {
            "torques": np.sum(tau**2, -1),
            "torque_limits": np.sum(np.clip(np.abs(tau) - 0.9 * EFFORT, 0.0, None), -1),
            "dof_pos_limits": np.sum(np.clip(LOWER - q, 0.0, None) + np.clip(q - UPPER, 0.0, None), -1),
            "dof_vel": np.sum(qd**2, -1),
            "action_rate": np.sum((a - self.last_last_action) ** 2, -1),
            "energy": np.sum(np.abs(tau * qd), -1),
            "dof_acc": np.sum(((qd - self.last_joint_vel) / self.dt) ** 2, -1),
            "ang_vel": np.sum(b.base_ang_vel**2, -1),
            "base_lin_vel": np.sum(b.base_lin_vel**2, -1),
        }

    def _rewards_tracking(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        w = self.cfg.rewards2
        b = self.batch
        ref = self._reference_sample()
        ref_q, ref_head = ref["joint_pos"], ref["head"]
        head = self.height("head")
        reg = self._regularisers(a)
        terms = {
            "joint_tracking": w.joint_tracking * np.exp(-np.sum((b.joint_pos - ref_q) ** 2, -1) / w.joint_tracking_sigma),
            "head_height_tracking": w.head_height_tracking * np.exp(-((head - ref_head) ** 2) / w.head_height_sigma),
            "body_up_tracking": w.body_up_tracking * np.exp(-((b.sensor("torso_zaxis")[:, 2] - ref["up"]) ** 2) / 0.1),
            "alive": np.full(self.n, w.alive),
            "torques": self.reg_scale * w.torques * reg["torques"],
            "dof_vel": self.reg_scale * w.dof_vel * reg["dof_vel"],
            "torque_limits": self.reg_scale * w.torque_limits * reg["torque_limits"],
            "dof_pos_limits": self.reg_scale * w.dof_pos_limits * reg["dof_pos_limits"],
            "action_rate": self.reg_scale * w.action_rate * reg["action_rate"],
        }
        terminated = np.abs(head - ref_head) > self.cfg.head_off_reference_m
        terms["termination"] = w.termination * terminated
        total = sum(terms.values())
        return total, terminated, {k: float(np.mean(v)) for k, v in terms.items()}

    def _rewards_discovery(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        w = self.cfg.rewards1
        b = self.batch
        base_h = self.height("base")
        head_h = self.height("head")
        lf, rf = b.sensor("left_foot_pos"), b.sensor("right_foot_pos")
        lf_h, rf_h = self.height("left_foot"), self.height("right_foot")
        lF, rF = b.sensor("left_foot_force")[:, 0], b.sensor("right_foot_force")[:, 0]
        feet_force = lF + rF
        on_feet = (lF > 2.0) & (rF > 2.0) & (lf_h < 0.1) & (rf_h < 0.1)
        feet_dist = np.linalg.norm(lf[:, :2] - rf[:, :2], axis=-1)
        # projected gravity z: -1 upright .. +1 upside down
        pg_z = -b.sensor("torso_zaxis")[:, 2]
        reg = self._regularisers(a)
        left, right, waist = _SYMMETRY
        sym = a[:, left] * _SYMMETRY_SIGN - a[:, right]
        standing = head_h > self.cfg.success_head_height
        terms = {
            "base_height_exp": w.base_height_exp * (np.exp(np.clip(base_h, 0.0, 0.75)) - 1.0),
            "head_height_exp": w.head_height_exp * (np.exp(np.clip(head_h, 0.0, 1.2)) - 1.0),
            "delta_base_height": w.delta_base_height * (base_h > self.last_base_height),
            "feet_contact_forces_increase": w.feet_contact_forces_increase * (feet_force > self.last_feet_force),
            "stand_on_feet": w.stand_on_feet * on_feet,
            "feet_height": w.feet_height * np.exp(-10.0 * 0.5 * (lf_h + rf_h)),
            "feet_distance": w.feet_distance * np.exp(-((feet_dist - 0.25) ** 2) / 0.01),
            "body_up_exp": w.body_up_exp * np.exp(-pg_z),
            "soft_symmetry_body": w.soft_symmetry_body * np.linalg.norm(sym, axis=-1) * ~standing,
            "soft_symmetry_waist": w.soft_symmetry_waist * np.linalg.norm(a[:, waist], axis=-1) * ~standing,
            "dof_pos_limits": self.reg_scale * w.dof_pos_limits * reg["dof_pos_limits"],
            "torque_limits": self.reg_scale * w.torque_limits * reg["torque_limits"],
            "action_rate": self.reg_scale * w.action_rate * reg["action_rate"],
            "ang_vel": self.reg_scale * w.ang_vel * reg["ang_vel"],
            "base_lin_vel": self.reg_scale * w.base_lin_vel * reg["base_lin_vel"],
            "dof_vel": self.reg_scale * w.dof_vel * reg["dof_vel"],
            "energy": self.reg_scale * w.energy * reg["energy"],
            "dof_acc": self.reg_scale * w.dof_acc * reg["dof_acc"],
        }
        # HumanUP terminates Stage I episodes only on time (falling is the start state); a non-finite
        # state (a physics blow-up) ends the episode with the termination penalty.
        terminated = ~np.all(np.isfinite(b.qpos), -1)
        terms["termination"] = w.termination * terminated
        total = np.nan_to_num(sum(terms.values()), nan=0.0, posinf=0.0, neginf=0.0)
        return total, terminated, {k: float(np.nanmean(v)) for k, v in terms.items()}

    # ------------------------------------------------------------------------- curricula
    def update_curricula(self, progress: float, mean_end_height: float) -> None:
        """Anneal the standing-start fraction (0.2 -> 0.1) and move the regularisation scale within
        [0.8, 2]: up when episodes end high (> 0.65 m), down when they end on the ground (< 0.1 m)."""
        lo, hi = self.cfg.standing_start_fraction
        self.standing_fraction = lo + (hi - lo) * min(1.0, max(0.0, progress))
        if mean_end_height > 0.65:
            self.reg_scale = min(2.0, self.reg_scale * 1.05)
        elif mean_end_height < 0.1:
            self.reg_scale = max(0.8, self.reg_scale / 1.05)


def _symmetry_indices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = list(G1_SPEC.joint_names)
    left = [i for i, n in enumerate(names) if n.startswith("left_")]
    right = [names.index("right_" + names[i][len("left_"):]) for i in left]
    waist = [i for i, n in enumerate(names) if n.startswith("waist_")]
    return np.array(left), np.array(right), np.array(waist)


_SYMMETRY = _symmetry_indices()
# mirrored joints: roll and yaw axes flip sign between left and right, pitch does not
_SYMMETRY_SIGN = np.array([-1.0 if ("roll" in G1_SPEC.joint_names[i] or "yaw" in G1_SPEC.joint_names[i]) else 1.0 for i in _SYMMETRY[0]])
