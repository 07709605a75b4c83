"""The HIL-SERL actor <-> learner link on loopback (127.0.0.1 only): every message kind round-trips
bit-exact through the real sockets, nothing that arrives can run code (a live pickle exploit sent to
the learner's port creates no file), malformed and forged messages of every kind are refused,
counted and logged while the learner goes on, and with CURVE on only an actor with an allowed key
gets anything through."""
from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
import zmq.auth

from robot_learning.algos.sac import SACAgent, SACConfig
from robot_learning.core.config import ConfigError, from_dict
from robot_learning.tasks.hil_serl.actor import Episode
from robot_learning.tasks.hil_serl.config import HilSerlConfig
from robot_learning.tasks.hil_serl.keys import make_key_pair
from robot_learning.tasks.hil_serl.scene import PickPlaceConfig, image_shape, obs_layout
from robot_learning.tasks.hil_serl.train import free_port_pair
from robot_learning.tasks.hil_serl.transport import (
    ActorEndpoint,
    LearnerEndpoint,
    LinkConfig,
)
from robot_learning.tasks.hil_serl.wire import (
    ALIGN,
    HEADER,
    KIND_CODES,
    MAGIC,
    BatchSpec,
    WireError,
    check_actor_message,
    decode,
    encode,
)

ROOT = Path(__file__).resolve().parents[1]
OBS = obs_layout(PickPlaceConfig()).size
SPEC = BatchSpec(OBS, 3, 3)
LINK_LOG = "robot_learning.hil_serl.link"
needs_curve = pytest.mark.skipif(not zmq.has("curve"), reason=f"this libzmq ({zmq.zmq_version()}) was built without CURVE")


