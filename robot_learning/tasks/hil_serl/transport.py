"""Actor <-> learner messages over ZeroMQ (as HIL-SERL's agentlace does).

Two sockets, both bound by the learner so that the actor (on the robot's computer) only needs the
learner's address:

- ``PULL`` at ``port``: the actor pushes episodes of transitions (and the demonstrations once);
- ``PUB`` at ``port + 1``: the learner publishes the acting networks' weights every few updates.

Messages are pickled dicts of numpy arrays. Pickle runs code on load: only connect an actor and a
learner that trust each other (a lab network or an SSH tunnel), as with HIL-SERL's own transport.
"""
from __future__ import annotations

import pickle
from typing import Any

import zmq


def _addr(host: str, port: int) -> str:
    return f"tcp://{host}:{port}"


class LearnerEndpoint:
    """The learner's side: receive transitions, publish weights."""

    def __init__(self, port: int, host: str = "*") -> None:
        self.ctx = zmq.Context()
        self.pull = self.ctx.socket(zmq.PULL)
        self.pub = self.ctx.socket(zmq.PUB)
        try:
            self.pull.bind(_addr(host, port))
            self.pub.bind(_addr(host, port + 1))
        except zmq.ZMQError as e:
            self.close()
            raise OSError(f"the learner cannot listen on ports {port} and {port + 1}: {e}") from None
        self.pub.setsockopt(zmq.SNDHWM, 4)

    def receive(self, timeout_ms: int = 0) -> dict[str, Any] | None:
        if self.pull.poll(timeout_ms):
            return pickle.loads(self.pull.recv())
        return None

    def publish(self, message: dict[str, Any]) -> None:
        self.pub.send(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        self.pull.close(linger=0)
        self.pub.close(linger=0)
        self.ctx.term()


class ActorEndpoint:
    """The actor's side: send transitions, take the newest weights."""

    def __init__(self, host: str, port: int) -> None:
        self.ctx = zmq.Context()
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.connect(_addr(host, port))
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.setsockopt(zmq.RCVHWM, 4)
        self.sub.connect(_addr(host, port + 1))

    def send(self, message: dict[str, Any]) -> None:
        self.push.send(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def latest(self, timeout_ms: int = 0) -> dict[str, Any] | None:
        """The newest message the learner published (older queued ones are dropped), or None."""
        msg = None
        while self.sub.poll(timeout_ms):
            msg = pickle.loads(self.sub.recv())
            timeout_ms = 0
        return msg

    def close(self) -> None:
        self.push.close(linger=2000)
        self.sub.close(linger=0)
        self.ctx.term()
