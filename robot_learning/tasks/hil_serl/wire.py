"""The actor <-> learner wire format: numpy arrays and a JSON schema, nothing that can run code.

Pickle (the previous format, and HIL-SERL's own) runs code on load: anyone who could reach the
learner's port could run a program on it. This format carries only plain data, and decoding a
message is parsing JSON plus ``np.frombuffer``. One ZeroMQ frame per message:

    header   20 bytes, little-endian: magic b"RLHS", version u8, kind u8, flags u16 (0),
             schema length u32, body length u64
    schema   UTF-8 JSON {"fields": {...}, "arrays": [{"path": [...], "dtype": "<f4", "shape": [...], "offset": n}, ...]}
    padding  zeros up to a multiple of 64 bytes from the start of the frame
    body     each array's raw little-endian bytes at its offset (the next multiple of 64 after the previous array)

``fields`` is the message without its arrays (numbers, strings, lists of them, nested objects);
each array goes back into it at its ``path``. Decoding is strict and bounded: dtypes come from an
allow-list of numeric ones (never ``object``), shapes are non-negative integers, every offset must be
the one the shapes before it give and the body must end with the last array (sizes add up, nothing
overlaps, nothing trails), and the message, the schema, the number of arrays, dimensions and nesting
are bounded. Arrays are views of the received buffer (no copy). A refusal is a :class:`WireError`
with a short ``reason`` (what the endpoints count) and a ``detail``.

The message kinds HIL-SERL exchanges are declared here too, with the checks the learner applies to
what an actor sends (:func:`check_actor_message`) before anything reaches its buffers.
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"RLHS"
VERSION = 1
HEADER = struct.Struct("<4sBBHIQ")
ALIGN = 64
DEFAULT_MAX_BYTES = 256 << 20
MAX_SCHEMA_BYTES = 1 << 20
MAX_ARRAYS = 1024
MAX_NDIM = 6
MAX_DEPTH = 3  # an array's path: "state" / network / parameter
MAX_KEY = 200

# numeric dtypes only, little-endian (or single-byte); the table, not np.dtype(), turns the schema's text into a dtype
DTYPES: dict[str, np.dtype] = {np.dtype(t).str: np.dtype(t) for t in
                               ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                "<f2", "<f4", "<f8")}

KIND_CODES: dict[str, int] = {"demos": 1, "episode": 2, "progress": 3, "done": 4, "weights": 5, "final": 6}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
ACTOR_KINDS = ("demos", "episode", "progress", "done")  # actor -> learner (PUSH/PULL)
LEARNER_KINDS = ("weights", "final")  # learner -> actor (PUB/SUB)


class WireError(ValueError):
    """A message refused: ``reason`` is a short category (counted), ``detail`` says what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


