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


# tanh(x) ~= x P(x^2) / Q(x^2) on |x| <= 9 (a [13/6] rational fitted here to tanh by iteratively
# reweighted least squares; float64 fit error 6.4e-9), clamped outside, where tanh rounds to +-1 in float32
# (tanh(9) = 1 - 3.0e-8). Evaluated in float32 its error is at most 3.3e-7 absolute (a dense sweep of
# [-9.5, 9.5], tests/test_c_export.py), against 6e-8 for newlib's tanhf, for about 12 multiply-adds and one
# division instead of a libm call. NaN stays NaN.
FAST_TANH_CLAMP = 9.0
FAST_TANH_P = (1.0, 0.130806759, 0.00310029625, 1.11177178e-05, -2.0086663e-08, 5.2164207e-11, -8.34340125e-14)
FAST_TANH_Q = (1.0, 0.464139998, 0.0244804304, 0.000254091603)
FAST_TANH_MAX_ERROR = 3.3e-7
BLOCK = 4  # outputs computed together: 4 independent accumulators that share each input's load


def _fast_tanh_c(fn: str) -> str:
    num = _f(FAST_TANH_P[-1])
    for c in reversed(FAST_TANH_P[:-1]):
        num = f"({num} * z + {_f(c)})"
    den = _f(FAST_TANH_Q[-1])
    for c in reversed(FAST_TANH_Q[:-1]):
        den = f"({den} * z + {_f(c)})"
    lim = _f(FAST_TANH_CLAMP)
    return (f"/* tanh to within {FAST_TANH_MAX_ERROR:g} absolute (float32): a rational approximation on |x| <= {FAST_TANH_CLAMP:g},\n"
            f" * clamped beyond (see robot_learning/export/c_export.py) */\n"
            f"static float {fn}(float x) {{\n"
            f"    x = x > {lim} ? {lim} : (x < -{lim} ? -{lim} : x);\n"
            f"    const float z = x * x;\n"
            f"    return x * {num} / {den};\n}}\n")


def _affine_c(fn: str, NAME: str) -> str:
    fma = "".join(f'            "vfma.f32 %[a{j}], s{4 * i + j}, s{16 + i}\\n"\n' for i in range(4) for j in range(4))
    return (f"/* y = W x + b for a weight block laid out [n_out / {BLOCK}][n_in][{BLOCK}]: each input is loaded once for\n"
            f" * {BLOCK} outputs, whose accumulators are independent (the FPU never waits on the previous\n"
            f" * multiply-add), and the weights are read strictly in order. Each output still sums b, then\n"
            f" * k = 0, 1, ... in order, one fused multiply-add per term: the same arithmetic as one dot product\n"
            f" * at a time. On a Cortex-M4F (ARMv7E-M with a single-precision FPU) the main loop is four inputs\n"
            f" * at a time in assembly, because gcc loads floats one VLDR (2 cycles) at a time: one VLDM of 16\n"
            f" * weights (17 cycles) and one of 4 inputs, then 16 VFMAs in the C loop's order (bit-identical to\n"
            f" * it). Define {NAME}_NO_ASM to build the plain C everywhere. */\n"
            f"#if defined(__GNUC__) && defined(__ARM_ARCH_7EM__) && defined(__ARM_FP) && (__ARM_FP & 4) && !defined({NAME}_NO_ASM)\n"
            f"#define {NAME}_ASM 1\n#endif\n\n"
            f"static void {fn}(const float *w, const float *b, const float *x, float *y, int n_in, int n_out) {{\n"
            f"    for (int o = 0; o < n_out; o += {BLOCK}) {{\n"
            f"        float s0 = b[o], s1 = b[o + 1], s2 = b[o + 2], s3 = b[o + 3];\n"
            f"        const float *xk = x;\n"
            f"        int k = n_in;\n"
            f"#ifdef {NAME}_ASM\n"
            f"        int groups = k / 4;\n"
            f"        if (groups > 0) {{\n"
            f"            __asm__ volatile(\n"
            f'            "1:\\n"\n'
            f'            "vldmia %[x]!, {{s16-s19}}\\n"\n'
            f'            "vldmia %[w]!, {{s0-s15}}\\n"\n'
            f"{fma}"
            f'            "subs %[g], %[g], #1\\n"\n'
            f'            "bne 1b\\n"\n'
            f"            : [w] \"+r\"(w), [x] \"+r\"(xk), [g] \"+r\"(groups), [a0] \"+t\"(s0), [a1] \"+t\"(s1), [a2] \"+t\"(s2), [a3] \"+t\"(s3)\n"
            f"            :\n"
            f"            : \"s0\", \"s1\", \"s2\", \"s3\", \"s4\", \"s5\", \"s6\", \"s7\", \"s8\", \"s9\", \"s10\", \"s11\", \"s12\", \"s13\", \"s14\",\n"
            f"              \"s15\", \"s16\", \"s17\", \"s18\", \"s19\", \"cc\", \"memory\");\n"
            f"            k -= 4 * (k / 4);\n"
            f"        }}\n"
            f"#endif\n"
            f"        for (; k > 0; --k) {{\n"
            f"            const float v = *xk++;\n"
            f"            s0 += w[0] * v;\n            s1 += w[1] * v;\n            s2 += w[2] * v;\n            s3 += w[3] * v;\n"
            f"            w += {BLOCK};\n"
            f"        }}\n"
            f"        y[o] = s0;\n        y[o + 1] = s1;\n        y[o + 2] = s2;\n        y[o + 3] = s3;\n"
            f"    }}\n}}\n")


