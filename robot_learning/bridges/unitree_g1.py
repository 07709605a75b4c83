"""The simulated G1 on Unitree's low-level protocol: what the real robot does with ``rt/lowcmd`` and
puts on ``rt/lowstate``, around a MuJoCo G1, so that the DDS tests rehearse the real wire format.

- LowCmd: a command whose CRC is wrong is ignored (counted), as the robot does; so is every command
  while the simulated high-level controller is active (until the motion switcher's ReleaseMode).
  Each motor slot is applied to the simulated joint of that name: mode 0 is a free joint; mode 1
  applies ``tau + kp (q - q_j) + kd (dq - dq_j)`` (the PD part by the simulator's actuators, the
  feed-forward ``tau + kd dq`` as an applied joint force), so the torque is recomputed from the
  measured state at every physics step, as the motor drivers do. The last command holds until the next.
- Physics: the world the G1 policies were trained and evaluated in (MuJoCo at
  :data:`UNITREE_PHYSICS_DT`, 2 ms), whatever the LowState rate. On DDS the simulated time follows the
  wall clock in whole physics steps (:meth:`UnitreeG1SimCore.advance_to`): a late bridge tick runs the
  steps that were due under the last command, as the real robot's physics does not wait for a
  computer; it does not slow the world down.
- LowState: ``tick`` in ms since start (never 0), ``mode_machine`` (5: a 29-DoF G1), the pelvis IMU,
  the 35 motor slots (joints the model lacks read 0), the simulated wireless remote, the CRC.
- The remote: :meth:`SimRemote.press` holds buttons for some time (a test's or a script's finger).
- The motion switcher (``rt/api/motion_switcher/*``): CheckMode reports ``active_mode`` until a
  ReleaseMode clears it.

:class:`UnitreeG1SimCore` is the protocol without DDS (lock-step: a benchmark drives it call by
call); :class:`UnitreeBridgeIO` puts it on DDS for :class:`~robot_learning.bridges.sim_bridge.SimBridge`.
"""
from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import numpy as np

from robot_learning.runtime.unitree import hg
from robot_learning.runtime.unitree.g1 import G1_MOTOR_NAMES
from robot_learning.runtime.unitree.motion_switcher import CHECK_MODE, RELEASE_MODE, REQUEST_TOPIC, RESPONSE_TOPIC
from robot_learning.runtime.unitree.remote import encode_remote

MODE_MACHINE_G1_29DOF = 5
UNITREE_PHYSICS_DT = 0.002  # s: getup.config / ASAP's physics step (500 Hz), the in-process evaluation's
MAX_CATCH_UP_S = 0.1  # a bridge later than this lets the excess go (counted in lost_s) instead of bursting


class SimRemote:
    """The simulated wireless remote: buttons held until a time on the caller's clock."""

    def __init__(self) -> None:
        self._held: list[tuple[tuple[str, ...], float]] = []
        self._lock = threading.Lock()

    def press(self, *buttons: str, seconds: float = 0.1, now: float | None = None) -> None:
        encode_remote(buttons)  # unknown names fail here, not in the loop
        t = time.monotonic() if now is None else now
        with self._lock:
            self._held.append((tuple(buttons), t + seconds))

    def encode(self, now: float | None = None) -> list[int]:
        t = time.monotonic() if now is None else now
        with self._lock:
            self._held = [(b, end) for b, end in self._held if end > t]
            buttons = sorted({x for b, _ in self._held for x in b})
        return encode_remote(buttons)


