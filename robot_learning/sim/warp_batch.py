"""N Unitree G1 simulations on MuJoCo Warp: the batched-G1 interface on a GPU (``cuda:N``), or on
Warp's CPU device for development and tests.

:class:`G1WarpBatch` is :class:`~robot_learning.sim.mujoco_batch.G1Batch` with the physics on the
device: the same compiled model (:func:`~robot_learning.sim.g1_batch_model.build_batch_model`), the
same sensors and PD actuators, the same reset/step/randomisation semantics and the same numpy views
(``float64``, spec joint order). One Warp ``Data`` holds every environment as a *world*; one Warp
``Model`` holds the physical parameters, with the fields that domain randomisation changes batched
per world (:data:`BATCHED_FIELDS`). :meth:`G1WarpBatch.torch_state` gives the state as torch tensors
that alias the simulator's device memory (``wp.to_torch``), for training on the device without host
copies; the numpy views are host copies made on first access after each step, for the CPU path and
the numpy tasks.

What differs from G1Batch (read this once)
------------------------------------------
- Precision: MuJoCo Warp computes in float32 (MuJoCo's C engine in float64); the numpy views are
  float64 copies of float32 values. ``time`` is counted on the host (steps x ``physics_dt``), so it
  does not drift with float32 sums.
- Warm start: like G1Batch (``mujoco.rollout`` starts every policy step's first solve without the
  previous acceleration), the solver's warm start is cleared at the start of every policy step; the
  substeps inside a step warm-start from the previous substep, as in MuJoCo C.
- Grounds: one Warp model serves the whole batch, and Warp keeps the pose of the world body's geoms
  per world. Environments on different planes (flat, slopes) get their own floor pose; planes mixed
  with a height field (HumanUP's flat, slope and rough) get a model with both floors
  (:func:`two_floor_model`), each world holding the floor it does not use far below. One height field
  per batch (two rough grounds with different parameters are refused, :class:`ConfigError`).
- Capacity: Warp preallocates contacts (``nconmax`` per world, pooled over the worlds) and
  constraint rows (``njmax`` per world). A step that overflows either raises, naming the number to
  raise; the defaults cover the G1 lying, kneeling and standing on these grounds with margin.
- On CUDA the policy step (clear warm start, ``decimation`` physics steps, the per-substep sensor
  record) is captured once in a CUDA graph and replayed. This path has not run here (no GPU).
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

import mujoco
import numpy as np

from robot_learning.core.config import ConfigError
from robot_learning.robots import g1 as g1_desc
from robot_learning.sim.batch import G1StateViews, check_device
from robot_learning.sim.g1_batch_model import (
    SENSORS,
    add_reward_sensors,
    build_batch_model,
    sensor_slices,
    strip_visual,
)
from robot_learning.sim.g1_model import build_g1_spec
from robot_learning.sim.mjspec_pd import ACTUATOR_PREFIX
from robot_learning.sim.mujoco_batch import G1BatchConfig, RandomizationRanges
from robot_learning.sim.terrain import TerrainConfig, apply_terrain

if TYPE_CHECKING:
    import torch

#: Model fields held per world (everything randomisation writes, and what ``set_const`` derives from it).
BATCHED_FIELDS = (
    "geom_friction", "pair_friction", "body_mass", "body_inertia", "body_ipos", "body_subtreemass",
    "body_invweight0", "dof_invweight0", "actuator_acc0", "actuator_gainprm", "actuator_biasprm",
    "dof_damping", "dof_frictionloss",
)
#: Default capacities per world: (nconmax, njmax) for planes and for a height field. Measured with
#: MuJoCo C on the primitive G1 under random targets (lying, kneeling, standing): at most 13 contacts
#: / 68 rows on planes, 34 / 160 on the rough height field (23 rows are joint friction).
CAPACITY_PLANE = (48, 224)
CAPACITY_HFIELD = (96, 448)


def _modules() -> tuple[Any, Any]:
    """(warp, mujoco_warp), imported on first use (mujoco_warp takes seconds to import)."""
    import mujoco_warp as mjw
    import warp as wp

    return wp, mjw


@functools.cache
def _kernels() -> tuple[Any, Any]:
    """The two small kernels of a policy step: a substep's targets into ``ctrl``, and the sensors of a
    substep into the per-substep record."""
    wp, _ = _modules()

    @wp.kernel(module="unique")  # type: ignore[untyped-decorator]
    def ctrl_of_substep(k: int, targets: wp.array3d(dtype=wp.float32), ctrl: wp.array2d(dtype=wp.float32)) -> None:  # type: ignore[valid-type]
        w, j = wp.tid()
        ctrl[w, j] = targets[w, k, j]

    @wp.kernel(module="unique")  # type: ignore[untyped-decorator]
    def record_substep(k: int, src: wp.array2d(dtype=wp.float32), out: wp.array3d(dtype=wp.float32)) -> None:  # type: ignore[valid-type]
        w, j = wp.tid()
        out[w, k, j] = src[w, j]

    return ctrl_of_substep, record_substep


def _capacity_overflows() -> int:
    """Overflow bits that mean dropped contacts or constraints (the solver's iteration limits are not errors)."""
    _, mjw = _modules()
    return int(mjw.OverflowType.ALL & ~mjw.OverflowType.ITERATIONS & ~mjw.OverflowType.LS_ITERATIONS)


#: The plane floor that a batch mixing planes with a height field adds beside the height field, and
#: how far below the ground the floor a world does not use is kept (m).
PLANE_FLOOR = "rl_floor_plane"
FAR_BELOW = 100.0


def two_floor_model(cfg: G1BatchConfig, rough: TerrainConfig) -> mujoco.MjModel:
    """The batch model with two floors: ``floor``, the height field of ``rough``, and
    :data:`PLANE_FLOOR`, a plane with the flat floor's collision properties and a copy of each of the
    floor's explicit contact pairs. Warp cannot change a geom's type per world but keeps the world
    body's geom poses per world, so each world uses one floor and holds the other far below."""
    spec = build_g1_spec(cfg.variant, fix_base=cfg.fix_base, physics_dt=cfg.physics_dt, terrain=None)
    floor = spec.geom("floor")
    plane = spec.worldbody.add_geom(name=PLANE_FLOOR, type=mujoco.mjtGeom.mjGEOM_PLANE, size=list(floor.size))
    for attr in ("contype", "conaffinity", "condim", "friction", "solmix", "solref", "solimp", "margin", "gap", "priority"):
        setattr(plane, attr, getattr(floor, attr))
    for pair in list(spec.pairs):
        if "floor" in (pair.geomname1, pair.geomname2):
            twin = spec.add_pair(name=f"{pair.name}_plane" if pair.name else "",
                                 geomname1=PLANE_FLOOR if pair.geomname1 == "floor" else pair.geomname1,
                                 geomname2=PLANE_FLOOR if pair.geomname2 == "floor" else pair.geomname2)
            for attr in ("condim", "friction", "solref", "solreffriction", "solimp", "margin", "gap"):
                setattr(twin, attr, getattr(pair, attr))
    apply_terrain(spec, rough)
    if cfg.strip_visual:
        strip_visual(spec)
    add_reward_sensors(spec)
    return spec.compile()


def _torch() -> Any:
    import torch

    return torch


class G1WarpBatch(G1StateViews):
    """N G1 environments on MuJoCo Warp; see the module docstring.

    Public attributes as :class:`~robot_learning.sim.mujoco_batch.G1Batch`: ``config``, ``model`` (the
    nominal compiled ``MjModel`` of the first environment's ground), ``nq``, ``nv``, ``nu``, ``dt``,
    ``decimation``, ``floating``, ``desc``, ``terrains``, ``kp``/``kd`` (N x 23, host), ``rng``; plus
    ``device``, ``warp_model`` / ``warp_data`` (the MuJoCo Warp structures), ``nconmax``, ``njmax``.
    """

    def __init__(self, config: G1BatchConfig | None = None, device: str = "cpu", nconmax: int | None = None,
                 njmax: int | None = None) -> None:
        self.config = cfg = config or G1BatchConfig()
        if cfg.num_envs < 1 or cfg.decimation < 1:
            raise ValueError("num_envs and decimation must be >= 1")
        check_device("warp", device)
        torch = _torch()
        self.device = "cuda:0" if device == "cuda" else device
        self._torch_device = torch.device(self.device)
        self.rng = np.random.default_rng(cfg.seed)
        n = self.num_envs = cfg.num_envs

        # grounds: one model; planes may differ per world (floor orientation), height fields may not
        grounds = [g if g is not None and g.kind != "flat" else None for g in (cfg.terrains or (cfg.terrain,))]
        self.terrains: list[TerrainConfig | None] = [grounds[i % len(grounds)] for i in range(n)]
        distinct = list(dict.fromkeys(self.terrains))
        hfields = [g for g in distinct if g is not None and g.kind == "rough"]
        if len(hfields) > 1:
            raise ConfigError(f"the warp backend holds one height field per batch; {len(hfields)} different rough "
                              "grounds were asked (seed, roughness or size differ): use one, or --backend mujoco")
        wp, mjw = _modules()
        compiled = {g: build_batch_model(cfg.variant, cfg.physics_dt, cfg.strip_visual, cfg.fix_base, g) for g in distinct}
        # planes mixed with the height field: one model with both floors, each world keeps one (see below)
        self._two_floors = bool(hfields) and len(distinct) > 1
        self.model = m = two_floor_model(cfg, hfields[0]) if self._two_floors else compiled[self.terrains[0]]
        self._ground_ids = [(g, np.array([i for i, t in enumerate(self.terrains) if t == g])) for g in distinct if g is not None]

        self.floating = not cfg.fix_base
        self._jq0, self._jv0 = (7, 6) if self.floating else (0, 0)
        self.desc = g1_desc.G1_SPEC
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        if self.nu != self.desc.num_joints:
            raise RuntimeError(f"expected {self.desc.num_joints} actuators, the model has {self.nu}")
        act_names = [m.actuator(i).name for i in range(m.nu)]
        if act_names != [f"{ACTUATOR_PREFIX}{j}" for j in self.desc.joint_names]:
            raise RuntimeError("actuators are not in spec joint order")
        self._jq = np.arange(self._jq0, self._jq0 + self.nu)
        self._jv = np.arange(self._jv0, self._jv0 + self.nu)
        self.decimation = cfg.decimation
        self.dt = cfg.decimation * cfg.physics_dt
        self._sensor_sl = sensor_slices(m, self.desc.joint_names)
        self.kp = np.tile(self.desc.array("kp"), (n, 1))
        self.kd = np.tile(self.desc.array("kd"), (n, 1))
        self.effort_limit = self.desc.array("effort_limit")
        self._pelvis = m.body("pelvis").id

        cap = CAPACITY_HFIELD if hfields else CAPACITY_PLANE
        self.nconmax = int(nconmax or cap[0])
        self.njmax = int(njmax or cap[1])
        if self.nconmax < 1 or self.njmax < 1:
            raise ValueError("nconmax and njmax must be >= 1")
        if self.device.startswith("cuda") and wp.get_cuda_device_count() == 0:
            raise ConfigError(f"device {device!r}: Warp finds no CUDA device on this machine; use --device cpu")
        self._wp_device = wp.get_device(self.device)
        fields = BATCHED_FIELDS
        with self._scope():
            self.warp_model = wm = mjw.put_model(m, batch_sizes={f: n for f in fields})
            wm.opt.warn_overflow = 0  # checked after every step instead (one clear error)
            self.warp_data = wd = mjw.make_data(m, nworld=n, nconmax=self.nconmax, njmax=self.njmax)
            self._targets_sub = wp.zeros((n, self.decimation, self.nu), dtype=wp.float32)
            self._sens_sub = wp.zeros((n, self.decimation, m.nsensordata), dtype=wp.float32)
            # derive the per-world constants on the device once, so that randomising back to nominal
            # reproduces the untouched worlds exactly (Warp's float32 values differ from MuJoCo C's in ~1e-6)
            mjw.set_const(wm, wd, groups=mjw.SetConstGroup.FIXED | mjw.SetConstGroup.INERT0)
        t = wp.to_torch
        self._t = {"qpos": t(wd.qpos), "qvel": t(wd.qvel), "ctrl": t(wd.ctrl), "sensordata": t(wd.sensordata),
                   "sensordata_substeps": t(self._sens_sub), "targets_substeps": t(self._targets_sub),
                   "qacc_warmstart": t(wd.qacc_warmstart), "qfrc_applied": t(wd.qfrc_applied),
                   "time": t(wd.time), "overflow": t(wd.overflow)}
        self._field = {f: t(getattr(wm, f)) for f in fields}
        if len(distinct) > 1:
            # Warp places the world body's geoms once per world (Data.geom_xpos/xmat) and never moves
            # them: each world gets its own ground's floor pose there; with two floors, the one a world
            # does not use is parked FAR_BELOW, out of reach of every contact
            poses = {}
            for g, mg in compiled.items():
                dg = mujoco.MjData(mg)
                mujoco.mj_kinematics(mg, dg)
                fl = mg.geom("floor").id
                poses[g] = (dg.geom_xpos[fl].copy(), dg.geom_xmat[fl].reshape(3, 3).copy())
            parked = (np.array([0.0, 0.0, -FAR_BELOW]), np.eye(3))
            xpos, xmat = t(wd.geom_xpos), t(wd.geom_xmat)
            plane_floor = m.geom(PLANE_FLOOR).id if self._two_floors else m.geom("floor").id
            plane_poses = [parked if g in hfields else poses[g] for g in self.terrains]
            xpos[:, plane_floor] = self._dev(np.stack([p[0] for p in plane_poses]))
            xmat[:, plane_floor] = self._dev(np.stack([p[1] for p in plane_poses]))
            if self._two_floors:
                hfield_poses = [poses[g] if g in hfields else parked for g in self.terrains]
                xpos[:, m.geom("floor").id] = self._dev(np.stack([p[0] for p in hfield_poses]))
                xmat[:, m.geom("floor").id] = self._dev(np.stack([p[1] for p in hfield_poses]))
        self._graph: Any = None
        self._use_graph = self.device.startswith("cuda")
        self._closed = False
        self._nsteps = np.zeros(n, dtype=np.int64)
        self._host: dict[str, np.ndarray] = {}
        self.reset(np.arange(n), np.tile(self.default_qpos(), (n, 1)))

    # ------------------------------------------------------------------ life cycle
    @contextlib.contextmanager
    def _scope(self) -> Iterator[None]:
        """Warp calls on this batch's device. On CUDA, Warp runs on its own stream (graphs cannot be
        captured on torch's legacy default stream), ordered after torch's current stream on entry and
        before it on exit by stream waits on the device (no host synchronisation)."""
        wp, _ = _modules()
        with wp.ScopedDevice(self._wp_device):
            if not self.device.startswith("cuda"):
                yield
                return
            torch_stream, warp_stream = wp.stream_from_torch(self._torch_device), wp.get_stream(self._wp_device)
            warp_stream.wait_stream(torch_stream)
            yield
            torch_stream.wait_stream(warp_stream)

    def close(self) -> None:
        """Release the captured graph (the device memory goes with the object)."""
        self._graph = None
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ poses
    def default_qpos(self, joint_pos: np.ndarray | None = None, base_height: float = g1_desc.G1_STAND_BASE_HEIGHT,
                     base_quat: np.ndarray | None = None) -> np.ndarray:
        """A full ``qpos`` (nq,), as :meth:`G1Batch.default_qpos`."""
        q = np.zeros(self.nq)
        if self.floating:
            q[2] = base_height
            q[3:7] = (1.0, 0.0, 0.0, 0.0) if base_quat is None else np.asarray(base_quat, float)
        q[self._jq] = self.desc.array("default_positions") if joint_pos is None else joint_pos
        return q

    # ------------------------------------------------------------------ reset and step
    def _ids(self, env_ids: np.ndarray) -> tuple[np.ndarray, Any]:
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.num_envs):
            raise ValueError(f"env_ids must be in [0, {self.num_envs})")
        return ids, _torch().as_tensor(ids, device=self._torch_device)

    def _dev(self, a: Any) -> Any:
        """A float32 device tensor of ``a`` (numpy or torch)."""
        torch = _torch()
        return torch.as_tensor(a, dtype=torch.float32, device=self._torch_device)

    def reset(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray | None = None) -> None:
        """Put environments ``env_ids`` (k,) at ``qpos`` (k, nq) and ``qvel`` (k, nv; None: at rest), time 0,
        as :meth:`G1Batch.reset`: quaternion normalised, PD targets = the reset joint positions, sensors
        evaluated at the reset state; other environments (and their sensor values) are untouched."""
        self._open()
        ids, tids = self._ids(env_ids)
        qpos = np.array(qpos, dtype=np.float64).reshape(len(ids), self.nq)
        if self.floating:
            qpos[:, 3:7] /= np.linalg.norm(qpos[:, 3:7], axis=1, keepdims=True)
        qvel = np.zeros((len(ids), self.nv)) if qvel is None else np.asarray(qvel, dtype=np.float64).reshape(len(ids), self.nv)
        t = self._t
        t["qpos"][tids] = self._dev(qpos)
        t["qvel"][tids] = self._dev(qvel)
        t["qacc_warmstart"][tids] = 0.0
        t["qfrc_applied"][tids] = 0.0
        t["time"][tids] = 0.0
        t["ctrl"][tids] = self._dev(qpos[:, self._jq])
        t["targets_substeps"][tids] = t["ctrl"][tids].unsqueeze(1)
        self._nsteps[ids] = 0
        # sensors at the reset state: a forward pass over all worlds, the others' sensor values kept
        keep = t["sensordata"].clone()
        _, mjw = _modules()
        with self._scope():
            mjw.forward(self.warp_model, self.warp_data)
        others = np.setdiff1d(np.arange(self.num_envs), ids)
        if len(others):
            ot = _torch().as_tensor(others, device=self._torch_device)
            t["sensordata"][ot] = keep[ot]
        self._host.clear()

    def push(self, env_ids: np.ndarray, velocity: np.ndarray) -> None:
        """Add ``velocity`` (k, 3) m/s (world frame) to the pelvis's linear velocity of ``env_ids``."""
        self._floating("push")
        ids, tids = self._ids(env_ids)
        self._t["qvel"][tids, 0:3] += self._dev(np.asarray(velocity, dtype=np.float64).reshape(len(ids), 3))
        self._host.clear()

    def height_above_ground(self, pos: np.ndarray) -> np.ndarray:
        """(N,) height of world points ``pos`` (N, 3), one per environment, above that environment's ground."""
        pos = np.asarray(pos, dtype=np.float64)
        if pos.shape != (self.num_envs, 3):
            raise ValueError(f"pos must have shape ({self.num_envs}, 3), got {pos.shape}")
        out = pos[:, 2].copy()
        for g, ids in self._ground_ids:
            out[ids] -= g.ground_height(pos[ids, :2])
        return out

    def step(self, targets: Any) -> None:
        """Hold joint position targets (N, 23; numpy, or a torch tensor on the device) for one policy period."""
        shape = tuple(targets.shape) if hasattr(targets, "shape") else np.shape(targets)
        if shape != (self.num_envs, self.nu):
            raise ValueError(f"targets must have shape ({self.num_envs}, {self.nu}), got {shape}")
        tt = self._dev(targets) if not isinstance(targets, np.ndarray) else self._dev(np.asarray(targets, dtype=np.float64))
        self._step(tt.unsqueeze(1).expand(self.num_envs, self.decimation, self.nu))

    def step_substeps(self, targets: Any) -> None:
        """One policy period with a target per physics step: ``targets`` (N, decimation, 23)."""
        shape = tuple(targets.shape) if hasattr(targets, "shape") else np.shape(targets)
        if shape != (self.num_envs, self.decimation, self.nu):
            raise ValueError(f"targets must have shape ({self.num_envs}, {self.decimation}, {self.nu}), got {shape}")
        self._step(self._dev(targets))

    def _step(self, tt: Any) -> None:
        self._open()
        if not bool(_torch().isfinite(tt).all()):
            raise ValueError("targets contain NaN or inf")
        self._t["targets_substeps"].copy_(tt)
        wp, _ = _modules()
        with self._scope():
            if not self._use_graph:
                self._policy_step()
            else:
                if self._graph is None:
                    with wp.ScopedCapture() as capture:
                        self._policy_step()
                    self._graph = capture.graph
                wp.capture_launch(self._graph)
        self._nsteps += self.decimation
        self._host.clear()
        self._check_overflow()

    def _policy_step(self) -> None:
        """Clear the warm start, then ``decimation`` physics steps, recording the sensors of each."""
        wp, mjw = _modules()
        ctrl_of_substep, record_substep = _kernels()
        wm, wd, n = self.warp_model, self.warp_data, self.num_envs
        wd.qacc_warmstart.zero_()
        wd.overflow.zero_()
        for k in range(self.decimation):
            wp.launch(ctrl_of_substep, dim=(n, self.nu), inputs=[k, self._targets_sub], outputs=[wd.ctrl])
            mjw.step(wm, wd)
            wp.launch(record_substep, dim=(n, self.model.nsensordata), inputs=[k, wd.sensordata], outputs=[self._sens_sub])

    def _check_overflow(self) -> None:
        _, mjw = _modules()
        flags = self._t["overflow"] & _capacity_overflows()
        if bool((flags != 0).any()):
            worlds = np.flatnonzero(flags.cpu().numpy())
            bits = int(np.bitwise_or.reduce(flags.cpu().numpy()))
            what = [f.name for f in mjw.OverflowType if f.value and not (f.value & (f.value - 1)) and bits & f.value]
            raise RuntimeError(f"MuJoCo Warp overflow ({', '.join(what)}) in environment(s) {worlds[:8].tolist()}: "
                               f"the step dropped contacts or constraints; rebuild the batch with a larger nconmax "
                               f"(now {self.nconmax}) / njmax (now {self.njmax})")

    def _open(self) -> None:
        if self._closed:
            raise RuntimeError("the batch is closed")

    # ------------------------------------------------------------------ views of the state
    def torch_state(self) -> dict[str, torch.Tensor]:
        """Device tensors of the state, aliasing the simulator's memory (no copy; updated in place by
        every step and reset, clone to keep): ``qpos`` (N, nq), ``qvel`` (N, nv), ``sensordata``
        (N, nsensordata), ``sensordata_substeps`` (N, decimation, nsensordata), ``targets_substeps``
        (N, decimation, 23), ``ctrl`` (N, 23, the PD targets of the last substep), all float32; slice
        sensors with :meth:`sensor_slice`."""
        return {k: self._t[k] for k in ("qpos", "qvel", "sensordata", "sensordata_substeps", "targets_substeps", "ctrl")}

    def sensor_slice(self, name: str) -> slice:
        """Columns of sensor ``name`` in ``sensordata``."""
        try:
            return self._sensor_sl[name]
        except KeyError:
            raise KeyError(f"unknown sensor {name!r}; known: {sorted(SENSORS)}") from None

    def _h(self, key: str) -> np.ndarray:
        """Host float64 copy of a device buffer, made once per step."""
        a = self._host.get(key)
        if a is None:
            a = self._t[key].detach().cpu().numpy().astype(np.float64)
            a.flags.writeable = False
            self._host[key] = a
        return a

    @property
    def time(self) -> np.ndarray:
        """(N,) simulation time (s) since each environment's last reset."""
        out = self._nsteps * self.config.physics_dt
        out.flags.writeable = False
        return out

    @property
    def qpos(self) -> np.ndarray:
        """(N, nq): pelvis position (3), quaternion (4, wxyz), 23 joints (spec order)."""
        return self._h("qpos")

    @property
    def qvel(self) -> np.ndarray:
        """(N, nv): pelvis linear velocity (world), angular velocity (pelvis frame), 23 joints."""
        return self._h("qvel")

    @property
    def targets(self) -> np.ndarray:
        """(N, 23) PD targets of the last physics substep (or the reset joint positions)."""
        return self._h("ctrl")

    @property
    def sensordata(self) -> np.ndarray:
        """(N, nsensordata) all sensors (timing as G1Batch: the last physics substep's)."""
        return self._h("sensordata")

    def sensor(self, name: str) -> np.ndarray:
        """(N, dim) values of sensor ``name``, one of :data:`SENSORS`."""
        return self.sensordata[:, self.sensor_slice(name)]

    def sensor_substeps(self, name: str) -> np.ndarray:
        """(N, decimation, dim) sensor ``name`` at every physics substep of the last step."""
        return self._h("sensordata_substeps")[:, :, self.sensor_slice(name)]

    @property
    def actuator_force(self) -> np.ndarray:
        """(N, 23) applied joint torques (N m) of the last physics substep."""
        return self.sensor("actuator_force")

    # ------------------------------------------------------------------ domain randomisation
    def _write(self, field: str, tids: Any, values: np.ndarray) -> None:
        self._field[field][tids] = self._dev(values)

    def randomize(self, env_ids: np.ndarray, friction: np.ndarray | None = None, mass_delta: np.ndarray | None = None,
                  com_offset: np.ndarray | None = None, motor_strength: np.ndarray | None = None) -> None:
        """Per-environment physical parameters relative to the nominal model, exactly as
        :meth:`G1Batch.randomize` (friction of every geom and pair, pelvis mass with inertia scaled,
        pelvis centre of mass, motor strength scaling kp and kd), written into the batched model
        fields; the derived constants (subtree masses, inverse weights) are recomputed on the device
        (``set_const``). Takes effect at the next step."""
        self._open()
        ids, tids = self._ids(env_ids)
        k, m, p = len(ids), self.model, self._pelvis
        strength = np.ones((k, self.nu))
        if motor_strength is not None:
            strength[:] = np.asarray(motor_strength, dtype=np.float64).reshape(k, -1)
        geom_friction = np.tile(m.geom_friction, (k, 1, 1))
        pair_friction = np.tile(m.pair_friction, (k, 1, 1))
        if friction is not None:
            f = np.asarray(friction, dtype=np.float64).reshape(k)
            geom_friction[:, :, 0] = f[:, None]
            pair_friction[:, :, 0:2] = f[:, None, None]
        mass = np.tile(m.body_mass, (k, 1))
        new_mass = m.body_mass[p] + (0.0 if mass_delta is None else np.asarray(mass_delta, dtype=np.float64).reshape(k))
        new_mass = np.broadcast_to(new_mass, (k,))
        if np.any(new_mass <= 0):
            raise ValueError(f"pelvis mass would be {float(new_mass.min())} kg")
        mass[:, p] = new_mass
        inertia = np.tile(m.body_inertia, (k, 1, 1))
        inertia[:, p] = m.body_inertia[p] * (new_mass / m.body_mass[p])[:, None]
        ipos = np.tile(m.body_ipos, (k, 1, 1))
        if com_offset is not None:
            ipos[:, p] += np.asarray(com_offset, dtype=np.float64).reshape(k, 3)
        for field, values in (("geom_friction", geom_friction), ("pair_friction", pair_friction), ("body_mass", mass),
                              ("body_inertia", inertia), ("body_ipos", ipos)):
            self._write(field, tids, values)
        self._apply_gains(ids, tids, self.desc.array("kp") * strength, self.desc.array("kd") * strength)
        _, mjw = _modules()
        with self._scope():
            mjw.set_const(self.warp_model, self.warp_data, groups=mjw.SetConstGroup.FIXED | mjw.SetConstGroup.INERT0)
        self._host.clear()

    def set_gains(self, env_ids: np.ndarray, kp: np.ndarray, kd: np.ndarray) -> None:
        """PD gains ``kp``, ``kd`` ((23,) or (k, 23)) of environments ``env_ids``; the effort limits stay."""
        self._open()
        ids, tids = self._ids(env_ids)
        kp = np.broadcast_to(np.asarray(kp, dtype=np.float64), (len(ids), self.nu))
        kd = np.broadcast_to(np.asarray(kd, dtype=np.float64), (len(ids), self.nu))
        if np.any(kp <= 0) or np.any(kd < 0):
            raise ValueError("kp must be > 0 and kd >= 0")
        self._apply_gains(ids, tids, kp, kd)

    def _apply_gains(self, ids: np.ndarray, tids: Any, kp: np.ndarray, kd: np.ndarray) -> None:
        """MuJoCo's position actuator per world: gain kp, bias -kp q - kd qd."""
        self.kp[ids], self.kd[ids] = kp, kd
        gain = self._field["actuator_gainprm"]
        bias = self._field["actuator_biasprm"]
        gain[tids, :, 0] = self._dev(kp)
        bias[tids, :, 1] = self._dev(-kp)
        bias[tids, :, 2] = self._dev(-kd)

    def set_joint_friction(self, env_ids: np.ndarray, damping: np.ndarray, frictionloss: np.ndarray) -> None:
        """Viscous damping (N m s/rad) and dry friction (N m) on every actuated joint of ``env_ids``, on
        top of the nominal model's ((k,) or (k, 23) each)."""
        self._open()
        ids, tids = self._ids(env_ids)
        k = len(ids)
        damping = np.broadcast_to(np.asarray(damping, dtype=np.float64).reshape(k, -1), (k, self.nu))
        frictionloss = np.broadcast_to(np.asarray(frictionloss, dtype=np.float64).reshape(k, -1), (k, self.nu))
        if np.any(damping < 0) or np.any(frictionloss < 0):
            raise ValueError("joint damping and friction must be >= 0")
        jv = _torch().as_tensor(self._jv, device=self._torch_device)
        self._field["dof_damping"][tids[:, None], jv[None, :]] = self._dev(self.model.dof_damping[self._jv] + damping)
        self._field["dof_frictionloss"][tids[:, None], jv[None, :]] = self._dev(self.model.dof_frictionloss[self._jv] + frictionloss)

    def sample_randomization(self, env_ids: np.ndarray, ranges: RandomizationRanges | None = None) -> None:
        """:meth:`randomize` ``env_ids`` with values drawn uniformly from ``ranges`` by ``self.rng`` (the
        same draws as G1Batch with the same seed)."""
        r = ranges or RandomizationRanges()
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        k, u = len(ids), self.rng.uniform
        self.randomize(ids, friction=u(*r.friction, size=k), mass_delta=u(*r.mass_delta, size=k),
                       com_offset=u(*r.com_offset, size=(k, 3)), motor_strength=u(*r.motor_strength, size=(k, self.nu)))

