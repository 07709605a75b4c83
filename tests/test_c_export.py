"""Plain-C export: compiled with gcc, checked against ONNX Runtime on random inputs."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from robot_learning.algos.td3 import mlp
from robot_learning.export.c_export import UnsupportedGraphError, export_c
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


def compile_and_run(onnx_path: Path, tmp: Path, inputs: np.ndarray) -> np.ndarray:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    h, c = export_c(onnx_path, tmp, "policy")
    (tmp / "main.c").write_text(HARNESS)
    exe = tmp / "policy_test"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-o", str(exe), str(c), str(tmp / "main.c"), "-lm"], check=True, capture_output=True)
    text = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in inputs)
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout
    return np.array([[float(v) for v in line.split()] for line in out.strip().splitlines()])


@pytest.mark.parametrize("activation,hidden", [("tanh", [64, 64]), ("relu", [32, 16]), ("elu", [24])])
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
