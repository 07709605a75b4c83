"""Releasing the G1's own (high-level) controller before the runtime takes the motors.

Unitree's ``motion_switcher`` service answers on its API topics (``rt/api/motion_switcher/request``
and ``.../response``, types ``unitree_api::msg::dds_::Request_``/``Response_``): a request carries
an id, the API id (CheckMode 1001, SelectMode 1002, ReleaseMode 1003) and JSON parameters (``{}``
for these two); the response echoes the id and API id, a status code (0 = OK) and JSON data.
CheckMode's data names the active mode (``{"name": "...", ...}``; an empty name: none is active).
:func:`release_high_level_control` calls ReleaseMode until CheckMode reports no mode, logging each
step, and raises a clear error at its timeout. Torch-free.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any, Callable

from robot_learning.runtime.unitree.hg import Request_, RequestHeader_, RequestIdentity_, Response_

SERVICE = "motion_switcher"
REQUEST_TOPIC = f"/api/{SERVICE}/request"  # DDS: rt/api/motion_switcher/request
RESPONSE_TOPIC = f"/api/{SERVICE}/response"
CHECK_MODE, SELECT_MODE, RELEASE_MODE = 1001, 1002, 1003


class MotionSwitcherError(RuntimeError):
    """The robot's motion switcher did not answer, or would not release its controller."""


class MotionSwitcherClient:
    """Calls on the motion switcher over a :class:`~robot_learning.runtime.ros2.dds.DdsNode`."""

    def __init__(self, node: Any) -> None:
        from robot_learning.runtime.ros2.dds import QosProfile

        self._pub = node.create_publisher(Request_, REQUEST_TOPIC, QosProfile("reliable", "volatile", 10))
        self._sub = node.create_subscription(Response_, RESPONSE_TOPIC, self._on_response, QosProfile("best_effort", "volatile", 10))
        self._ids = itertools.count(time.monotonic_ns())
        self._cond = threading.Condition()
        self._responses: dict[int, Response_] = {}

    def _on_response(self, msg: Response_) -> None:
        with self._cond:
            self._responses[int(msg.header.identity.id)] = msg
            self._cond.notify_all()

    def call(self, api_id: int, parameter: dict[str, Any] | None = None, timeout_s: float = 1.0) -> tuple[int, str]:
        """(status code, JSON data) of one call; TimeoutError when no answer comes in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._pub.subscription_count() == 0:  # a request written before the server is discovered is lost
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {SERVICE} service discovered on rt{REQUEST_TOPIC} within {timeout_s:g} s")
            time.sleep(0.01)
        rid = next(self._ids)
        self._pub.publish(Request_(header=RequestHeader_(identity=RequestIdentity_(id=rid, api_id=api_id)),
                                   parameter=json.dumps(parameter or {})))
        with self._cond:
            while rid not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{SERVICE} did not answer API {api_id} within {timeout_s:g} s")
                self._cond.wait(left)
            r = self._responses.pop(rid)
        if int(r.header.identity.api_id) != api_id:
            raise MotionSwitcherError(f"{SERVICE} answered API {r.header.identity.api_id} to a call of API {api_id}")
        return int(r.header.status.code), r.data

    def check_mode(self, timeout_s: float = 1.0) -> str:
        """The name of the active mode ('' when none)."""
        code, data = self.call(CHECK_MODE, timeout_s=timeout_s)
        if code != 0:
            raise MotionSwitcherError(f"{SERVICE} CheckMode failed with code {code}")
        try:
            return str(json.loads(data or "{}").get("name", ""))
        except (ValueError, AttributeError):
            raise MotionSwitcherError(f"{SERVICE} CheckMode answered data that is not a JSON object: {data!r}") from None

    def release_mode(self, timeout_s: float = 1.0) -> int:
        return self.call(RELEASE_MODE, timeout_s=timeout_s)[0]


def release_high_level_control(node: Any, timeout_s: float = 10.0, log: Callable[[str], None] = print) -> None:
    """ReleaseMode until CheckMode reports no active mode. Raises :class:`MotionSwitcherError` (one
    line: what did not happen) after ``timeout_s``."""
    client = MotionSwitcherClient(node)
    deadline = time.monotonic() + timeout_s
    log(f"[unitree] releasing the robot's high-level controller ({SERVICE}, timeout {timeout_s:g} s)")
    mode = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            mode = client.check_mode(timeout_s=min(1.0, left))
        except TimeoutError as e:
            if time.monotonic() >= deadline:
                raise MotionSwitcherError(f"the robot's high-level controller could not be released: {e} "
                                          f"(is the robot on, in debug mode L2+R2, on this interface and DDS domain?)") from None
            continue
        if not mode:
            log(f"[unitree] {SERVICE}: no mode active; the low-level motors are ours")
            return
        log(f"[unitree] {SERVICE}: mode '{mode}' is active: ReleaseMode")
        try:
            client.release_mode(timeout_s=min(1.0, max(0.05, deadline - time.monotonic())))
        except TimeoutError:
            pass
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    raise MotionSwitcherError(f"the robot's high-level controller did not release within {timeout_s:g} s "
                              f"(mode {mode!r} still active); do not start the policy")
