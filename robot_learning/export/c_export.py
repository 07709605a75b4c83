"""Plain-C export of an exported MLP policy, for a microcontroller (as the paper flies its policy on
the Crazyflie): one header and one source file, static const float weights, fixed-size arrays, no
allocation, only <math.h>.

It reads the ONNX file itself, so the C code is generated from exactly the graph the runtime runs,
and supports the ops of a feed-forward torch export: Gemm, MatMul, Add/Sub/Mul/Div with constants,
Tanh, Relu, Sigmoid, Elu, LeakyRelu, Clip, Identity and shape-only Reshape/Flatten/Squeeze/Unsqueeze.

    python -m robot_learning.export.c_export POLICY.onnx OUT_DIR [--name NAME]
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


class CExportError(ValueError):
    """A file or name the C export cannot use; the message says which and why."""


class UnsupportedGraphError(CExportError):
    """The ONNX graph holds something the C generator cannot express; the message names it."""


@dataclass
class _Op:
    kind: str  # "affine" (W, b), "scale" (a, b: y = a*x + b elementwise), or an activation name
    W: np.ndarray | None = None
    b: np.ndarray | None = None
    alpha: float = 0.0
    lo: float = -np.inf
    hi: float = np.inf


def _attr(node: onnx.NodeProto, name: str, default: float | int) -> float | int:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _parse(model: onnx.ModelProto) -> tuple[int, list[_Op]]:
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t).astype(np.float64)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise UnsupportedGraphError(f"expected one input and one output, got {len(inputs)} and {len(g.output)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if not dims or not dims[-1].dim_value:
        raise UnsupportedGraphError("the input's last dimension must be static")
    size = int(dims[-1].dim_value)
    current = inputs[0].name
    ops: list[_Op] = []
    for n in g.node:
        if n.op_type == "Constant":
            continue
        data = [x for x in n.input if x and x not in consts]
        if data != [current]:
            raise UnsupportedGraphError(f"node '{n.name or n.op_type}' ({n.op_type}) is not a step of a single chain; only sequential MLPs are supported")
        c = [consts[x] for x in n.input if x in consts]
        t = n.op_type
        if t == "Gemm":
            if _attr(n, "transA", 0):
                raise UnsupportedGraphError(f"Gemm '{n.name}' with transA=1 is not supported")
            W = c[0].T if _attr(n, "transB", 0) else c[0]
            W = W * float(_attr(n, "alpha", 1.0))
            b = c[1] * float(_attr(n, "beta", 1.0)) if len(c) > 1 else np.zeros(W.shape[1])
            ops.append(_Op("affine", W, np.broadcast_to(b, (W.shape[1],)).copy()))
            size = W.shape[1]
        elif t == "MatMul":
            ops.append(_Op("affine", c[0], np.zeros(c[0].shape[1])))
            size = c[0].shape[1]
        elif t in ("Add", "Sub", "Mul", "Div"):
            k = np.broadcast_to(c[0].reshape(-1) if c[0].size > 1 else c[0].reshape(1), (size,)).astype(np.float64)
            if t in ("Sub", "Div") and n.input[0] in consts:
                raise UnsupportedGraphError(f"{t} '{n.name}' with a constant first operand is not supported")
            if ops and ops[-1].kind == "affine" and t in ("Add", "Sub"):
                ops[-1].b = ops[-1].b + (k if t == "Add" else -k)
            elif t in ("Add", "Sub"):
                ops.append(_Op("scale", np.ones(size), k if t == "Add" else -k))
            else:
                ops.append(_Op("scale", k if t == "Mul" else 1.0 / k, np.zeros(size)))
        elif t in ("Tanh", "Relu", "Sigmoid"):
            ops.append(_Op(t.lower()))
        elif t in ("Elu", "LeakyRelu"):
            ops.append(_Op(t.lower(), alpha=float(_attr(n, "alpha", 1.0 if t == "Elu" else 0.01))))
        elif t == "Clip":
            lo = float(c[0]) if len(c) > 0 else float(_attr(n, "min", -np.inf))
            hi = float(c[1]) if len(c) > 1 else float(_attr(n, "max", np.inf))
            ops.append(_Op("clip", lo=lo, hi=hi))
        elif t in ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"):
            pass
        else:
            raise UnsupportedGraphError(f"ONNX op '{t}' (node '{n.name or t}') is not supported by the C export")
        current = n.output[0]
    if current != g.output[0].name:
        raise UnsupportedGraphError("the graph's output is not the end of its chain")
    first = ops[0].W.shape[0] if ops and ops[0].kind == "affine" else None
    in_size = int(dims[-1].dim_value)
    if first is not None and first != in_size:
        raise UnsupportedGraphError(f"first layer takes {first} inputs but the graph input has {in_size}")
    return in_size, ops


def _f(x: float) -> str:
    if np.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    text = f"{float(np.float32(x)):.9g}"
    if not any(ch in text for ch in ".eEn"):  # "1" -> "1.0f": C needs a decimal point before the suffix
        text += ".0"
    return text + "f"


def _array(name: str, a: np.ndarray) -> str:
    vals = [_f(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]
    rows = [", ".join(vals[i:i + 8]) for i in range(0, len(vals), 8)]
    return f"static const float {name}[{len(vals)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def export_c(onnx_path: str | Path, out_dir: str | Path, name: str = "policy") -> tuple[Path, Path]:
    """Write ``out_dir/<name>.h`` and ``out_dir/<name>.c`` for the MLP in ``onnx_path``."""
    onnx_path = Path(onnx_path)
    if onnx_path.is_dir():
        raise IsADirectoryError(f"{onnx_path} is a directory, not an ONNX policy file")
    if not onnx_path.is_file():
        raise FileNotFoundError(f"policy file not found: {onnx_path}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise CExportError(f"--name {name!r} is not a C identifier (letters, digits and _, not starting with a digit)")
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise CExportError(f"output directory {out_dir} exists and is not a directory")
    try:
        model = onnx.load(str(onnx_path))
    except Exception as e:  # noqa: BLE001 (protobuf raises its own DecodeError, among others)
        raise CExportError(f"cannot read {onnx_path}: not a valid ONNX model ({type(e).__name__})") from None
    in_size, ops = _parse(model)
    NAME = name.upper()
    size = in_size
    body, weights, buf = [], [], "in"
    max_width = in_size
    for i, op in enumerate(ops):
        if op.kind == "affine":
            n_in, n_out = op.W.shape
            weights.append(_array(f"W{i}", op.W.T))  # row-major [out][in]
            weights.append(_array(f"B{i}", op.b))
            body.append(f"    for (int o = 0; o < {n_out}; ++o) {{\n        float s = B{i}[o];\n"
                        f"        for (int k = 0; k < {n_in}; ++k) s += W{i}[o * {n_in} + k] * {buf}[k];\n        tmp[o] = s;\n    }}\n"
                        f"    for (int o = 0; o < {n_out}; ++o) h[o] = tmp[o];\n")
            size = n_out
        elif op.kind == "scale":
            weights.append(_array(f"A{i}", op.W))
            weights.append(_array(f"B{i}", op.b))
            body.append(f"    for (int o = 0; o < {size}; ++o) h[o] = A{i}[o] * {buf}[o] + B{i}[o];\n")
        else:
            expr = {"tanh": "tanhf(v)", "relu": "(v > 0.0f ? v : 0.0f)", "sigmoid": "1.0f / (1.0f + expf(-v))",
                    "elu": f"(v > 0.0f ? v : {_f(op.alpha)} * (expf(v) - 1.0f))", "leakyrelu": f"(v > 0.0f ? v : {_f(op.alpha)} * v)",
                    "clip": f"(v < {_f(op.lo)} ? {_f(op.lo)} : (v > {_f(op.hi)} ? {_f(op.hi)} : v))"}[op.kind]
            body.append(f"    for (int o = 0; o < {size}; ++o) {{ float v = {buf}[o]; h[o] = {expr}; }}\n")
        buf = "h"
        max_width = max(max_width, size)
    out_size = size
    meta = {p.key: p.value for p in model.metadata_props}
    notes = "".join(f" * {k}: {meta[k][:300]}{'...' if len(meta[k]) > 300 else ''}\n" for k in ("robot", "observation_layout", "action") if k in meta)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (f"/* Generated by robot_learning.export.c_export from {onnx_path.name}. Do not edit.\n"
              f" * Input: {in_size} floats (the observation); output: {out_size} floats (the action).\n{notes} */\n"
              f"#ifndef {NAME}_H\n#define {NAME}_H\n\n#define {NAME}_INPUT_DIM {in_size}\n#define {NAME}_OUTPUT_DIM {out_size}\n\n"
              f"void {name}_evaluate(const float input[{NAME}_INPUT_DIM], float output[{NAME}_OUTPUT_DIM]);\n\n#endif\n")
    source = (f"/* Generated by robot_learning.export.c_export from {onnx_path.name}. Do not edit. */\n"
              f"#include <math.h>\n#include \"{name}.h\"\n\n" + "\n".join(weights) +
              f"\nvoid {name}_evaluate(const float input[{NAME}_INPUT_DIM], float output[{NAME}_OUTPUT_DIM]) {{\n"
              f"    const float *in = input;\n    float h[{max_width}];\n    float tmp[{max_width}];\n    (void)tmp;\n    (void)in;\n"
              + "".join(body) +
              (f"    for (int o = 0; o < {out_size}; ++o) output[o] = {buf}[o];\n}}\n"))
    h_path, c_path = out_dir / f"{name}.h", out_dir / f"{name}.c"
    h_path.write_text(header)
    c_path.write_text(source)
    return h_path, c_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export an ONNX MLP policy to plain C (one .h and one .c).")
    ap.add_argument("policy", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", default="policy")
    a = ap.parse_args(argv)
    try:
        h, c = export_c(a.policy, a.out_dir, a.name)
    except (CExportError, OSError) as e:  # a missing, unreadable or corrupt file: one line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {h} and {c}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
