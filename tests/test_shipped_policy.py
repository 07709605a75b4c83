"""The shipped hover policy: loads with its contract, its C twin agrees with ONNX Runtime, and the
runtime flies it in PyBullet without a safety intervention."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.quadrotor.gate import fly_figure8
from robot_learning.tasks.quadrotor.module import robot_params_dict

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "policies"
POLICY = ASSETS / "crazyflie_hover.onnx"


def test_contract_and_report() -> None:
    runner = PolicyRunner(POLICY)
    runner.metadata.check_robot(crazyflie.NAME, crazyflie.MOTOR_NAMES, robot_params_dict(DEFAULT_PARAMS))
    report = json.loads((ASSETS / "crazyflie_hover.report.json").read_text())
    assert report["module"] == "quadrotor" and report["export"]["parity_max_abs_diff"] < 1e-5
    assert POLICY.stat().st_size < 5 * 1024 * 1024


def test_c_twin_matches(tmp_path: Path) -> None:
    import subprocess

    if shutil.which("gcc") is None:
        pytest.skip("gcc not found")
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\n#include "crazyflie_hover.h"\nint main(void){float i[CRAZYFLIE_HOVER_INPUT_DIM],o[CRAZYFLIE_HOVER_OUTPUT_DIM];'
                    'for(;;){for(int k=0;k<CRAZYFLIE_HOVER_INPUT_DIM;++k) if(scanf("%f",&i[k])!=1) return 0;'
                    'crazyflie_hover_evaluate(i,o);for(int k=0;k<CRAZYFLIE_HOVER_OUTPUT_DIM;++k) printf("%.9g ",o[k]);printf("\\n");}}\n')
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-I", str(ASSETS), "-o", str(exe), str(ASSETS / "crazyflie_hover.c"), str(main), "-lm"],
                   check=True, capture_output=True)
    x = np.random.default_rng(3).normal(size=(50, 146)).astype(np.float32) * 0.3
    out = subprocess.run([str(exe)], input="\n".join(" ".join(f"{v:.9g}" for v in r) for r in x), capture_output=True, text=True, check=True).stdout
    got = np.array([[float(v) for v in line.split()] for line in out.strip().splitlines()])
    assert np.abs(got - PolicyRunner(POLICY)(x)).max() < 1e-4


def test_runtime_flies_it_in_pybullet() -> None:
    """One full loop of the figure-eight after settling: the shipped policy follows it (RMSE well
    below hovering at the centre, covers the figure, moves with it) without a safety intervention."""
    res = fly_figure8(PolicyRunner(POLICY), seconds=10.0)
    assert res["faults"] == {}
    assert res["tracks_reference"] and res["success_rate"] == 1.0, res["reasons"]
    assert res["tracking_rmse_m"] < 0.6 * res["hover_rmse_m"]
    assert min(res["extent_ratio"].values()) > 0.5 and min(res["correlation"].values()) > 0.6


def test_a_policy_that_hovers_in_place_does_not_track_the_figure_eight(hover_policy: Path) -> None:
    """The same flight with an exported policy that commands the hover thrust whatever it sees (the
    ``hover_policy`` fixture): no fault, and an RMSE under the 0.5 m the test used to ask for, yet it
    fails every part of the criterion."""
    res = fly_figure8(PolicyRunner(hover_policy), seconds=10.0)
    assert res["faults"] == {}  # the runtime had no reason to intervene: only the tracking criterion can catch it
    assert res["tracking_rmse_m"] < 0.5  # what the old test accepted
    assert not res["tracks_reference"] and res["success_rate"] == 0.0
    assert abs(res["tracking_rmse_m"] - res["hover_rmse_m"]) < 0.02  # it stayed at the centre
    assert max(res["extent_ratio"].values()) < 0.05 and max(res["correlation"].values()) < 0.1
    assert len(res["reasons"]) == 5, res["reasons"]  # RMSE, two extents, two correlations


def test_rehearsed_faults_end_safely() -> None:
    """deploy --fault: a broken estimate e-stops (motors off, latched); a gust out of the training box
    hands over to the fallback, which rights the vehicle, descends and cuts the motors on the ground."""
    from robot_learning.tasks.quadrotor.gate import deploy_sim

    runner = PolicyRunner(POLICY)
    nan = deploy_sim(runner, seconds=5.0, trajectory="hover", realtime=False, fault="nan", fault_at=2.0)
    assert nan["final_mode"] == "ESTOP" and nan["final_command"] == [-1.0] * 4
    assert any("position[0]=nan" in t for t in nan["transitions"])
    push = deploy_sim(runner, seconds=6.0, trajectory="hover", realtime=False, fault="push", fault_at=1.0)
    assert push["final_mode"] == "DAMPING" and push["final_command"] == [-1.0] * 4
    assert push["final_height_m"] < 0.1
    assert any("training_box" in t for t in push["transitions"])
    stale = deploy_sim(runner, seconds=4.0, trajectory="hover", realtime=False, fault="stale", fault_at=1.0)
    assert stale["final_mode"] == "DAMPING" and stale["final_command"] == [-1.0] * 4
    assert any("ms old" in t for t in stale["transitions"])


def test_shipped_getup_policies_get_the_g1_up_through_the_runtime() -> None:
    """The shipped getting-up policies (88 % and 96 % of 100 held-out poses at 10 s): each knows its posture
    and stands at least 4 of the first 6 held-out poses of it, through the runtime in MuJoCo; the
    prone one rolls onto its back first (HumanUP's way), and the evaluation checks the roll."""
    from robot_learning.tasks.getup.module import eval_command

    for posture in ("supine", "prone"):
        path = ASSETS / f"g1_getup_{posture}.onnx"
        training = PolicyRunner(path).metadata.training
        assert training["postures"] == [posture]
        res = eval_command(path, sim="mujoco", model="primitive", episodes=6)
        assert res[posture]["episodes"] == 6 and res[posture]["success_rate"] >= 4 / 6, res[posture]
    assert training["prone_strategy"] == "roll" and training["rollover_s"] > 1.0
    assert res["prone"]["rolled_over"] >= 5 / 6, res["prone"]


def test_shipped_mesh_getup_policies_get_the_mesh_g1_up_through_the_runtime() -> None:
    """The policies trained on the mesh collision model (82 % and 81 % of 100 held-out poses there):
    the metadata names the model, and each stands at least 3 of the first 6 held-out poses of its
    posture in the mesh model, through the runtime."""
    from robot_learning.tasks.getup.module import eval_command

    for posture in ("supine", "prone"):
        path = ASSETS / f"g1_getup_{posture}_mesh.onnx"
        training = PolicyRunner(path).metadata.training
        assert training["postures"] == [posture] and training["collision_model"] == "mesh"
        res = eval_command(path, sim="mujoco", episodes=6)  # the model it was trained on, by default
        assert res["engine"] == "mujoco-mesh" and res["trained_on"] == "mesh"
        assert res[posture]["episodes"] == 6 and res[posture]["success_rate"] >= 3 / 6, res[posture]


@pytest.mark.slow  # rendering (16 s): in `make test-all`, not CI
def test_eval_render_writes_a_gif_of_a_held_out_get_up(tmp_path: Path) -> None:
    """`eval getup --render` writes an animated GIF of the first held-out episode at 25 frames/s (the
    first 2 s here; the robot moves, so the last frame is not the first)."""
    from PIL import Image

    from robot_learning.tasks.getup.module import eval_command

    gif = tmp_path / "clips" / "get-up.gif"
    res = eval_command(ASSETS / "g1_getup_supine.onnx", episodes=1, seconds=2.0, render=gif)
    assert res["render"] == str(gif) and gif.is_file()
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 50
        first = np.asarray(im.convert("RGB"), dtype=np.int16)
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert first.shape[2] == 3 and first.std() > 5  # a picture, not a blank frame
    assert np.mean(np.abs(first - last).sum(axis=2) > 30) > 0.005, "the robot did not move between the first and last frames"
