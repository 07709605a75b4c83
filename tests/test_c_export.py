"""Plain-C export: compiled with gcc, checked against ONNX Runtime on random inputs."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from robot_learning.algos.td3 import mlp
from robot_learning.export.c_export import FAST_TANH_MAX_ERROR, UnsupportedGraphError, export_c
from robot_learning.export.onnx_export import export_policy
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.module import make_metadata

HARNESS = r"""
#include <stdio.h>
#include "policy.h"
int main(void) {
    float in[POLICY_INPUT_DIM], out[POLICY_OUTPUT_DIM];
    for (;;) {
        for (int i = 0; i < POLICY_INPUT_DIM; ++i) if (scanf("%f", &in[i]) != 1) return 0;
        policy_evaluate(in, out);
        for (int o = 0; o < POLICY_OUTPUT_DIM; ++o) printf("%.9g ", out[o]);
        printf("\n");
    }
}
"""


def compile_and_run(onnx_path: Path, tmp: Path, inputs: np.ndarray, fast_tanh: bool = True) -> np.ndarray:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    h, c = export_c(onnx_path, tmp, "policy", fast_tanh=fast_tanh)
    (tmp / "main.c").write_text(HARNESS)
    exe = tmp / "policy_test"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-o", str(exe), str(c), str(tmp / "main.c"), "-lm"], check=True, capture_output=True)
    text = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in inputs)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout
    return np.array([[float(v) for v in line.split()] for line in out.strip().splitlines()])


@pytest.mark.parametrize("activation,hidden", [("tanh", [64, 64]), ("relu", [32, 16]), ("elu", [24]), ("tanh", [30, 7])])
def test_c_matches_onnx_runtime(tmp_path: Path, activation: str, hidden: list[int]) -> None:
    torch.manual_seed(1)
    actor = mlp([146, *hidden, 4], activation, torch.nn.Tanh)
    export_policy(actor, make_metadata(QuadrotorTrainConfig(), DEFAULT_PARAMS, {}), tmp_path / "p.onnx")
    x = np.random.default_rng(0).normal(size=(100, 146)).astype(np.float32)
    ref = PolicyRunner(tmp_path / "p.onnx")(x)
    got = compile_and_run(tmp_path / "p.onnx", tmp_path, x)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-4
    header = (tmp_path / "policy.h").read_text()
    assert "#define POLICY_INPUT_DIM 146" in header and "crazyflie" in header


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 3], [1.0, 2.0, 1.0])
    node = helper.make_node("Conv", ["obs", "w"], ["y"], name="conv0", pads=[1, 1])
    onnx.save(helper.make_model(helper.make_graph([node], "g", [x], [y], [w])), str(tmp_path / "conv.onnx"))
    with pytest.raises(UnsupportedGraphError, match="'Conv'.*conv0"):
        export_c(tmp_path / "conv.onnx", tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        export_c(tmp_path / "nope.onnx", tmp_path)


def _tanh_actor(tmp: Path, hidden: list[int]) -> Path:
    torch.manual_seed(1)
    actor = mlp([146, *hidden, 4], "tanh", torch.nn.Tanh)
    export_policy(actor, make_metadata(QuadrotorTrainConfig(), DEFAULT_PARAMS, {}), tmp / "p.onnx")
    return tmp / "p.onnx"


def test_fast_tanh_is_within_its_stated_error_bound_on_a_dense_sweep(tmp_path: Path) -> None:
    """The generated rational tanh, compiled, against float64 tanh on 200,000 points of [-10, 10]
    (and exactly 0 at 0, odd, NaN in -> NaN out)."""
    x = helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Tanh", ["obs"], ["y"])], "g", [x], [y])), str(tmp_path / "t.onnx"))
    grid = np.linspace(-10.0, 10.0, 200_000).astype(np.float32)
    got = compile_and_run(tmp_path / "t.onnx", tmp_path, grid.reshape(200, 1000)).reshape(-1)
    err = np.abs(got - np.tanh(grid.astype(np.float64)))
    assert err.max() <= FAST_TANH_MAX_ERROR, (err.max(), grid[err.argmax()])
    assert "tanhf" not in (tmp_path / "policy.c").read_text()
    edge = compile_and_run(tmp_path / "t.onnx", tmp_path, np.array([[0.0, float("nan"), 3.0, -3.0, 50.0, -50.0] + [0.0] * 994], dtype=np.float32))[0]
    assert edge[0] == 0.0 and np.isnan(edge[1]) and edge[2] == -edge[3] and abs(edge[4]) <= 1.0 + 2e-7 and edge[5] == -edge[4]


def test_libm_tanh_on_request(tmp_path: Path) -> None:
    p = _tanh_actor(tmp_path, [16])
    x = np.random.default_rng(0).normal(size=(20, 146)).astype(np.float32)
    got = compile_and_run(p, tmp_path, x, fast_tanh=False)
    assert "tanhf(v)" in (tmp_path / "policy.c").read_text()
    assert np.abs(got - PolicyRunner(p)(x)).max() < 1e-5


def test_generated_c_keeps_activations_off_the_stack(tmp_path: Path) -> None:
    """No array in any generated function (the activations are two static buffers of the widest
    layer), and gcc's -fstack-usage shows small frames: a 146-64-64-4 network's evaluate on the host
    stays far below the one 64-float array (256 B) it would need on the stack."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    _h, c = export_c(_tanh_actor(tmp_path, [64, 64]), tmp_path, "policy")
    src = c.read_text()
    bodies = re.findall(r"^(?:static )?(?:void|float) \w+\([^)]*\) \{\n(.*?)^\}", src, re.S | re.M)
    assert len(bodies) == 3  # affine, tanh, evaluate
    for body in bodies:
        assert not re.search(r"\b(float|int)\s+\w+\s*\[", body), body
    assert "static float policy_buf_a[64];" in src and "static float policy_buf_b[64];" in src
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-fstack-usage", "-c", "-o", str(tmp_path / "p.o"), str(c)],
                   check=True, capture_output=True, cwd=tmp_path)
    frames = {line.split("\t")[0].rsplit(":", 1)[-1]: int(line.split("\t")[1]) for line in (tmp_path / "p.su").read_text().splitlines()}
    assert "policy_evaluate" in frames
    assert max(frames.values()) <= 64, frames
