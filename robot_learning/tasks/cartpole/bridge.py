"""The simulated cart-pole behind the robot's ROS 2 topics, over Cyclone DDS: a deployment rehearsed
on one machine (the policy node cannot tell it from the robot).

``python -m robot_learning.tasks.cartpole.bridge --seconds 20 --domain-id 7`` steps the MuJoCo
cart-pole in real time and serves the topics a joint robot's drivers serve: it publishes
``joint_states`` (the cart) and ``imu`` (on the pole), applies ``joint_command`` and ``joint_gains``.
Until the first command arrives the pole is held tilted by ``--release-angle`` (a hand holding it, as a
real cart-pole is started); then it is let go and only the policy keeps it up. ``--push-at S`` shoves
the pole S seconds after the release. ``sim/ground_truth`` (std_msgs/Float64MultiArray) carries
(time, cart position, pole angle, released 0/1); the last line printed is a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import threading
import time
from typing import Any

import numpy as np

from robot_learning.runtime.loop import FixedRateLoop
from robot_learning.runtime.ros2.backend import DdsBackend
from robot_learning.runtime.ros2 import msgs
from robot_learning.tasks.cartpole.robot import SPEC, tilt_deg
from robot_learning.tasks.cartpole.sims import MujocoCartPole


class CartPoleBridge:
    """The simulated cart-pole on ROS 2 topics (any backend with the DDS backend's API)."""

    def __init__(self, backend: Any, rate_hz: float = 100.0, release_angle: float = 0.1, push_at: float | None = None,
                 push_rad_s: float = 1.0) -> None:
        self.sim = MujocoCartPole(control_rate_hz=rate_hz)
        self.rate_hz, self.release_angle = rate_hz, release_angle
        self.push_at, self.push_rad_s = push_at, push_rad_s
        self.names = list(SPEC.joint_names)
        self.target = np.zeros(1)
        self.kp, self.kd = SPEC.array("kp"), SPEC.array("kd")
        self._lock = threading.Lock()
        self._cmd: Any = None
        self._gains: Any = None
        self.commands_received = 0
        self.released_at: float | None = None  # sim time of the release
        self.pushed = False
        self.angles: list[tuple[float, float, float]] = []  # (time after release, cart position, pole angle)
        backend.create_subscription(msgs.JointState, "joint_command", self._on_command, "sensor")
        backend.create_subscription(msgs.Float64MultiArray, "joint_gains", self._on_gains, "sensor")
        self.pub_js = backend.create_publisher(msgs.JointState, "joint_states", "sensor")
        self.pub_imu = backend.create_publisher(msgs.Imu, "imu", "sensor")
        self.pub_truth = backend.create_publisher(msgs.Float64MultiArray, "sim/ground_truth", "sensor")
        self.sim.set_state(0.0, release_angle)

    def _on_command(self, msg: Any) -> None:
        with self._lock:
            self._cmd = msg
            self.commands_received += 1

    def _on_gains(self, msg: Any) -> None:
        with self._lock:
            self._gains = msg

    def tick(self) -> None:
        with self._lock:
            cmd, gains = self._cmd, self._gains
        if cmd is not None and "cart" in cmd.name:
            i = list(cmd.name).index("cart")
            if gains is not None and len(gains.data) == 2 * len(cmd.name):
                self.kp[0], self.kd[0] = gains.data[i], gains.data[len(cmd.name) + i]
                self.sim.set_gains(self.kp, self.kd)
            if i < len(cmd.position) and math.isfinite(cmd.position[i]):
                self.target[0] = cmd.position[i]
        if self.released_at is None:
            if cmd is None:  # held by hand until the controller takes over
                self.sim.set_state(0.0, self.release_angle)
            else:
                self.released_at = self.sim.time
        t = None if self.released_at is None else self.sim.time - self.released_at
        if t is not None and self.push_at is not None and not self.pushed and t >= self.push_at:
            self.pushed = True
            self.sim.data.qvel[1] += self.push_rad_s
        self.sim.step(self.target)
        self._publish(t)

    def _publish(self, t: float | None) -> None:
        s = self.sim.state()
        stamp = msgs.header(time.time())
        self.pub_js.publish(msgs.JointState(header=stamp, name=self.names, position=s["joint_position"].tolist(),
                                            velocity=s["joint_velocity"].tolist(), effort=s["joint_effort"].tolist()))
        qw, qx, qy, qz = (float(v) for v in s["imu_orientation"])
        self.pub_imu.publish(msgs.Imu(header=stamp, orientation=msgs.Quaternion(x=qx, y=qy, z=qz, w=qw),
                                      angular_velocity=msgs.Vector3(*s["imu_angular_velocity"].tolist()),
                                      linear_acceleration=msgs.Vector3(*s["imu_linear_acceleration"].tolist())))
        x, angle = self.sim.pole()
        self.pub_truth.publish(msgs.Float64MultiArray(data=[self.sim.time, x, angle, float(t is not None)]))
        if t is not None:
            self.angles.append((t, x, angle))

    def run(self, seconds: float) -> dict[str, Any]:
        loop = FixedRateLoop(self.rate_hz, realtime=True)
        try:
            loop.run(lambda i: self.tick() or True, max_ticks=int(seconds * self.rate_hz))
        except KeyboardInterrupt:
            pass
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """What happened to the pole after the release (ground truth)."""
        a = np.array(self.angles) if self.angles else np.zeros((0, 3))
        fell = a[np.abs(a[:, 2]) > math.radians(90.0)]
        return {"commands_received": self.commands_received, "released": self.released_at is not None,
                "seconds_after_release": round(float(a[-1, 0]), 3) if len(a) else 0.0, "pushed": self.pushed,
                "max_tilt_deg": round(max((tilt_deg(v) for v in a[:, 2]), default=0.0), 2),
                "final_tilt_deg": round(tilt_deg(float(a[-1, 2])), 2) if len(a) else None,
                "final_cart_m": round(float(a[-1, 1]), 4) if len(a) else None,
                "fell_after_s": round(float(fell[0, 0]), 3) if len(fell) else None}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robot_learning.tasks.cartpole.bridge", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--rate", type=float, default=100.0, help="state publication and physics stepping rate (Hz)")
    p.add_argument("--release-angle", type=float, default=0.1, help="the pole's tilt when it is let go (rad)")
    p.add_argument("--push-at", type=float, default=None, help="shove the pole this many seconds after the release")
    p.add_argument("--push", type=float, default=1.0, help="the shove: a change of the pole's angular velocity (rad/s)")
    p.add_argument("--domain-id", type=int, default=None)
    a = p.parse_args(argv)
    for name in ("seconds", "rate"):
        if not (getattr(a, name) > 0 and math.isfinite(getattr(a, name))):
            p.error(f"--{name} must be a positive finite number, got {getattr(a, name)}")
    if not abs(a.release_angle) < math.radians(30.0):
        p.error(f"--release-angle must be within +-0.52 rad (30 deg), got {a.release_angle}")
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by the deploy command: still report
    backend = DdsBackend("sim_bridge", domain_id=a.domain_id, loopback=True)
    bridge = CartPoleBridge(backend, a.rate, a.release_angle, a.push_at, a.push)
    print(f"[sim_bridge] cartpole publishing at {a.rate:g} Hz; pole held at {a.release_angle:g} rad until the first command", flush=True)
    try:
        summary = bridge.run(a.seconds)
    finally:
        backend.close()
    print(f"[sim_bridge] summary {json.dumps(summary)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