def _blocked(W: np.ndarray) -> tuple[np.ndarray, int]:
    """W (n_in, n_out) -> the [n_out/4][n_in][4] layout the affine kernel streams, n_out padded with zero
    rows to a multiple of 4; returns it and the padded width."""
    n_in, n_out = W.shape
    padded = -(-n_out // BLOCK) * BLOCK
    Wp = np.zeros((n_in, padded))
    Wp[:, :n_out] = W
    return Wp.reshape(n_in, padded // BLOCK, BLOCK).transpose(1, 0, 2), padded


def export_c(onnx_path: str | Path, out_dir: str | Path, name: str = "policy", fast_tanh: bool = True) -> tuple[Path, Path]:
    """Write ``out_dir/<name>.h`` and ``out_dir/<name>.c`` for the MLP in ``onnx_path``.

    The network runs on two file-scope (static) buffers of the widest layer, so ``<name>_evaluate``
    uses a few words of stack and is not reentrant (one caller at a time: on the Crazyflie, the
    stabiliser task). ``fast_tanh`` replaces libm's tanhf by the rational approximation above
    (``FAST_TANH_MAX_ERROR``); ``False`` keeps tanhf."""
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
    body, weights = [], []
    bufs = (f"{name}_buf_a", f"{name}_buf_b")
    cur = "input"  # what the next op reads: the caller's input, or one of the two static buffers
    width = 0
    tanh_fn = f"{name}_tanh" if fast_tanh else "tanhf"
    for i, op in enumerate(ops):
        if op.kind == "affine":
            n_in, n_out = op.W.shape
            Wb, padded = _blocked(op.W)
            b = np.zeros(padded)
            b[:n_out] = op.b
            weights.append(_array(f"W{i}", Wb))  # [n_out/4][n_in][4], zero-padded outputs
            weights.append(_array(f"B{i}", b))
            dst = bufs[1] if cur == bufs[0] else bufs[0]
            body.append(f"    {name}_affine(W{i}, B{i}, {cur}, {dst}, {n_in}, {padded});\n")
            size, width, cur = n_out, max(width, padded), dst
            continue
        dst = cur if cur != "input" else bufs[0]
        width = max(width, size)
        if op.kind == "scale":
            weights.append(_array(f"A{i}", op.W))
            weights.append(_array(f"B{i}", op.b))
            body.append(f"    for (int o = 0; o < {size}; ++o) {dst}[o] = A{i}[o] * {cur}[o] + B{i}[o];\n")
        else:
            expr = {"tanh": f"{tanh_fn}(v)", "relu": "(v > 0.0f ? v : 0.0f)", "sigmoid": "1.0f / (1.0f + expf(-v))",
                    "elu": f"(v > 0.0f ? v : {_f(op.alpha)} * (expf(v) - 1.0f))", "leakyrelu": f"(v > 0.0f ? v : {_f(op.alpha)} * v)",
                    "clip": f"(v < {_f(op.lo)} ? {_f(op.lo)} : (v > {_f(op.hi)} ? {_f(op.hi)} : v))"}[op.kind]
            body.append(f"    for (int o = 0; o < {size}; ++o) {{ const float v = {cur}[o]; {dst}[o] = {expr}; }}\n")
        cur = dst
    out_size = size
    uses_affine = any(op.kind == "affine" for op in ops)
    uses_tanh = fast_tanh and any(op.kind == "tanh" for op in ops)
    meta = {p.key: p.value for p in model.metadata_props}
    notes = "".join(f" * {k}: {meta[k][:300]}{'...' if len(meta[k]) > 300 else ''}\n" for k in ("robot", "observation_layout", "action") if k in meta)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (f"/* Generated by robot_learning.export.c_export from {onnx_path.name}. Do not edit.\n"
              f" * Input: {in_size} floats (the observation); output: {out_size} floats (the action).\n{notes} */\n"
              f"#ifndef {NAME}_H\n#define {NAME}_H\n\n#define {NAME}_INPUT_DIM {in_size}\n#define {NAME}_OUTPUT_DIM {out_size}\n\n"
              f"/* Not reentrant: the activations live in file-scope buffers, so one caller at a time. */\n"
              f"void {name}_evaluate(const float input[{NAME}_INPUT_DIM], float output[{NAME}_OUTPUT_DIM]);\n\n#endif\n")
    statics = ""
    if width:
        statics = (f"/* The activations, in file-scope buffers of the widest layer ({width} floats) rather than on the\n"
                   f" * stack: {name}_evaluate is NOT reentrant (never call it from two tasks or from an interrupt\n"
                   f" * while it runs). */\nstatic float {bufs[0]}[{width}];\n"
                   + (f"static float {bufs[1]}[{width}];\n" if bufs[1] in "".join(body) else "") + "\n")
    helpers = (_affine_c(f"{name}_affine", NAME) + "\n" if uses_affine else "") + (_fast_tanh_c(tanh_fn) + "\n" if uses_tanh else "")
    source = (f"/* Generated by robot_learning.export.c_export from {onnx_path.name}. Do not edit. */\n"
              f"#include <math.h>\n#include \"{name}.h\"\n\n" + "\n".join(weights) + "\n" + statics + helpers +
              f"void {name}_evaluate(const float input[{NAME}_INPUT_DIM], float output[{NAME}_OUTPUT_DIM]) {{\n"
              + "".join(body) +
              f"    for (int o = 0; o < {out_size}; ++o) output[o] = {cur}[o];\n}}\n")
    h_path, c_path = out_dir / f"{name}.h", out_dir / f"{name}.c"
    h_path.write_text(header)
    c_path.write_text(source)
    return h_path, c_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export an ONNX MLP policy to plain C (one .h and one .c).")
    ap.add_argument("policy", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--name", default="policy")
    ap.add_argument("--libm-tanh", action="store_true", help="call libm's tanhf instead of the fast rational tanh")
    a = ap.parse_args(argv)
    try:
        h, c = export_c(a.policy, a.out_dir, a.name, fast_tanh=not a.libm_tanh)
    except (CExportError, OSError) as e:  # a missing, unreadable or corrupt file: one line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {h} and {c}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