class UnitreeG1SimCore:
    """A MuJoCo G1 (:class:`~robot_learning.sim.mujoco_robot.MujocoJointRobot`) behind LowCmd/LowState."""

    def __init__(self, sim: Any, mode_machine: int = MODE_MACHINE_G1_29DOF, active_mode: str = "ai") -> None:
        self.sim = sim
        names = list(sim.spec.joint_names)
        index = {n: i for i, n in enumerate(G1_MOTOR_NAMES)}
        unknown = [n for n in names if n not in index]
        if unknown:
            raise ValueError(f"simulated joints {unknown} have no G1 motor slot")
        self.slots = np.array([index[n] for n in names], dtype=np.intp)
        self.mode_machine = mode_machine
        self.active_mode = active_mode  # the high-level controller until ReleaseMode
        self.remote = SimRemote()
        self.kp = np.zeros(len(names))
        self.kd = np.zeros(len(names))
        self.target = sim.state()["joint_position"].copy()
        self.feedforward = np.zeros(len(names))
        self.crc_errors = 0
        self.ignored_while_active = 0
        self.commands = 0
        self.t_ms = 0
        self.steps = 0  # control periods of ``sim`` stepped
        self.lost_s = 0.0  # wall time let go by advance_to (the bridge was later than MAX_CATCH_UP_S)
        self.last_cmd: hg.LowCmd_ | None = None
        self.passive()

    def passive(self) -> None:
        """Motors off (the robot hangs in its harness, or lies): no torque."""
        self.kp[:] = 0.0
        self.kd[:] = 0.0
        self.feedforward[:] = 0.0
        self.sim.set_gains(self.kp, self.kd)

    def apply(self, msg: hg.LowCmd_) -> bool:
        """Take a LowCmd as the robot does; False if it was ignored (bad CRC, high-level controller active)."""
        if not hg.crc_ok(msg):
            self.crc_errors += 1
            return False
        if self.active_mode:
            self.ignored_while_active += 1
            return False
        m = msg.motor_cmd
        for k, i in enumerate(self.slots):
            mc = m[i]
            on = mc.mode == 1
            q, kp, kd, dq, tau = float(mc.q), float(mc.kp), float(mc.kd), float(mc.dq), float(mc.tau)
            if not (on and all(math.isfinite(v) for v in (q, kp, kd, dq, tau)) and kp >= 0 and kd >= 0):
                q, kp, kd, dq, tau = self.target[k], 0.0, 0.0, 0.0, 0.0
            self.target[k], self.kp[k], self.kd[k], self.feedforward[k] = q, kp, kd, tau + kd * dq
        self.sim.set_gains(self.kp, self.kd)
        self.commands += 1
        self.last_cmd = msg
        return True

    def step(self) -> None:
        """One control period of the simulator under the last command."""
        sim = self.sim
        sim.data.qfrc_applied[sim._vadr] = self.feedforward
        sim.step(self.target)
        self.steps += 1
        self.t_ms += int(round(sim.dt * 1000))

    def advance_to(self, t: float, max_catch_up_s: float = MAX_CATCH_UP_S) -> int:
        """Step ``sim`` (one control period a step; the bridge makes it one physics step) until the
        simulated time reaches the wall time ``t`` (s since the bridge started) in whole steps;
        returns the steps run. More than ``max_catch_up_s`` behind: that much is run, the rest let go."""
        due = int(math.floor(t / self.sim.dt + 1e-9)) - self.steps
        cap = max(1, int(max_catch_up_s / self.sim.dt))
        if due > cap:
            self.lost_s += (due - cap) * self.sim.dt
            self.steps += due - cap
            due = cap
        for _ in range(max(0, due)):
            self.step()
        return max(0, due)

    def lowstate(self, now: float | None = None) -> hg.LowState_:
        s = self.sim.state()
        msg = hg.LowState_(mode_pr=hg.MODE_PR, mode_machine=self.mode_machine, tick=max(1, self.t_ms) & 0xFFFFFFFF)
        imu = msg.imu_state
        imu.quaternion = np.asarray(s["imu_orientation"], dtype=np.float64).tolist()
        imu.gyroscope = np.asarray(s["imu_angular_velocity"], dtype=np.float64).tolist()
        imu.accelerometer = np.asarray(s["imu_linear_acceleration"], dtype=np.float64).tolist()
        w, x, y, z = imu.quaternion
        imu.rpy = [math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)), math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))),
                   math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))]
        q, dq, tau = (np.asarray(s[k], dtype=np.float64) for k in ("joint_position", "joint_velocity", "joint_effort"))
        ms = msg.motor_state
        for k, i in enumerate(self.slots):
            ms[i].mode = 1
            ms[i].q, ms[i].dq, ms[i].tau_est = float(q[k]), float(dq[k]), float(tau[k])
        msg.wireless_remote = self.remote.encode(now)
        return hg.seal(msg)

    # the motion switcher's server side
    def motion_switcher(self, api_id: int) -> tuple[int, str]:
        if api_id == CHECK_MODE:
            return 0, json.dumps({"name": self.active_mode, "form": "0"})
        if api_id == RELEASE_MODE:
            self.active_mode = ""
            return 0, ""
        return 3203, ""  # not implemented


class UnitreeBridgeIO:
    """:class:`UnitreeG1SimCore` on Cyclone DDS: LowCmd in (kept, applied at the bridge's tick), LowState
    out, the motion switcher served."""

    def __init__(self, core: UnitreeG1SimCore, node: Any) -> None:
        from robot_learning.runtime.ros2.dds import QosProfile

        self.core = core
        self._lock = threading.Lock()
        self._cmd: hg.LowCmd_ | None = None
        self.received = 0
        node.create_subscription(hg.LowCmd_, "/lowcmd", self._on_lowcmd, QosProfile("best_effort", "volatile", 1))
        self.pub_state = node.create_publisher(hg.LowState_, "/lowstate", QosProfile("best_effort", "volatile", 1))
        self.pub_response = node.create_publisher(hg.Response_, RESPONSE_TOPIC, QosProfile("reliable", "volatile", 10))
        node.create_subscription(hg.Request_, REQUEST_TOPIC, self._on_request, QosProfile("reliable", "volatile", 10))

    def _on_lowcmd(self, msg: hg.LowCmd_) -> None:
        with self._lock:
            self._cmd = msg
            self.received += 1

    def _on_request(self, req: hg.Request_) -> None:
        with self._lock:
            code, data = self.core.motion_switcher(int(req.header.identity.api_id))
        self.pub_response.publish(hg.Response_(header=hg.ResponseHeader_(identity=hg.RequestIdentity_(id=req.header.identity.id,
                                                                                                     api_id=req.header.identity.api_id),
                                                                         status=hg.ResponseStatus_(code=code)), data=data))

    def apply_newest(self) -> None:
        with self._lock:
            cmd, self._cmd = self._cmd, None
            if cmd is not None:
                self.core.apply(cmd)

    def publish(self, msg: hg.LowState_) -> None:
        self.pub_state.publish(msg)
