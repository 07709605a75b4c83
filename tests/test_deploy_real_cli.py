"""`robot-learning deploy` for the real robots refuses clearly when the robot is not there: the
Crazyflie's link (--link) and the Panda's FCI host (--franka-host), each against a loopback port
where nothing listens (no packet ever leaves 127.0.0.1). The G1's (--transport unitree) is in
tests/test_unitree_g1.py."""
from __future__ import annotations

import socket
import time

import pytest

from robot_learning.cli import main


def _free_loopback_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_deploy_crazyflie_link_refuses_in_one_line_when_nothing_listens_on_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"udp://127.0.0.1:{_free_loopback_udp_port()}"
    t0 = time.monotonic()
    assert main(["deploy", "--robot", "crazyflie", "--link", uri, "--seconds", "2"]) == 2
    assert time.monotonic() - t0 < 30
    assert uri in _one_line_error(capsys)


def test_deploy_panda_franka_host_refuses_in_one_line_franky_cannot_connect_here(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if s.connect_ex(("127.0.0.1", 1337)) == 0:
            pytest.skip("something listens on 127.0.0.1:1337 (libfranka's port)")
    args = ["deploy", "--robot", "panda", "--franka-host", "127.0.0.1", "--object-xyz", "0.5", "0.0", "0.02",
            "--goal-xyz", "0.5", "0.2", "0.0", "--seconds", "2"]
    assert main(args) == 2
    assert "127.0.0.1" in _one_line_error(capsys)


@pytest.mark.parametrize("args, match", [
    (["--robot", "crazyflie", "--link", "udp://127.0.0.1:9", "--policy", "p.onnx"], "drop --policy"),
    (["--robot", "g1", "--link", "udp://127.0.0.1:9"], "not 'g1'"),
    (["--robot", "crazyflie", "--link", "udp://127.0.0.1:9", "--franka-host", "127.0.0.1"], "give one"),
    (["--robot", "panda", "--franka-host", "127.0.0.1", "--sim", "bridge"], "rehearsals"),
    (["--robot", "g1"], "--policy is required"),
])
def test_deploy_real_robot_flags_are_checked_before_anything_connects(args: list[str], match: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", *args]) == 2
    assert match in _one_line_error(capsys)