# ----------------------------------------------------------------------------- encoding
def _plain(value: Any, where: str) -> Any:
    """A JSON value of the message (numpy scalars become Python numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    raise TypeError(f"{where}: cannot send a {type(value).__name__} (numbers, strings, lists, dicts and numpy arrays only)")


def _split(obj: Mapping[str, Any], path: list[str], arrays: list[tuple[list[str], np.ndarray]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise TypeError(f"{'/'.join(path) or 'message'}: keys must be strings, got {k!r}")
        where = "/".join([*path, k])
        if isinstance(v, np.ndarray):
            if len(path) + 1 > MAX_DEPTH:
                raise TypeError(f"{where}: arrays may be at most {MAX_DEPTH} levels deep")
            arrays.append(([*path, k], v))
        elif isinstance(v, Mapping):
            if len(path) + 1 >= MAX_DEPTH:
                raise TypeError(f"{where}: objects may be nested at most {MAX_DEPTH - 1} levels deep")
            out[k] = _split(v, [*path, k], arrays)
        else:
            out[k] = _plain(v, where)
    return out


def encode(message: Mapping[str, Any], max_bytes: int = DEFAULT_MAX_BYTES) -> bytearray:
    """``message`` (a dict with ``kind`` and fields: numpy arrays, numbers, strings, lists, nested dicts) as one frame."""
    kind = message.get("kind")
    if kind not in KIND_CODES:
        raise ValueError(f"unknown message kind {kind!r}; known: {', '.join(KIND_CODES)}")
    arrays: list[tuple[list[str], np.ndarray]] = []
    fields = _split({k: v for k, v in message.items() if k != "kind"}, [], arrays)
    entries, blobs, end = [], [], 0
    for path, a in arrays:
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        if a.dtype.str not in DTYPES:
            raise TypeError(f"{'/'.join(path)}: dtype {a.dtype} is not sendable (allowed: {', '.join(DTYPES)})")
        a = np.ascontiguousarray(a)
        offset = _align(end)
        entries.append({"path": path, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset})
        blobs.append((offset, a))
        end = offset + a.nbytes
    schema = json.dumps({"fields": fields, "arrays": entries}, separators=(",", ":")).encode()
    start = _align(HEADER.size + len(schema))
    total = start + end
    if total > max_bytes or len(schema) > MAX_SCHEMA_BYTES:
        raise WireError("too large", f"a {kind} message of {total} bytes (schema {len(schema)}) exceeds the link's "
                                     f"{max_bytes} ({MAX_SCHEMA_BYTES} for the schema)")
    buf = bytearray(total)
    HEADER.pack_into(buf, 0, MAGIC, VERSION, KIND_CODES[kind], 0, len(schema), end)
    buf[HEADER.size:HEADER.size + len(schema)] = schema
    for offset, a in blobs:
        if a.nbytes:
            np.frombuffer(buf, np.uint8, a.nbytes, start + offset)[:] = a.reshape(-1).view(np.uint8)
    return buf


# ----------------------------------------------------------------------------- decoding
def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_json(value: Any, depth: int, where: str) -> None:
    if depth > MAX_DEPTH + 1:
        raise WireError("bad schema", f"{where}: nested deeper than the messages need")
    if isinstance(value, dict):
        for k, v in value.items():
            if len(k) > MAX_KEY:
                raise WireError("bad schema", f"{where}: a key of {len(k)} characters")
            _check_json(v, depth + 1, f"{where}/{k}")
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list)):
                raise WireError("bad schema", f"{where}: lists hold numbers and strings only")


def _shape(raw: Any, max_bytes: int, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_NDIM:
        raise WireError("bad shape", f"{where}: shape must be a list of at most {MAX_NDIM} sizes, got {str(raw)[:80]}")
    for d in raw:
        if type(d) is not int or d < 0 or d > max_bytes:
            raise WireError("bad shape", f"{where}: shape {str(raw)[:80]} has a size that is not an integer in 0..{max_bytes}")
    return tuple(raw)


def decode(buf: Any, max_bytes: int = DEFAULT_MAX_BYTES, kinds: Collection[str] | None = None) -> dict[str, Any]:
    """The message in ``buf`` (bytes, bytearray, memoryview, a zmq Frame's buffer); arrays are views of it.
    Only ``kinds`` are accepted (default all). Anything else raises :class:`WireError`."""
    mv = memoryview(buf)
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    n = mv.nbytes
    if n > max_bytes:
        raise WireError("too large", f"{n} bytes, the link takes at most {max_bytes}")
    if n < HEADER.size:
        raise WireError("bad magic" if bytes(mv[:len(MAGIC)]) != MAGIC[:min(n, len(MAGIC))] else "truncated",
                        f"{n} bytes, shorter than the {HEADER.size}-byte header")
    magic, version, code, flags, schema_len, body_len = HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        hint = " (a pickle)" if magic[:1] == b"\x80" else ""
        raise WireError("bad magic", f"starts with {magic!r}{hint}, not {MAGIC!r}")
    if version != VERSION:
        raise WireError("unsupported version", f"version {version}, this side speaks {VERSION}")
    kind = KIND_NAMES.get(code)
    if kind is None:
        raise WireError("unknown kind", f"kind code {code}")
    if kinds is not None and kind not in kinds:
        raise WireError("unexpected kind", f"{kind!r} is not sent this way (expected {', '.join(kinds)})")
    if flags != 0:
        raise WireError("bad header", f"flags {flags:#x}, expected 0")
    if schema_len > MAX_SCHEMA_BYTES:
        raise WireError("too large", f"schema of {schema_len} bytes, at most {MAX_SCHEMA_BYTES}")
    start = _align(HEADER.size + schema_len)
    if start + body_len != n:
        raise WireError("truncated" if start + body_len > n else "sizes do not add up",
                        f"header says {start + body_len} bytes (schema {schema_len}, body {body_len}), got {n}")
    if any(mv[HEADER.size + schema_len:start]):
        raise WireError("bad header", "non-zero padding after the schema")
    try:
        schema = json.loads(bytes(mv[HEADER.size:HEADER.size + schema_len]).decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WireError("bad schema", f"not JSON ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(schema, dict) or set(schema) != {"fields", "arrays"} or not isinstance(schema["fields"], dict) \
            or not isinstance(schema["arrays"], list):
        raise WireError("bad schema", "expected an object with 'fields' (an object) and 'arrays' (a list)")
    msg: dict[str, Any] = schema["fields"]
    _check_json(msg, 1, "fields")
    if "kind" in msg:
        raise WireError("bad schema", "'kind' belongs in the header, not in the fields")
    if len(schema["arrays"]) > MAX_ARRAYS:
        raise WireError("too large", f"{len(schema['arrays'])} arrays, at most {MAX_ARRAYS}")
    end = 0
    for i, e in enumerate(schema["arrays"]):
        if not isinstance(e, dict) or set(e) != {"path", "dtype", "shape", "offset"}:
            raise WireError("bad schema", f"array {i}: expected path, dtype, shape and offset")
        path = e["path"]
        if not isinstance(path, list) or not 1 <= len(path) <= MAX_DEPTH or \
                not all(isinstance(p, str) and 0 < len(p) <= MAX_KEY for p in path):
            raise WireError("bad schema", f"array {i}: path must be 1..{MAX_DEPTH} names, got {str(path)[:80]}")
        where = "/".join(path)
        dtype = DTYPES.get(e["dtype"]) if isinstance(e["dtype"], str) else None
        if dtype is None:
            raise WireError("dtype not allowed", f"{where}: {str(e['dtype'])[:40]!r} (allowed: {', '.join(DTYPES)})")
        shape = _shape(e["shape"], max_bytes, where)
        count = math.prod(shape)
        size = count * dtype.itemsize
        if size > max_bytes:
            raise WireError("too large", f"{where}: shape {list(shape)} is {size} bytes, at most {max_bytes}")
        offset = _align(end)
        if type(e["offset"]) is not int or e["offset"] != offset:
            raise WireError("sizes do not add up", f"{where}: offset {str(e['offset'])[:40]}, the arrays before it end at {offset}")
        if offset + size > body_len:
            raise WireError("truncated", f"{where}: needs bytes {offset}..{offset + size} of a {body_len}-byte body")
        arr = np.frombuffer(mv, dtype, count, start + offset).reshape(shape) if count else np.zeros(shape, dtype)
        if dtype.kind == "b" and count and arr.view(np.uint8).max() > 1:
            raise WireError("bad value", f"{where}: booleans other than 0 and 1")
        node = msg
        for p in path[:-1]:
            node = node.get(p)
            if not isinstance(node, dict):
                raise WireError("bad schema", f"{where}: '{p}' is not an object of the fields")
        if path[-1] in node:
            raise WireError("bad schema", f"{where}: given twice")
        node[path[-1]] = arr
        end = offset + size
    if end != body_len:
        raise WireError("sizes do not add up", f"the arrays end at byte {end} of a {body_len}-byte body")
    msg["kind"] = kind
    return msg


# ----------------------------------------------------------------------------- HIL-SERL's messages
@dataclass(frozen=True)
class BatchSpec:
    """What the learner accepts in a batch of transitions: its observation and action sizes, gripper commands."""

    obs_dim: int
    act_dim: int = 3
    n_grasp: int = 3


BATCH_DTYPES = {"obs": "<f4", "action": "<f4", "grasp": "<i8", "reward": "<f4", "done": "<f4", "next_obs": "<f4",
                "grasp_changed": "<f4", "intervened": "|b1"}
MAX_COUNT = 2 ** 53  # env_steps, versions, update counts


def _count(msg: Mapping[str, Any], name: str) -> int:
    v = msg.get(name)
    if type(v) is not int or not 0 <= v < MAX_COUNT:
        raise WireError("bad field", f"{msg['kind']}: {name} must be a non-negative integer, got {str(v)[:40]}")
    return v


def _only(msg: Mapping[str, Any], names: set[str]) -> None:
    extra = set(msg) - names - {"kind"}
    missing = names - set(msg)
    if extra or missing:
        raise WireError("bad field", f"{msg['kind']}: " + "; ".join(
            ([f"missing {', '.join(sorted(missing))}"] if missing else []) + ([f"unknown {', '.join(sorted(extra))}"] if extra else [])))


def check_batch(batch: Any, spec: BatchSpec, kind: str) -> None:
    """A batch of transitions the learner can put in its buffers as it is."""
    if not isinstance(batch, dict) or set(batch) != set(BATCH_DTYPES):
        got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise WireError("bad field", f"{kind}: batch must have exactly {', '.join(BATCH_DTYPES)}; got {str(got)[:120]}")
    rows = None
    for name, want in BATCH_DTYPES.items():
        a = batch[name]
        if not isinstance(a, np.ndarray) or a.dtype.str != want:
            raise WireError("bad dtype", f"{kind}: batch/{name} must be a {np.dtype(want)} array, got "
                                         f"{a.dtype if isinstance(a, np.ndarray) else type(a).__name__}")
        cols = {"obs": (spec.obs_dim,), "next_obs": (spec.obs_dim,), "action": (spec.act_dim,)}.get(name, ())
        if a.ndim != 1 + len(cols) or a.shape[1:] != cols or (rows is not None and a.shape[0] != rows):
            raise WireError("bad shape", f"{kind}: batch/{name} has shape {a.shape}, expected ({rows if rows is not None else 'N'}"
                                         f"{''.join(f', {c}' for c in cols)})")
        rows = a.shape[0]
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise WireError("bad value", f"{kind}: batch/{name} has NaN or infinite values")
    if not rows:
        raise WireError("bad shape", f"{kind}: an empty batch")
    g = batch["grasp"]
    if g.min() < 0 or g.max() >= spec.n_grasp:
        raise WireError("bad value", f"{kind}: batch/grasp must be in 0..{spec.n_grasp - 1}, got {int(g.min())}..{int(g.max())}")


def check_actor_message(msg: Mapping[str, Any], spec: BatchSpec) -> None:
    """What the learner takes from an actor: each kind with its fields, batches that fit its buffers."""
    kind = msg["kind"]
    if kind == "demos":
        _only(msg, {"batch"})
        check_batch(msg["batch"], spec, kind)
    elif kind == "episode":
        _only(msg, {"batch", "env_steps"})
        _count(msg, "env_steps")
        check_batch(msg["batch"], spec, kind)
    elif kind == "progress":
        _only(msg, {"env_steps"})
        _count(msg, "env_steps")
    elif kind == "done":
        _only(msg, set())
    else:
        raise WireError("unexpected kind", f"{kind!r} is not sent by an actor")


NETWORKS = ("actor", "grasp", "encoder")


def check_learner_message(msg: Mapping[str, Any]) -> None:
    """What the actor takes from the learner: weights by network (arrays only), counters, the final report."""
    kind = msg["kind"]
    if kind not in LEARNER_KINDS:
        raise WireError("unexpected kind", f"{kind!r} is not sent by a learner")
    _only(msg, {"version", "updates", "state"} | ({"report"} if kind == "final" else set()))
    _count(msg, "updates")
    if type(msg["version"]) is not int:
        raise WireError("bad field", f"{kind}: version must be an integer")
    state = msg["state"]
    if not isinstance(state, dict) or not set(state) <= set(NETWORKS) or not {"actor", "grasp"} <= set(state):
        raise WireError("bad field", f"{kind}: state must hold the networks {', '.join(NETWORKS)} (encoder optional)")
    for net, params in state.items():
        if not isinstance(params, dict) or not all(isinstance(v, np.ndarray) and v.dtype.kind in "fiu" for v in params.values()):
            raise WireError("bad field", f"{kind}: state/{net} must map parameter names to numeric arrays")
    if kind == "final" and not isinstance(msg["report"], dict):
        raise WireError("bad field", "final: report must be an object")
