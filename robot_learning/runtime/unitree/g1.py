"""The Unitree G1 on its low-level protocol: the policy's joints on the robot's 35 motor slots, the
LowCmd the runtime sends, the RobotState it reads from LowState, and the policy node on them.

Motor slots 0-28 are the 29 joints in Unitree's order (:data:`G1_MOTOR_NAMES`, the names of
``robots/g1.py``); 29-34 are unused. The policy's joints are matched to slots by name; a policy
joint with no motor is refused with its name. Slots that are not the policy's (the wrists of a
23-joint policy) hold their default angle with the reference gains while the runtime is active.

The reference sequence (Unitree's deployment of the G1, see docs/bringup/g1.md) on the runtime's
own state machine (:class:`~robot_learning.runtime.joint_controller.JointController`):

==============  ===========================  ================================================
mode            LowCmd on every motor        left by
==============  ===========================  ================================================
IDLE            mode 1, kp = kd = 0 (zero    remote ``start`` (LowState.tick must be != 0)
                torque), every tick
SOFT_START      a linear move over 2 s to    remote ``A`` once the move has ended
                the start pose with the
                reference gains, then hold
POLICY          the policy's targets/gains   ``select`` or any fault
DAMPING/ESTOP   kp = 0, kd = 8, q = tau = 0  ``start`` again (DAMPING); ESTOP: reset from the console
==============  ===========================  ================================================

``L2 + B`` held together is the runtime's e-stop (latched). ``mode_pr`` is PR (0); ``mode_machine``
is copied from the first LowState; every LowCmd carries its CRC; a LowState whose CRC is wrong is
dropped and counted (the state then goes stale and the stale monitor damps). Torch-free.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

from robot_learning.core.config import merge
from robot_learning.robots.g1 import G1_29DOF_JOINTS
from robot_learning.runtime.joint_controller import JointMappingError
from robot_learning.runtime.node import PolicyNode
from robot_learning.runtime.node_config import NodeConfig
from robot_learning.runtime.ros2 import msgs
from robot_learning.runtime.unitree import hg
from robot_learning.runtime.unitree.remote import ButtonEdges, RemoteState, decode_remote
from robot_learning.types import JointCommand, RobotMode, RobotState

G1_MOTOR_NAMES: tuple[str, ...] = G1_29DOF_JOINTS  # slot i drives G1_MOTOR_NAMES[i]; 29..34 unused
DAMPING_KD = 8.0  # N m s/rad: the reference sequence's damping
SOFT_START_S = 2.0  # the reference sequence's move to the start pose

# the reference sequence's gains, by joint (legs kp 100,100,100,150,40,40 / kd 2,2,2,4,2,2; waist
# 300 / 3; arms kp 100,100,50,50,20,20,20 / kd 2,2,2,2,1,1,1)
_LEG = {"hip_pitch": (100, 2), "hip_roll": (100, 2), "hip_yaw": (100, 2), "knee": (150, 4), "ankle_pitch": (40, 2), "ankle_roll": (40, 2)}
_ARM = {"shoulder_pitch": (100, 2), "shoulder_roll": (100, 2), "shoulder_yaw": (50, 2), "elbow": (50, 2), "wrist_roll": (20, 1),
        "wrist_pitch": (20, 1), "wrist_yaw": (20, 1)}
REFERENCE_GAINS: dict[str, tuple[float, float]] = {
    **{f"{side}_{j}_joint": (float(kp), float(kd)) for side in ("left", "right") for j, (kp, kd) in _LEG.items()},
    **{f"waist_{j}_joint": (300.0, 3.0) for j in ("yaw", "roll", "pitch")},
    **{f"{side}_{j}_joint": (float(kp), float(kd)) for side in ("left", "right") for j, (kp, kd) in _ARM.items()},
}


class UnitreeError(RuntimeError):
    """The robot did not answer, or answered what the runtime cannot use (one line for the operator)."""


def motor_slots(joint_names: Sequence[str]) -> np.ndarray:
    """The motor slot of every policy joint, by name; a joint with no motor is a clear error."""
    index = {n: i for i, n in enumerate(G1_MOTOR_NAMES)}
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise JointMappingError(f"policy joint(s) {missing} have no motor on the G1's low-level protocol "
                                f"(slots 0-28 are {', '.join(G1_MOTOR_NAMES)})")
    return np.array([index[n] for n in joint_names], dtype=np.intp)


def unitree_node_config(cfg: NodeConfig) -> NodeConfig:
    """A G1 profile made to follow the reference sequence: 2 s move with the reference gains, hold until
    ``A``, damping kd 8. The start pose (``soft_start_target``) and the monitors stay the profile's
    (getting up holds the measured lying pose; motion tracking moves to the default pose)."""
    return merge(cfg, {"controller": {"soft_start_s": SOFT_START_S, "damping_kd": DAMPING_KD, "hold_until_go": True, "terminal_action": "damping",
                                      "soft_start_kp": {n: g[0] for n, g in REFERENCE_GAINS.items()},
                                      "soft_start_kd": {n: g[1] for n, g in REFERENCE_GAINS.items()}}})


# -------------------------------------------------------------------------------- commands
class LowCmdBuilder:
    """JointCommands (policy order) -> LowCmd_ for all 35 slots, CRC filled in."""

    def __init__(self, joint_names: Sequence[str], default_pose: dict[str, float] | None = None, damping_kd: float = DAMPING_KD) -> None:
        self.names = list(joint_names)
        self.slots = motor_slots(self.names)
        self.damping_kd = damping_kd
        others = [i for i in range(len(G1_MOTOR_NAMES)) if i not in set(self.slots.tolist())]
        pose = default_pose or {}
        self.hold = [(i, float(pose.get(G1_MOTOR_NAMES[i], 0.0)), *REFERENCE_GAINS[G1_MOTOR_NAMES[i]]) for i in others]
        self.mode_machine: int | None = None

    def _msg(self) -> hg.LowCmd_:
        if self.mode_machine is None:
            raise UnitreeError("no LowState yet: mode_machine is unknown, nothing may be sent")
        msg = hg.LowCmd_(mode_pr=hg.MODE_PR, mode_machine=self.mode_machine)
        for m in msg.motor_cmd:  # all 35 slots enabled, as the reference does; unused ones get zero gains
            m.mode = 1
        return msg

    def zero_torque(self) -> hg.LowCmd_:
        """Every motor enabled with kp = kd = 0 (IDLE: the robot hangs limp)."""
        return hg.seal(self._msg())

    def damping(self) -> hg.LowCmd_:
        """kp = 0, kd = damping on every joint motor, q = dq = tau = 0."""
        msg = self._msg()
        for i in range(len(G1_MOTOR_NAMES)):
            msg.motor_cmd[i].kd = self.damping_kd
        return hg.seal(msg)

    def command(self, c: JointCommand) -> hg.LowCmd_:
        """The policy's joints from ``c`` (by name, in the order the builder was made with); the others
        hold their default angle with the reference gains."""
        if list(c.names) != self.names:
            raise JointMappingError(f"command joints {list(c.names)} are not the policy's {self.names}")
        msg = self._msg()
        m = msg.motor_cmd
        vel = c.velocity if c.velocity is not None else np.zeros(len(self.names))
        eff = c.effort if c.effort is not None else np.zeros(len(self.names))
        for k, i in enumerate(self.slots):
            mc = m[i]
            mc.q, mc.dq, mc.tau, mc.kp, mc.kd = float(c.position[k]), float(vel[k]), float(eff[k]), float(c.kp[k]), float(c.kd[k])
        for i, q, kp, kd in self.hold:
            m[i].q, m[i].kp, m[i].kd = q, kp, kd
        return hg.seal(msg)


# --------------------------------------------------------------------------------- state
class LowStateView:
    """The newest LowState with a good CRC, as a :class:`RobotState` in the policy's joint order.

    Callbacks (the DDS thread) store; the control thread reads. A LowState whose CRC is wrong is
    counted in ``received['crc_errors']`` and dropped, so the state ages and the stale monitor acts.
    The remote's button presses are kept as edges between reads (:class:`ButtonEdges`).
    """

    def __init__(self, joint_names: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.joint_names = list(joint_names)
        self.slots = motor_slots(self.joint_names)
        self.clock = clock
        self._lock = threading.Lock()
        self._msg: hg.LowState_ | None = None
        self._t: float | None = None
        self.received = {"lowstate": 0, "crc_errors": 0}
        self.mapping_error: str | None = None
        self.mode_machine: int | None = None
        self.robot_tick = 0
        self.remote = RemoteState()
        self.edges = ButtonEdges()
        self.on_first: Callable[[hg.LowState_], None] | None = None

    def on_lowstate(self, msg: hg.LowState_) -> None:
        t = self.clock()
        if not hg.crc_ok(msg):
            with self._lock:
                self.received["crc_errors"] += 1
            return
        remote = decode_remote(msg.wireless_remote)
        with self._lock:
            first = self._msg is None
            self._msg, self._t = msg, t
            self.received["lowstate"] += 1
            self.robot_tick = int(msg.tick)
            self.remote = remote
            self.edges.update(remote)
            if first:
                self.mode_machine = int(msg.mode_machine)
        if first and self.on_first is not None:
            self.on_first(msg)

    def latest(self) -> tuple[hg.LowState_ | None, float | None]:
        with self._lock:
            return self._msg, self._t

    def read(self, use_imu: bool = True) -> RobotState | None:
        msg, t = self.latest()
        if msg is None or t is None:
            return None
        ms = msg.motor_state
        q = np.array([ms[i].q for i in self.slots], dtype=np.float64)
        dq = np.array([ms[i].dq for i in self.slots], dtype=np.float64)
        values = {"joint_position": q, "joint_velocity": dq, "joint_effort": np.array([ms[i].tau_est for i in self.slots], dtype=np.float64)}
        stamps = {"joint_states": t}
        if use_imu:
            imu = msg.imu_state
            values["imu_orientation"] = np.array(imu.quaternion, dtype=np.float64)
            values["imu_angular_velocity"] = np.array(imu.gyroscope, dtype=np.float64)
            values["imu_linear_acceleration"] = np.array(imu.accelerometer, dtype=np.float64)
            stamps["imu"] = t
        return RobotState(t, values, stamps)


# ---------------------------------------------------------------------------------- node
LOWCMD_QOS = ("reliable", "volatile", 1)  # matches the robot's reader whatever its reliability
LOWSTATE_QOS = ("best_effort", "volatile", 1)  # matches the robot's writer whatever its reliability


class UnitreeG1Node(PolicyNode):
    """The policy node on the G1's low-level topics (``rt/lowcmd``, ``rt/lowstate``) instead of the
    generic ROS 2 joint topics; diagnostics and the ``~/start|stop|estop|reset|go`` services stay ROS 2
    (``backend`` must be the Cyclone DDS one). The remote drives the reference sequence (module docstring).

    Recording (``record_dir``) writes what the generic node writes, in the policy's joint names
    (``joint_states``, ``imu``, ``joint_command``, ``joint_gains`` at the control rate, and
    ``diagnostics``), so ASAP's MCAP loader (``recording_from_mcap``) reads a G1 session unchanged.
    """

    def __init__(self, cfg: NodeConfig, backend: Any, log: Callable[[str], None] = print, robot: Any = None) -> None:
        self.lowcmd_sent = 0
        self._last_record = -math.inf
        super().__init__(cfg, backend, log, robot)
        if self.kind != "joint":
            raise UnitreeError(f"the Unitree low-level protocol drives joint policies; this policy's action is '{self.action_kind}'")

    # ----------------------------------------------------------------- the topics
    def _make_ros_interfaces(self) -> None:
        from robot_learning.runtime.ros2.dds import QosProfile

        names = list(self.runner.metadata.joint_names)
        self.state = LowStateView(names)  # replaces the generic topic state; the controller's transport reads it
        meta = self.runner.metadata
        default = dict(zip(names, meta.default_joint_positions or []))
        try:
            spec_default = dict(zip(self.robot.spec.joint_names, self.robot.spec.array("default_positions")))
        except Exception:  # noqa: BLE001 - a description without a spec: the policy's defaults and 0
            spec_default = {}
        self.lowcmd = LowCmdBuilder(names, {**spec_default, **default}, damping_kd=self.cfg.controller.damping_kd)
        node = getattr(self.backend, "node", None)
        if node is None:
            raise UnitreeError("the Unitree low-level protocol needs the Cyclone DDS backend (DdsBackend)")
        self.pub_lowcmd = node.create_publisher(hg.LowCmd_, "/lowcmd", QosProfile(*LOWCMD_QOS))
        self.state.on_first = self._on_first_lowstate
        node.create_subscription(hg.LowState_, "/lowstate", self._on_lowstate, QosProfile(*LOWSTATE_QOS))
        self.pub_diag = self.backend.create_publisher(msgs.DiagnosticArray, self.cfg.topics.diagnostics, "reliable")
        for name in ("start", "stop", "estop", "reset", "go"):
            self.backend.create_trigger_service(f"~/{name}", self._service_handler(name))

    def _on_first_lowstate(self, msg: hg.LowState_) -> None:
        self.lowcmd.mode_machine = int(msg.mode_machine)
        self._transition_texts.put(f"first LowState: mode_machine {msg.mode_machine}, tick {msg.tick}")

    def _on_lowstate(self, msg: hg.LowState_) -> None:
        self.state.on_lowstate(msg)
        if self.recorder is not None:
            now = time.monotonic()
            if now - self._last_record >= 1.0 / self.rate:
                self._last_record = now
                self._record_state()

    def _record_state(self) -> None:
        s = self.state.read(True)
        if s is None:
            return
        stamp = msgs.header(time.time())
        t = self.cfg.topics
        self._record(t.joint_states, msgs.JointState(header=stamp, name=list(self.state.joint_names), position=s["joint_position"].tolist(),
                                                     velocity=s["joint_velocity"].tolist(), effort=s["joint_effort"].tolist()))
        w, x, y, z = s["imu_orientation"].tolist()
        av, la = s["imu_angular_velocity"].tolist(), s["imu_linear_acceleration"].tolist()
        self._record(t.imu, msgs.Imu(header=stamp, orientation=msgs.Quaternion(x=x, y=y, z=z, w=w), angular_velocity=msgs.Vector3(*av),
                                     linear_acceleration=msgs.Vector3(*la)))

    # ----------------------------------------------------------------- commands
    def _publish_command(self, command: Any) -> None:
        if self.lowcmd.mode_machine is None:
            return  # nothing goes to a robot that has not spoken yet
        mode = self.controller.mode
        msg = self.lowcmd.damping() if mode in (RobotMode.DAMPING, RobotMode.ESTOP) else self.lowcmd.command(command)
        self.pub_lowcmd.publish(msg)
        self.lowcmd_sent += 1
        self.published += 1
        if self.recorder is not None:
            c: JointCommand = command
            n = len(c.names)
            kp = np.zeros(n) if mode in (RobotMode.DAMPING, RobotMode.ESTOP) else c.kp
            kd = np.full(n, self.lowcmd.damping_kd) if mode in (RobotMode.DAMPING, RobotMode.ESTOP) else c.kd
            stamp = msgs.header(time.time())
            self._record(self.cfg.topics.joint_gains, msgs.Float64MultiArray(data=np.concatenate([kp, kd]).tolist()))
            self._record(self.cfg.topics.joint_command, msgs.JointState(header=stamp, name=list(c.names), position=c.position.tolist(),
                                                                        velocity=[0.0] * n, effort=[0.0] * n))

    def _start(self) -> None:
        if self.state.robot_tick == 0:
            raise RuntimeError("the robot is not ready: LowState.tick is still 0")
        super()._start()

    # ----------------------------------------------------------------- the loop
    def tick(self) -> Any:
        """The remote first (start / A / select / L2+B), then the pipeline; in IDLE, zero torque."""
        for button in sorted(self.state.edges.take()):
            self._remote(button)
        command = super().tick()
        if command is None and self.lowcmd.mode_machine is not None:  # IDLE: the pipeline sends nothing; the robot gets zero torque
            self.pub_lowcmd.publish(self.lowcmd.zero_torque())
            self.lowcmd_sent += 1
        return command

    def _remote(self, button: str) -> None:
        c = self.controller
        try:
            if button == "estop":
                if c.mode != RobotMode.ESTOP:
                    c.estop("remote: L2+B (e-stop, latched until reset)")
            elif button == "start":
                if c.mode in (RobotMode.IDLE, RobotMode.DAMPING):
                    self._start()
            elif button == "A":
                if c.mode == RobotMode.SOFT_START:
                    c.go()
            elif button == "select":
                c.stop("remote: select (damping)")
        except Exception as e:  # a refused press is reported, not a crash of the control thread
            self._transition_texts.put(f"remote {button} refused: {e}")
            self._diag_wake.set()

    def diagnostics_message(self) -> Any:
        msg = super().diagnostics_message()
        st = msg.status[0]
        st.values += [msgs.KeyValue(key="lowstate", value=str(self.state.received["lowstate"])),
                      msgs.KeyValue(key="lowstate_crc_errors", value=str(self.state.received["crc_errors"])),
                      msgs.KeyValue(key="mode_machine", value=str(self.lowcmd.mode_machine)),
                      msgs.KeyValue(key="remote", value=" ".join(self.state.remote.names()) or "none"),
                      msgs.KeyValue(key="lowcmd_sent", value=str(self.lowcmd_sent))]
        return msg

    # ----------------------------------------------------------------- bring-up
    def wait_for_robot(self, timeout_s: float) -> None:
        """Wait for a LowState with a good CRC; a clear :class:`UnitreeError` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.state.received["lowstate"] > 0:
                return
            time.sleep(0.01)
        bad = self.state.received["crc_errors"]
        extra = f" ({bad} arrived with a wrong CRC: another robot type or firmware?)" if bad else ""
        raise UnitreeError(f"no robot answered: no LowState on rt/lowstate within {timeout_s:g} s{extra}; check the network "
                           f"interface, that the robot is on, and the DDS domain (domain {getattr(self.backend.node, 'domain_id', '?')})")


def unitree_summary(node: UnitreeG1Node, summary: dict[str, Any]) -> dict[str, Any]:
    """``run_node``'s summary with what the low-level protocol adds."""
    return {**summary, "transport": "unitree", "lowcmd_sent": node.lowcmd_sent, "mode_machine": node.lowcmd.mode_machine}


__all__ = ["DAMPING_KD", "G1_MOTOR_NAMES", "REFERENCE_GAINS", "SOFT_START_S", "LowCmdBuilder", "LowStateView", "UnitreeError",
           "UnitreeG1Node", "motor_slots", "unitree_node_config", "unitree_summary"]
