"""Actor <-> learner messages over ZeroMQ (as HIL-SERL's agentlace does), without pickle.

Two sockets, both bound by the learner so that the actor (on the robot's computer) only needs the
learner's address:

- ``PULL`` at ``port``: the actor pushes episodes of transitions (and the demonstrations once);
- ``PUB`` at ``port + 1``: the learner publishes the acting networks' weights every few updates.

Messages are numpy arrays plus a JSON schema (:mod:`robot_learning.tasks.hil_serl.wire`): decoding
runs no code. The learner refuses, counts and logs anything malformed or unexpected (and a batch
that does not fit its buffers) and goes on with the next message; libzmq drops a message larger
than ``max_message_mb`` before it is allocated.

For a link that leaves the machine, ``LinkConfig.curve`` turns on ZeroMQ's CURVE: the learner is
the CURVE server with its secret key, each actor a client that knows the learner's public key, and
only actors whose public keys are in ``allowed_clients`` complete the handshake (a ZAP handler);
the traffic is encrypted both ways. Keys are files in zmq.auth's certificate format, made by
``python -m robot_learning.tasks.hil_serl.keys``. Off by default: plain TCP, for loopback.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from robot_learning.core.checks import check
from robot_learning.core.config import ConfigError, FieldError
from robot_learning.tasks.hil_serl.wire import (
    ACTOR_KINDS,
    LEARNER_KINDS,
    WireError,
    check_learner_message,
    decode,
    encode,
)

LOG = logging.getLogger("robot_learning.hil_serl.link")
_KEY_FIELDS = ("server_secret_key", "allowed_clients", "server_public_key", "client_secret_key")
_HANDSHAKE_EVENTS = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: "unknown key", zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "bad handshake",
                     zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "bad handshake"}
_LOG_FIRST = 10  # refusals logged one by one per reason; after that every 100th (a flood must not fill the disk)


@dataclass
class LinkConfig:
    """The actor <-> learner link. Without ``curve``: plain TCP (loopback, or a network you trust with the data,
    which cannot run code either way). With it: authenticated and encrypted; each side reads its own keys."""

    curve: bool = False
    server_secret_key: str = ""  # learner: its secret certificate (NAME.key_secret)
    allowed_clients: str = ""  # learner: a directory holding the public certificates (*.key) of the actors it accepts
    server_public_key: str = ""  # actor: the learner's public certificate (NAME.key)
    client_secret_key: str = ""  # actor: its own secret certificate (NAME.key_secret)
    max_message_mb: float = 256.0  # larger messages are dropped; the actor splits its batches to fit

    def __post_init__(self) -> None:
        check(self, positive=("max_message_mb",))
        if self.max_message_mb > 4096:
            raise FieldError("max_message_mb", f"must be at most 4096, got {self.max_message_mb}")
        if not self.curve and any(getattr(self, k) for k in _KEY_FIELDS):
            named = ", ".join(k for k in _KEY_FIELDS if getattr(self, k))
            raise FieldError("curve", f"is off but {named} {'is' if ',' not in named else 'are'} set: "
                                      "turn curve on to use the keys (or clear them)")

    @property
    def max_bytes(self) -> int:
        return int(self.max_message_mb * (1 << 20))


def _addr(host: str, port: int) -> str:
    return f"tcp://{host}:{port}"


def _require_curve() -> None:
    if not zmq.has("curve"):
        raise ConfigError(f"link.curve is on but this libzmq ({zmq.zmq_version()}) was built without CURVE: "
                          "install pyzmq's own wheel (its bundled libzmq has CURVE) or turn link.curve off")


def _key_file(link: LinkConfig, name: str, secret: bool) -> tuple[bytes, bytes | None]:
    path = getattr(link, name)
    if not path:
        raise ConfigError(f"link.{name} must be set when link.curve is on "
                          "(make keys with `python -m robot_learning.tasks.hil_serl.keys`)")
    if not Path(path).is_file():
        raise ConfigError(f"link.{name}: no key file at {path}")
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"link.{name}: {path} is not a ZeroMQ certificate ({e})") from None
    if secret and secret_key is None:
        raise ConfigError(f"link.{name}: {path} holds only a public key; give the secret certificate (.key_secret)")
    return public, secret_key


class _Refusals:
    """Counts refused messages and failed handshakes by reason, and logs them."""

    def __init__(self, side: str, logger: logging.Logger) -> None:
        self.side = side
        self.log = logger
        self.counts: Counter[str] = Counter()

    def __call__(self, reason: str, detail: str, peer: str = "?") -> None:
        self.counts[reason] += 1
        k = self.counts[reason]
        if k <= _LOG_FIRST or k % 100 == 0:
            shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in detail[:300])  # one line, whatever was sent
            self.log.warning("%s refused a message from %s: %s (%s); %d refused so far", self.side, peer, reason, shown,
                             sum(self.counts.values()))

    def drain(self, monitor: zmq.Socket | None) -> None:
        while monitor is not None:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            reason = _HANDSHAKE_EVENTS.get(event["event"])
            if reason is not None:
                self(reason, f"handshake failed on {event['endpoint'].decode(errors='replace')} (error {event['value']})")


def _peer(frame: zmq.Frame) -> str:
    try:
        return frame.get("Peer-Address")
    except (zmq.ZMQError, UnicodeDecodeError):
        return "?"


class LearnerEndpoint:
    """The learner's side: receive transitions, publish weights.

    ``check`` (e.g. :func:`~robot_learning.tasks.hil_serl.wire.check_actor_message` bound to the learner's sizes)
    raises :class:`WireError` for a message the learner must not use; such messages, and those that do not decode,
    are counted in ``refused`` by reason, logged, and skipped."""

    def __init__(self, port: int, host: str = "*", link: LinkConfig | None = None,
                 check: Callable[[dict[str, Any]], None] | None = None, logger: logging.Logger | None = None) -> None:
        link = link or LinkConfig()
        self.max_bytes = link.max_bytes
        self.check = check
        self.refusals = _Refusals("the learner", logger or LOG)
        self.received = 0
        self.auth = None
        self.monitor: zmq.Socket | None = None
        self.ctx = zmq.Context()
        self.pull = self.ctx.socket(zmq.PULL)
        self.pub = self.ctx.socket(zmq.PUB)
        try:
            if link.curve:
                _require_curve()
                public, secret = _key_file(link, "server_secret_key", secret=True)
                self.auth = self._authenticator(link)
                for s in (self.pull, self.pub):
                    s.curve_secretkey = secret
                    s.curve_publickey = public
                    s.curve_server = True
            self.pull.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
            self.monitor = self.pull.get_monitor_socket(sum(_HANDSHAKE_EVENTS))
            self.pull.bind(_addr(host, port))
            self.pub.bind(_addr(host, port + 1))
        except zmq.ZMQError as e:
            self.close()
            raise OSError(f"the learner cannot listen on ports {port} and {port + 1}: {e}") from None
        except BaseException:
            self.close()
            raise
        self.pub.setsockopt(zmq.SNDHWM, 4)

    def _authenticator(self, link: LinkConfig) -> Any:
        from zmq.auth.thread import ThreadAuthenticator

        d = Path(link.allowed_clients) if link.allowed_clients else None
        if d is None or not d.is_dir():
            raise ConfigError(f"link.allowed_clients must be a directory of the accepted actors' public keys (*.key), "
                              f"got {link.allowed_clients!r}")
        if not any(d.glob("*.key")):
            raise ConfigError(f"link.allowed_clients: no public key (*.key) in {d}, so no actor could connect")
        auth = ThreadAuthenticator(self.ctx, log=logging.getLogger("robot_learning.hil_serl.link.zap"))
        auth.start()
        try:
            auth.configure_curve(domain="*", location=str(d))
        except (ValueError, OSError) as e:  # a malformed certificate in the directory
            auth.stop()
            raise ConfigError(f"link.allowed_clients: cannot read the keys in {d} ({e})") from None
        return auth

    @property
    def refused(self) -> Counter[str]:
        self.refusals.drain(self.monitor)
        return self.refusals.counts

    def receive(self, timeout_ms: int = 0) -> dict[str, Any] | None:
        """The next good message (refusing any bad ones queued before it), or None after ``timeout_ms``."""
        self.refusals.drain(self.monitor)
        while self.pull.poll(timeout_ms):
            timeout_ms = 0
            frame = self.pull.recv(copy=False)
            try:
                msg = decode(frame.buffer, self.max_bytes, ACTOR_KINDS)
                if self.check is not None:
                    self.check(msg)
            except WireError as e:
                self.refusals(e.reason, e.detail, _peer(frame))
                continue
            self.received += 1
            return msg
        return None

    def publish(self, message: dict[str, Any]) -> None:
        self.pub.send(encode(message, self.max_bytes), copy=False)

    def close(self) -> None:
        if self.monitor is not None:
            self.pull.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None
        self.pull.close(linger=0)
        self.pub.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        self.ctx.term()


class ActorEndpoint:
    """The actor's side: send transitions, take the newest weights."""

    def __init__(self, host: str, port: int, link: LinkConfig | None = None, logger: logging.Logger | None = None) -> None:
        link = link or LinkConfig()
        self.max_bytes = link.max_bytes
        self.refusals = _Refusals("the actor", logger or LOG)
        if link.curve:
            _require_curve()
            server_public, _ = _key_file(link, "server_public_key", secret=False)
            public, secret = _key_file(link, "client_secret_key", secret=True)
        self.ctx = zmq.Context()
        self.push = self.ctx.socket(zmq.PUSH)
        self.sub = self.ctx.socket(zmq.SUB)
        for s in (self.push, self.sub):
            if link.curve:
                s.curve_secretkey = secret
                s.curve_publickey = public
                s.curve_serverkey = server_public
            s.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        self.monitor: zmq.Socket | None = self.sub.get_monitor_socket(sum(_HANDSHAKE_EVENTS))
        self.push.connect(_addr(host, port))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.setsockopt(zmq.RCVHWM, 4)
        self.sub.connect(_addr(host, port + 1))

    @property
    def refused(self) -> Counter[str]:
        self.refusals.drain(self.monitor)
        return self.refusals.counts

    def send(self, message: dict[str, Any]) -> None:
        self.push.send(encode(message, self.max_bytes), copy=False)

    def send_batch(self, kind: str, batch: dict[str, np.ndarray], **fields: Any) -> int:
        """``batch`` as one message of ``kind`` (with ``fields``), or as several of its rows each when one would be
        larger than the link takes. Returns the number of messages."""
        n = len(next(iter(batch.values())))
        row = sum(v[:1].nbytes for v in batch.values())
        # header, schema and alignment of a one-row message, plus room for longer shapes and other padding
        overhead = len(encode({"kind": kind, "batch": {key: v[:1] for key, v in batch.items()}, **fields}, 1 << 62)) - row
        per = max(1, (self.max_bytes - overhead - 96 * len(batch)) // max(1, row))
        k = 0
        for i in range(0, max(n, 1), per):
            self.send({"kind": kind, "batch": {key: v[i:i + per] for key, v in batch.items()}, **fields})
            k += 1
        return k

    def latest(self, timeout_ms: int = 0) -> dict[str, Any] | None:
        """The newest good message the learner published (older queued ones are dropped), or None."""
        msg = None
        while self.sub.poll(timeout_ms):
            timeout_ms = 0
            frame = self.sub.recv(copy=False)
            try:
                m = decode(frame.buffer, self.max_bytes, LEARNER_KINDS)
                check_learner_message(m)
            except WireError as e:
                self.refusals(e.reason, e.detail, _peer(frame))
                continue
            msg = m
        self.refusals.drain(self.monitor)
        return msg

    def close(self, linger_ms: int = 2000) -> None:
        """``linger_ms``: how long queued messages may still take to leave."""
        if self.monitor is not None:
            self.sub.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None
        self.push.close(linger=linger_ms)
        self.sub.close(linger=0)
        self.ctx.term()