# ----------------------------------------------------------------------------- messages as the actor and learner make them
def episode_batch(n: int, obs_dim: int = OBS, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch through the actor's own Episode (the dtypes it sends)."""
    rng = np.random.default_rng(seed)
    ep = Episode()
    for i in range(n):
        ep.add(rng.normal(size=obs_dim).astype(np.float32), rng.uniform(-1, 1, 3), int(rng.integers(0, 3)),
               rng.normal(size=obs_dim).astype(np.float32), {"gripper_changed": i % 2 == 0, "success": i == n - 1}, intervened=i < 2)
    r = (np.arange(n) == n - 1).astype(np.float32)
    return ep.batch(r, r)


def weights(kind: str, image: bool) -> dict[str, Any]:
    """The learner's weights messages from a real agent (state, or frames with the CNN encoder)."""
    cfg = PickPlaceConfig(observation="frame", image_size=16) if image else PickPlaceConfig()  # frame: a CNN in the weights
    layout = obs_layout(cfg)
    agent = SACAgent(layout.size, 3, SACConfig(hidden=(32, 32)), seed=1, image_shape=image_shape(layout))
    msg = {"kind": kind, "version": 7, "state": agent.policy_state(), "updates": 350}
    if kind == "final":
        msg["report"] = {"updates": 350, "env_steps": 175, "updates_per_s": 12.5, "last": {"q_mean": -0.25, "alpha": 0.1},
                         "refused": {"bad magic": 2}, "note": "tr\u00e8s bien", "missing": None}
    return msg


def actor_messages() -> list[dict[str, Any]]:
    return [{"kind": "demos", "batch": episode_batch(37, seed=1)}, {"kind": "episode", "batch": episode_batch(12, seed=2), "env_steps": 412},
            {"kind": "progress", "env_steps": 420}, {"kind": "done"}]


def learner_messages() -> list[dict[str, Any]]:
    return [weights("weights", image=False), weights("weights", image=True), weights("final", image=False)]


def assert_same(a: Any, b: Any, where: str = "message") -> None:
    """Equal structure; arrays equal bit for bit (dtype, shape and bytes)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}/{k}")
    else:
        assert a == b and type(a) is type(b), (where, a, b)


@pytest.fixture
def pair() -> Any:
    port = free_port_pair(seed=os.getpid() % 1000)
    learner = LearnerEndpoint(port, "127.0.0.1", check=lambda m: check_actor_message(m, SPEC))
    actor = ActorEndpoint("127.0.0.1", port)
    yield learner, actor, port
    actor.close()
    learner.close()


def receive_within(learner: LearnerEndpoint, seconds: float = 3.0) -> dict[str, Any] | None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        msg = learner.receive(timeout_ms=100)
        if msg is not None:
            return msg
    return None


def published(learner: LearnerEndpoint, actor: ActorEndpoint, msg: dict[str, Any], seconds: float = 3.0) -> dict[str, Any] | None:
    """Publish until the actor has it (a subscriber that has just connected misses what came before)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        learner.publish(msg)
        got = actor.latest(timeout_ms=100)
        if got is not None:
            return got
    return None


# ----------------------------------------------------------------------------- round trips
def test_every_message_kind_round_trips_bit_exact_through_the_sockets(pair: Any) -> None:
    learner, actor, _ = pair
    for msg in actor_messages():
        actor.send(msg)
        got = receive_within(learner)
        assert got is not None, msg["kind"]
        assert_same(msg, got)
    for msg in learner_messages():
        got = published(learner, actor, msg)
        assert got is not None, msg["kind"]
        assert_same(msg, got)
    assert learner.received == 4 and not learner.refused and not actor.refused


def test_decoded_arrays_are_views_of_the_received_buffer_and_aligned() -> None:
    buf = encode(weights("weights", image=True))
    msg = decode(buf)
    whole = np.frombuffer(buf, np.uint8)
    for params in msg["state"].values():
        for a in params.values():
            assert np.shares_memory(a, whole) and a.ctypes.data % ALIGN == whole.ctypes.data % ALIGN


def test_a_batch_larger_than_the_link_bound_goes_in_pieces_and_arrives_whole() -> None:
    port = free_port_pair(seed=os.getpid() % 1000 + 1)
    link = LinkConfig(max_message_mb=0.012)  # 12.6 kB: a 150-row batch of state observations (29 kB) in 3 pieces
    learner = LearnerEndpoint(port, "127.0.0.1", link, check=lambda m: check_actor_message(m, SPEC))
    actor = ActorEndpoint("127.0.0.1", port, link)
    try:
        batch = episode_batch(150, seed=3)
        assert len(encode({"kind": "episode", "batch": batch, "env_steps": 150}, 1 << 30)) > link.max_bytes
        pieces = actor.send_batch("episode", batch, env_steps=150)
        got = [receive_within(learner) for _ in range(pieces)]
        assert pieces == 3 and all(g is not None and g["env_steps"] == 150 for g in got)
        assert_same(batch, {k: np.concatenate([g["batch"][k] for g in got]) for k in batch})
        with pytest.raises(WireError, match="too large"):  # one message over the bound is refused where it is made
            actor.send({"kind": "demos", "batch": batch})
    finally:
        actor.close()
        learner.close()


# ----------------------------------------------------------------------------- nothing runs code
class Exploit:
    """Unpickling this creates ``path`` (what any code an attacker chooses could do instead)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_a_pickle_exploit_sent_to_the_learner_runs_nothing_is_logged_and_the_next_message_arrives(
        pair: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    learner, actor, port = pair
    control, target = tmp_path / "control", tmp_path / "pwned"
    pickle.loads(pickle.dumps(Exploit(control)))  # the payload is live: unpickled, it creates its file
    assert control.exists()
    payload = pickle.dumps(Exploit(target), protocol=pickle.HIGHEST_PROTOCOL)
    caplog.set_level(logging.WARNING, logger=LINK_LOG)
    ctx = zmq.Context()
    forger = ctx.socket(zmq.PUSH)
    forger.connect(f"tcp://127.0.0.1:{port}")
    forger.send(payload)
    forger.send(pickle.dumps({"kind": "done"}))  # and the old format's own messages: pickles too
    with socket.create_connection(("127.0.0.1", port)) as raw:  # the same bytes straight onto the TCP port, no ZeroMQ
        raw.sendall(payload + bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    forger.close(linger=1000)
    ctx.term()
    deadline = time.time() + 3.0
    while learner.refused["bad magic"] < 2 and time.time() < deadline:
        assert learner.receive(timeout_ms=50) is None
    assert learner.receive(timeout_ms=300) is None  # the raw bytes too: libzmq frames them as an old-protocol peer's, all refused
    assert learner.refused["bad magic"] >= 2
    actor.send({"kind": "progress", "env_steps": 5})
    assert receive_within(learner) == {"kind": "progress", "env_steps": 5}
    assert not target.exists()
    assert any("bad magic" in r.getMessage() and "a pickle" in r.getMessage() for r in caplog.records)


def test_the_link_modules_have_no_pickle() -> None:
    for name in ("transport.py", "wire.py"):
        text = (ROOT / "robot_learning" / "tasks" / "hil_serl" / name).read_text()
        assert "import pickle" not in text and "pickle.load" not in text and "allow_pickle" not in text


# ----------------------------------------------------------------------------- malformed messages
def frame(schema: Any, body: bytes = b"", kind: str = "progress", *, magic: bytes = MAGIC, version: int = 1, flags: int = 0,
          body_len: int | None = None) -> bytes:
    """A message built by hand: header, schema (an object, or raw bytes), padding, body."""
    s = schema if isinstance(schema, bytes) else json.dumps(schema).encode()
    start = -(-(HEADER.size + len(s)) // ALIGN) * ALIGN
    head = HEADER.pack(magic, version, KIND_CODES.get(kind, 99), flags, len(s), len(body) if body_len is None else body_len)
    return head + s + bytes(start - HEADER.size - len(s)) + body


def arrays(*entries: tuple[list[str], str, list[Any], int]) -> list[dict[str, Any]]:
    return [{"path": p, "dtype": d, "shape": s, "offset": o} for p, d, s, o in entries]


def good_episode(**change: Any) -> bytes:
    batch = episode_batch(4, seed=9)
    for k, v in change.items():
        if v is None:
            del batch[k]
        else:
            batch[k] = v
    return bytes(encode({"kind": "episode", "batch": batch, "env_steps": 10}))


def bad_header(buf: bytes, fmt: str, offset: int, value: int) -> bytes:
    b = bytearray(buf)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


GOOD = bytes(encode({"kind": "progress", "env_steps": 3}))
ONE_ARRAY = bytes(encode({"kind": "episode", "batch": {"obs": np.zeros(2, np.float32)}, "env_steps": 1}))
rng = np.random.default_rng(26)
MALFORMED: dict[str, tuple[bytes, str]] = {
    "a pickle": (pickle.dumps({"kind": "done"}), "bad magic"),
    "random bytes": (rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), "bad magic"),
    "empty": (b"", "truncated"),
    "cut in the header": (GOOD[:10], "truncated"),
    "cut in the body": (ONE_ARRAY[:-3], "truncated"),
    "trailing bytes": (ONE_ARRAY + bytes(8), "sizes do not add up"),
    "another version": (bad_header(GOOD, "<B", 4, 2), "unsupported version"),
    "an unknown kind": (bad_header(GOOD, "<B", 5, 99), "unknown kind"),
    "flags set": (bad_header(GOOD, "<H", 6, 1), "bad header"),
    "weights sent to the learner": (bytes(encode(weights("weights", image=False))), "unexpected kind"),
    "schema not JSON": (frame(b"{not json"), "bad schema"),
    "schema not UTF-8": (frame(b"\xff\xfe{}"), "bad schema"),
    "NaN in the schema": (frame(b'{"fields":{"env_steps":NaN},"arrays":[]}'), "bad schema"),
    "schema nested too deep": (frame({"fields": {"a": {"b": {"c": {"d": {"e": 1}}}}}, "arrays": []}), "bad schema"),
    "schema a list": (frame([1, 2]), "bad schema"),
    "kind in the fields": (frame({"fields": {"kind": "done"}, "arrays": []}), "bad schema"),
    "object dtype": (frame({"fields": {}, "arrays": arrays((["x"], "|O", [1], 0))}, bytes(8), "episode"), "dtype not allowed"),
    "a line break in a name": (frame({"fields": {}, "arrays": arrays((["x\nforged log line"], "|O", [1], 0))}, bytes(8), "episode"),
                               "dtype not allowed"),
    "complex dtype": (frame({"fields": {}, "arrays": arrays((["x"], "<c16", [1], 0))}, bytes(16), "episode"), "dtype not allowed"),
    "big-endian dtype": (frame({"fields": {}, "arrays": arrays((["x"], ">f4", [1], 0))}, bytes(4), "episode"), "dtype not allowed"),
    "structured dtype": (frame({"fields": {}, "arrays": arrays((["x"], [["a", "<f4"]], [1], 0))}, bytes(4), "episode"), "dtype not allowed"),
    "negative shape": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [-1], 0))}, bytes(4), "episode"), "bad shape"),
    "fractional shape": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [1.5], 0))}, bytes(4), "episode"), "bad shape"),
    "too many dimensions": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [1] * 7, 0))}, bytes(4), "episode"), "bad shape"),
    "oversized shape": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [1_000_000, 1_000_000], 0))}, bytes(64), "episode"),
                        "too large"),
    "shape beyond the body": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [32], 0))}, bytes(64), "episode"), "truncated"),
    "arrays overlapping": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [4], 0), (["y"], "<f4", [4], 0))}, bytes(80), "episode"),
                           "sizes do not add up"),
    "a gap after an array": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [4], 0))}, bytes(64), "episode"), "sizes do not add up"),
    "path through a number": (frame({"fields": {"batch": 1}, "arrays": arrays((["batch", "obs"], "<f4", [1], 0))}, bytes(4), "episode"),
                              "bad schema"),
    "an array given twice": (frame({"fields": {}, "arrays": arrays((["x"], "<f4", [1], 0), (["x"], "<f4", [1], 64))}, bytes(68), "episode"),
                             "bad schema"),
    "a boolean byte of 7": (frame({"fields": {}, "arrays": arrays((["x"], "|b1", [2], 0))}, b"\x01\x07", "episode"), "bad value"),
    # well-formed, but not what the learner can use
    "a batch without rewards": (good_episode(reward=None), "bad field"),
    "observations of another size": (good_episode(obs=np.zeros((4, OBS + 1), np.float32)), "bad shape"),
    "float64 observations": (good_episode(obs=np.zeros((4, OBS), np.float64)), "bad dtype"),
    "rows that disagree": (good_episode(action=np.zeros((5, 3), np.float32)), "bad shape"),
    "a NaN reward": (good_episode(reward=np.array([0, np.nan, 0, 1], np.float32)), "bad value"),
    "a gripper command of 7": (good_episode(grasp=np.array([0, 1, 7, 2])), "bad value"),
    "an empty batch": (bytes(encode({"kind": "demos", "batch": {k: v[:0] for k, v in episode_batch(4).items()}})), "bad shape"),
    "negative env_steps": (bytes(encode({"kind": "progress", "env_steps": -1})), "bad field"),
    "env_steps a string": (bytes(encode({"kind": "progress", "env_steps": "many"})), "bad field"),
    "an unknown field": (bytes(encode({"kind": "done", "exec": "rm -rf /"})), "bad field"),
}


def refusal(buf: bytes) -> str:
    try:
        check_actor_message(decode(buf, kinds=("demos", "episode", "progress", "done")), SPEC)
    except WireError as e:
        return e.reason
    return "accepted"


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_message_is_refused_with_its_reason(case: str) -> None:
    buf, reason = MALFORMED[case]
    assert refusal(buf) == reason


def test_the_learner_refuses_counts_and_logs_every_malformed_message_and_takes_the_next_good_one(
        pair: Any, caplog: pytest.LogCaptureFixture) -> None:
    learner, actor, port = pair
    caplog.set_level(logging.WARNING, logger=LINK_LOG)
    ctx = zmq.Context()
    forger = ctx.socket(zmq.PUSH)
    forger.connect(f"tcp://127.0.0.1:{port}")
    for buf, _ in MALFORMED.values():
        forger.send(buf)
    forger.send(GOOD)
    forger.close(linger=2000)
    ctx.term()
    assert receive_within(learner, 5.0) == {"kind": "progress", "env_steps": 3}
    expected = Counter(reason for _, reason in MALFORMED.values())
    assert learner.refused == expected and learner.received == 1
    logged = [r.getMessage() for r in caplog.records if r.name == LINK_LOG]
    assert len(logged) == len(MALFORMED) and all("the learner refused a message from 127.0.0.1" in m for m in logged)
    assert not any("\n" in m for m in logged)  # one line each, whatever the names in a message
    actor.send({"kind": "done"})  # and it goes on
    assert receive_within(learner) == {"kind": "done"}


def test_a_message_over_the_size_bound_is_dropped_before_it_reaches_the_learner() -> None:
    port = free_port_pair(seed=os.getpid() % 1000 + 2)
    learner = LearnerEndpoint(port, "127.0.0.1", LinkConfig(max_message_mb=1.0))
    ctx = zmq.Context()
    big = ctx.socket(zmq.PUSH)
    big.connect(f"tcp://127.0.0.1:{port}")
    actor = ActorEndpoint("127.0.0.1", port)
    try:
        big.send(bytes(2 << 20))
        time.sleep(0.3)
        actor.send({"kind": "progress", "env_steps": 1})
        assert receive_within(learner) == {"kind": "progress", "env_steps": 1}
        assert learner.receive(timeout_ms=200) is None
    finally:
        big.close(linger=0)
        ctx.term()
        actor.close()
        learner.close()


def test_the_learner_process_refuses_forged_messages_and_finishes_its_run(tmp_path: Path) -> None:
    """run_learner itself: forged messages among the actor's do not stop it; learner.json counts them."""
    from robot_learning.tasks.hil_serl.learner import run_learner

    cfg = HilSerlConfig(demos=1, env_steps=100, learning_starts=50, publish_every=10, sac=SACConfig(batch_size=16, hidden=(32, 32)),
                        buffer_capacity=1000)
    port = free_port_pair(seed=os.getpid() % 1000 + 3)
    result: dict[str, Any] = {}

    def learn() -> None:
        try:
            result["report"] = run_learner(cfg, port, tmp_path / "learner", host="127.0.0.1", idle_timeout_s=30.0)
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            result["error"] = e

    thread = threading.Thread(target=learn, daemon=True)
    thread.start()
    actor = ActorEndpoint("127.0.0.1", port)
    try:
        for case in ("a pickle", "random bytes", "observations of another size", "a gripper command of 7", "weights sent to the learner"):
            actor.push.send(MALFORMED[case][0])
        actor.send({"kind": "demos", "batch": episode_batch(20, seed=4)})
        assert actor.latest(timeout_ms=10_000) is not None, "no weights from the learner"
        actor.push.send(MALFORMED["a NaN reward"][0])
        actor.send_batch("episode", episode_batch(60, seed=5), env_steps=60)
        actor.send({"kind": "progress", "env_steps": 60})
        actor.send({"kind": "done"})
        final = None
        deadline = time.time() + 20
        while final is None and time.time() < deadline:
            m = actor.latest(timeout_ms=200)
            final = m if m is not None and m["kind"] == "final" else None
    finally:
        thread.join(timeout=30)
        actor.close()
    assert "error" not in result, result.get("error")
    report = result["report"]
    assert report["refused"] == {"bad magic": 2, "bad shape": 1, "bad value": 2, "unexpected kind": 1}
    assert report["prior_transitions"] == 20 + 2 and report["online_transitions"] == 60 and report["env_steps"] == 60
    assert final is not None and final["report"]["refused"] == report["refused"]
    assert json.loads((tmp_path / "learner" / "learner.json").read_text())["refused"] == report["refused"]


# ----------------------------------------------------------------------------- CURVE
@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("learner", "robot1", "stranger"):
        out[name], out[f"{name}_secret"] = make_key_pair(tmp_path / "keys", name)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(out["robot1"], allowed)
    out["allowed"] = allowed
    return out


def curve_link(keys: dict[str, Path], side: str, client: str = "robot1") -> LinkConfig:
    if side == "learner":
        return LinkConfig(curve=True, server_secret_key=str(keys["learner_secret"]), allowed_clients=str(keys["allowed"]))
    return LinkConfig(curve=True, server_public_key=str(keys["learner"]), client_secret_key=str(keys[f"{client}_secret"]))


@needs_curve
def test_with_curve_an_allowed_actor_gets_through_both_ways(keys: dict[str, Path]) -> None:
    port = free_port_pair(seed=os.getpid() % 1000 + 4)
    learner = LearnerEndpoint(port, "127.0.0.1", curve_link(keys, "learner"), check=lambda m: check_actor_message(m, SPEC))
    actor = ActorEndpoint("127.0.0.1", port, curve_link(keys, "actor"))
    try:
        for msg in actor_messages()[:2]:
            actor.send(msg)
            assert_same(msg, receive_within(learner))
        msg = weights("weights", image=False)
        assert_same(msg, published(learner, actor, msg))
        assert not learner.refused
    finally:
        actor.close()
        learner.close()


@needs_curve
def test_with_curve_a_client_with_an_unknown_key_gets_nothing_through(keys: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LINK_LOG)
    port = free_port_pair(seed=os.getpid() % 1000 + 5)
    learner = LearnerEndpoint(port, "127.0.0.1", curve_link(keys, "learner"), check=lambda m: check_actor_message(m, SPEC))
    stranger = ActorEndpoint("127.0.0.1", port, curve_link(keys, "actor", client="stranger"))  # knows the learner's public key
    ctx = zmq.Context()
    impostor = ctx.socket(zmq.PUSH)  # claims robot1's (allowed) public key, without its secret key
    impostor.curve_publickey, _ = zmq.auth.load_certificate(keys["robot1"])
    _, impostor.curve_secretkey = zmq.auth.load_certificate(keys["stranger_secret"])
    impostor.curve_serverkey, _ = zmq.auth.load_certificate(keys["learner"])
    impostor.connect(f"tcp://127.0.0.1:{port}")
    plain = ActorEndpoint("127.0.0.1", port)  # no CURVE at all
    actor = None
    try:
        for msg in ({"kind": "progress", "env_steps": 666}, {"kind": "done"}):
            stranger.send(msg)
            plain.send(msg)
            impostor.send(encode(msg))
        deadline = time.time() + 3.0
        while time.time() < deadline and learner.refused["unknown key"] == 0:
            assert learner.receive(timeout_ms=100) is None
        assert learner.receive(timeout_ms=300) is None and learner.received == 0
        assert learner.refused["unknown key"] >= 1
        learner.publish(weights("weights", image=False))
        assert stranger.latest(timeout_ms=300) is None and plain.latest(timeout_ms=100) is None  # nor do they read the weights
        assert any("unknown key" in r.getMessage() for r in caplog.records)
        actor = ActorEndpoint("127.0.0.1", port, curve_link(keys, "actor"))  # the allowed actor still gets through
        actor.send({"kind": "progress", "env_steps": 1})
        assert receive_within(learner) == {"kind": "progress", "env_steps": 1}
    finally:
        impostor.close(linger=0)
        ctx.term()
        for who in (stranger, plain, actor):
            if who is not None:
                who.close(linger_ms=0)
        learner.close()


@needs_curve
def test_curve_settings_that_cannot_work_are_refused_in_one_line(keys: dict[str, Path], tmp_path: Path) -> None:
    port = free_port_pair(seed=os.getpid() % 1000 + 6)
    with pytest.raises(ConfigError, match=r"link.server_secret_key must be set"):
        LearnerEndpoint(port, "127.0.0.1", LinkConfig(curve=True, allowed_clients=str(keys["allowed"])))
    with pytest.raises(ConfigError, match=r"link.server_secret_key: .* holds only a public key"):
        LearnerEndpoint(port, "127.0.0.1", LinkConfig(curve=True, server_secret_key=str(keys["learner"]), allowed_clients=str(keys["allowed"])))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"link.allowed_clients: no public key"):
        LearnerEndpoint(port, "127.0.0.1", LinkConfig(curve=True, server_secret_key=str(keys["learner_secret"]),
                                                      allowed_clients=str(tmp_path / "empty")))
    with pytest.raises(ConfigError, match=r"link.client_secret_key: no key file"):
        ActorEndpoint("127.0.0.1", port, LinkConfig(curve=True, server_public_key=str(keys["learner"]), client_secret_key="nope.key_secret"))
    with pytest.raises(ConfigError, match=r"link.curve is off but server_public_key is set"):
        from_dict(HilSerlConfig, {"link": {"server_public_key": str(keys["learner"])}})
    with pytest.raises(ConfigError, match=r"link.max_message_mb"):
        from_dict(HilSerlConfig, {"link": {"max_message_mb": 0}})
    # the port is still free: nothing was left bound
    LearnerEndpoint(port, "127.0.0.1").close()


@needs_curve
def test_the_key_command_writes_a_pair_with_a_private_secret_and_never_overwrites(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "robot_learning.tasks.hil_serl.keys", "--out", str(tmp_path / "k"), "--name", "learner"]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    public, secret = tmp_path / "k" / "learner.key", tmp_path / "k" / "learner.key_secret"
    assert "secret-key" in secret.read_text() and "secret-key" not in public.read_text()
    assert secret.stat().st_mode & 0o777 == 0o600
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "exists" in r.stderr
