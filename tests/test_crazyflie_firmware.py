"""The Crazyflie on-board controller (firmware/crazyflie): host build against ONNX Runtime and the
runtime's observation builder, the dead-man switch, the parameters, the boot self-test, the ARM
build, and software in the loop against the PyBullet Crazyflie beside the runtime's rehearsal."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from robot_learning.export.crazyflie_firmware import FirmwareExportError, HostController, generate, random_observations
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.quadrotor import QuadrotorObservation, QuadrotorObservationConfig
from robot_learning.types import RobotState

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware" / "crazyflie"
POLICY = ROOT / "assets" / "policies" / "crazyflie_hover.onnx"
HOVER = 0.33405300460415477
SETPOINT = np.array([0.0, 0.0, 1.0])


def make(target: str, gen: Path, out: Path, policy: Path = POLICY) -> subprocess.CompletedProcess:
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and a C compiler are needed to build the controller")
    r = subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"PYTHON={sys.executable}", f"POLICY={policy}", f"GEN={gen}", f"OUT={out}", target],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"make {target} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rlctl")
    make("host", d / "gen", d / "out")
    return d


@pytest.fixture()
def ctl(build: Path) -> HostController:
    c = HostController(build / "out" / "host" / "librlctl.so")
    c.init()
    c.set_param("rlctl.mode", 1)
    return c


def tick(c: HostController, now: int, stamp: int | None, position=(0.0, 0.0, 1.0), quat=(1.0, 0.0, 0.0, 0.0), vel=(0.0, 0.0, 0.0),
         gyro_deg=(0.0, 0.0, 0.0), setpoint=SETPOINT, position_setpoint: bool = True) -> tuple[int, np.ndarray]:
    return c.tick(now, now, np.asarray(position), np.asarray(quat), np.asarray(vel), np.asarray(gyro_deg), setpoint,
                  0 if stamp is None else stamp, position_setpoint)


def test_host_build_equals_onnx_runtime_on_1000_random_observations(ctl: HostController) -> None:
    obs = random_observations(1000, seed=3)
    ref = PolicyRunner(POLICY)(obs)
    got = ctl.evaluate(obs)
    assert got.shape == ref.shape == (1000, 4)
    assert np.abs(got - ref).max() < 1e-5


def test_controller_observation_is_the_runtime_observation(ctl: HostController) -> None:
    """What controllerOutOfTree builds from the firmware's state equals the runtime's observation
    (QuadrotorObservation + ObservationBuilder with the policy's layout), clipping included."""
    runner = PolicyRunner(POLICY)
    fields = QuadrotorObservation(QuadrotorObservationConfig(), HOVER)
    q = np.array([0.9, 0.2, -0.3, 0.25])
    q /= np.linalg.norm(q)
    state = {"position": np.array([0.9, -0.2, 0.3]), "quaternion": q, "linear_velocity": np.array([2.7, -0.4, -3.0]),
             "angular_velocity": np.array([1.5, -2.0, 0.7])}
    expected = ObservationBuilder(runner.metadata.observation_layout).build(
        fields.fields(RobotState(0.0, state), SETPOINT), np.zeros(runner.metadata.observation_layout.size))
    tick(ctl, 100, 100, state["position"], q, state["linear_velocity"], np.degrees(state["angular_velocity"]))
    got, steps = ctl.last_observation()
    assert steps == 1
    assert got[0] == pytest.approx(0.5) and got[12] == pytest.approx(2.0) and got[14] == pytest.approx(-2.0)  # clipped
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_policy_runs_at_500hz_and_history_advances_at_100hz(ctl: HostController) -> None:
    history = []
    actions = []
    for now in range(1000, 1100):  # 100 ms of 1 kHz ticks, triggered every 10 ms
        tick(ctl, now, now - now % 10, position=(0.05, -0.03, 0.98))
        obs, steps = ctl.last_observation()
        if now % 2 == 0:
            history.append(obs[18:].reshape(32, 4).copy())
            actions.append([ctl.log(f"rlctl.m{i}") / 65535.0 * 2 - 1 for i in range(1, 5)])
    assert steps == 50  # every 2nd tick
    h = np.asarray(history)
    changes = [i for i in range(1, len(h)) if not np.array_equal(h[i], h[i - 1])]
    assert changes == [5 * k for k in range(1, 10)]  # once per 10 ms window (5 policy steps)
    a = np.asarray(actions)
    for k in range(1, 10):  # the newest entry is the mean command of the window before
        np.testing.assert_allclose(h[5 * k][-1], a[5 * (k - 1):5 * k].mean(axis=0), atol=1e-4)
        np.testing.assert_array_equal(h[5 * k][:-1], h[5 * k - 1][1:])
    assert np.all(h[0] == np.float32(HOVER))


def test_action_maps_to_rpm_and_16_bit_ratio(ctl: HostController) -> None:
    mode, forces = tick(ctl, 100, 100)
    assert mode == 2  # controlModeForce: normalised per-motor forces
    ratios = np.array([ctl.log(f"rlctl.m{i}") for i in range(1, 5)])
    np.testing.assert_array_equal(np.round(forces * 65535.0), ratios)
    obs, _ = ctl.last_observation()
    a = np.clip(PolicyRunner(POLICY)(obs[None])[0], -1, 1)
    rpm = 21702.0 * (a + 1) / 2
    np.testing.assert_allclose(ratios, np.round(rpm / 21702.0 * 65535.0), atol=1)


@pytest.mark.parametrize("last_trigger", [1000, 1003, 1017])
def test_dead_man_switch_cuts_the_motors_200ms_after_the_last_trigger(ctl: HostController, last_trigger: int) -> None:
    on_until = None
    stamp = None
    for now in range(500, last_trigger + 400):
        if now <= last_trigger and (now % 10 == 0 or now == last_trigger):
            stamp = now
        _, forces = tick(ctl, now, stamp)
        if np.any(forces > 0):
            on_until = now
            assert ctl.log("rlctl.active") == 1
        else:
            assert ctl.log("rlctl.active") == 0
            assert np.all(forces == 0)
    assert on_until is not None
    assert abs((on_until + 1) - (last_trigger + 200)) <= 1  # first tick with the motors off


def test_motors_off_without_a_position_setpoint_and_before_any_trigger(ctl: HostController) -> None:
    _, forces = tick(ctl, 5, None, position_setpoint=False)  # at boot: the commander's null setpoint (tick 0, modes disabled)
    assert np.all(forces == 0)
    _, forces = tick(ctl, 100, 100)
    assert np.any(forces > 0)
    _, forces = tick(ctl, 101, 101, position_setpoint=False)  # e.g. the ground's stop setpoint
    assert np.all(forces == 0) and ctl.log("rlctl.active") == 0


def test_non_finite_state_turns_the_motors_off(ctl: HostController) -> None:
    _, forces = tick(ctl, 100, 100, position=(np.nan, 0.0, 1.0))
    assert np.all(forces == 0)
    assert ctl.log("rlctl.nonfinite") == 1


def test_mode_0_hands_every_tick_to_the_stock_controller(ctl: HostController) -> None:
    ctl.set_param("rlctl.mode", 0)
    before = ctl.pid_calls
    for now in range(100, 110):
        mode, _ = tick(ctl, now, now)
        assert mode == 0  # the stand-in PID's legacy control
    assert ctl.pid_calls - before == 10
    assert ctl.log("rlctl.active") == 0


def test_parameters_have_the_names_the_ground_uses(ctl: HostController) -> None:
    assert ctl.param("rlctl.mode") == 1
    ctl.set_param("rlctl.mode", 0)
    assert ctl.param("rlctl.mode") == 0
    assert ctl.param("rlctl.selftest") == 1  # passed
    with pytest.raises(PermissionError, match="read-only"):
        ctl.set_param("rlctl.selftest", 1)
    with pytest.raises(KeyError):
        ctl.param("rlctl.nosuch")
    assert ctl.test()


def test_boot_self_test_fails_on_a_corrupted_weight(build: Path, tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    shutil.copytree(build / "gen", gen)
    src = (gen / "rlctl_policy.c").read_text()
    # the first hidden unit's weight on the x position error: 1.72... -> 1.62... (one flipped digit)
    head, body = src.split("static const float W0[9344] = {", 1)
    first = re.search(r"-?[0-9.]+(e-?[0-9]+)?f", body)
    assert first is not None
    value = float(first.group(0)[:-1])
    body = body[:first.start()] + f"{value - 0.1:.9g}f" + body[first.end():]
    (gen / "rlctl_policy.c").write_text(head + "static const float W0[9344] = {" + body)
    make("host", gen, tmp_path / "out")
    bad = HostController(tmp_path / "out" / "host" / "librlctl.so")
    bad.init()
    assert bad.param("rlctl.selftest") == 2  # failed
    assert not bad.test()  # controllerOutOfTreeTest: the firmware's self-test fails too
    assert bad.log("rlctl.selftestErr") > 100  # > 1e-4, in 1e-6 units
    bad.set_param("rlctl.mode", 1)
    _, forces = tick(bad, 100, 100)
    assert np.all(forces == 0)  # a failed self-test never flies


def test_arm_build_compiles_for_cortex_m4(tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not found: the ARM build is not checked here (Debian: apt-get install gcc-arm-none-eabi)")
    make("arm", tmp_path / "gen", tmp_path / "out")
    report = json.loads((tmp_path / "out" / "arm" / "report.json").read_text())
    assert (tmp_path / "out" / "arm" / "librlctl.a").is_file()
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(tmp_path / "out" / "arm" / "rlctl_policy.o")], capture_output=True, text=True).stdout
    assert "v7E-M" in attrs and "VFP registers" in attrs  # Cortex-M4, hard-float calling convention
    assert 0 < report["flash_bytes"] < 1024 * 1024 and 0 < report["ram_bytes"] < 192 * 1024
    # the policy tick's stack (gcc's frames along controllerOutOfTree -> rlctl_step -> the network) stays
    # well inside the stabiliser task's 1,800 B: no activation arrays on the stack (they took 1,352 B)
    assert report["stack_policy_tick_bytes"] < 400, report["stack_frames_bytes"]
    if report.get("policy_step_instructions") is not None:  # the emulator (unicorn) is installed
        assert report["self_test_on_arm_code"] == "passed"
        assert report["action_max_abs_diff_to_stored"] < 1e-5
        assert report["policy_step_stack_bytes_emulated"] < 200  # measured below rlctl_arm_policy_step, libm included
        # 13,696 multiply-adds: each one VFMA, and the rest cheap (it was 84,346 instructions, 0.99 ms)
        assert 13696 < report["policy_step_instructions"] < 30_000
        assert report["policy_step_us_at_168MHz"] < 500  # <= 25 % of the CPU at 500 Hz


def test_generate_refuses_a_policy_whose_layout_the_controller_does_not_build(tmp_path: Path) -> None:
    model = onnx.load(str(POLICY))
    for p in model.metadata_props:
        if p.key == "observation_layout":
            layout = json.loads(p.value)
            layout["terms"][2], layout["terms"][3] = layout["terms"][3], layout["terms"][2]  # velocity <-> body rates
            p.value = json.dumps(layout)
    onnx.save(model, str(tmp_path / "swapped.onnx"))
    with pytest.raises(FirmwareExportError, match="observation_layout"):
        generate(tmp_path / "swapped.onnx", tmp_path / "gen")


def test_firmware_sil_hovers_like_the_runtime_rehearsal_on_a_few_episodes(ctl: HostController) -> None:
    from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
    from robot_learning.tasks.quadrotor.firmware_sil import compare

    r = compare(ctl, str(POLICY), QuadrotorTrainConfig(), episodes=6, seed=0)
    fw, rt = r["firmware_sil"], r["runtime_rehearsal"]
    assert rt["success_rate"] > 0.8  # the gate's first 6 episodes: ones the runtime hovers from
    assert fw["success_per_episode"] == rt["success_per_episode"]
    assert abs(fw["hover_error_m"] - rt["hover_error_m"]) < 0.01


@pytest.mark.slow
def test_firmware_sil_success_within_2_points_of_the_runtime_rehearsal_on_100_episodes(ctl: HostController) -> None:
    from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
    from robot_learning.tasks.quadrotor.firmware_sil import compare

    r = compare(ctl, str(POLICY), QuadrotorTrainConfig(), episodes=100, seed=0)
    assert abs(r["success_difference_points"]) <= 2.0, r
    assert r["firmware_sil"]["success_rate"] >= 0.9
