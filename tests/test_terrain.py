"""Terrain under the G1 (flat, slope, rough): the models collide with it where ``ground_height`` says
the ground is, fallen poses lie on it, and the getting-up evaluation runs on it through the runtime."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_learning.sim.g1_model import build_g1_spec
from robot_learning.sim.terrain import TerrainConfig


@pytest.mark.parametrize("variant", ["primitive", "mesh"])
@pytest.mark.parametrize("kind", ["slope", "rough"])
def test_the_g1_lands_on_the_terrain_where_ground_height_says(kind: str, variant: str) -> None:
    terrain = TerrainConfig(kind)  # type: ignore[arg-type]
    m = build_g1_spec(variant, terrain=terrain).compile()  # type: ignore[arg-type]
    d = mujoco.MjData(m)
    d.qpos[:3], d.qpos[3] = [1.0, 0.3, 1.0 + float(terrain.ground_height(np.array([[1.0, 0.3]]))[0])], 1.0
    floor = m.geom("floor").id
    for _ in range(1000):
        mujoco.mj_step(m, d)
    with_floor = [c for c in d.contact[: d.ncon] if floor in (c.geom1, c.geom2)]
    assert len(with_floor) >= 2
    pos = np.array([c.pos for c in with_floor])
    # contact points sit on the ground (half the penetration below or above it)
    np.testing.assert_allclose(pos[:, 2], terrain.ground_height(pos[:, :2]), atol=0.03)
    if kind == "slope":  # 1 m uphill of the origin the ground is 17.6 cm high
        assert np.mean(pos[:, 2]) > 0.1


def test_terrain_config_rejects_what_it_cannot_build() -> None:
    with pytest.raises(ValueError, match="terrain must be one of"):
        TerrainConfig("stairs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slope_deg"):
        TerrainConfig("slope", slope_deg=45.0)
    flat = TerrainConfig()
    np.testing.assert_array_equal(flat.ground_height(np.array([[3.0, -2.0]])), [0.0])


def test_fallen_poses_lie_on_the_slope() -> None:
    from robot_learning.tasks.getup.poses import FallenPoseConfig, generate_fallen_poses

    terrain = TerrainConfig("slope")
    qpos, _ = generate_fallen_poses(3, True, seed=0, config=FallenPoseConfig(terrain=terrain, max_settle_s=3.0))
    above = qpos[:, 2] - terrain.ground_height(qpos[:, :2])
    assert np.all((above > 0.03) & (above < 0.3)), above


def test_getup_eval_runs_on_terrain_through_the_runtime() -> None:
    from pathlib import Path

    from robot_learning.core.config import ConfigError
    from robot_learning.tasks.getup.module import eval_command

    policy = Path(__file__).resolve().parents[1] / "assets" / "policies" / "g1_getup_supine.onnx"
    res = eval_command(policy, episodes=1, terrain="rough")
    assert res["terrain"] == "rough" and res["supine"]["episodes"] == 1
    assert 0.0 < res["supine"]["mean_final_head_m"] < 2.0  # measured above the ground under the head
    with pytest.raises(ConfigError, match="--terrain"):
        eval_command(policy, episodes=1, terrain="stairs")
    with pytest.raises(ConfigError, match="MuJoCo"):
        eval_command(policy, sim="pybullet", episodes=1, terrain="slope")


def test_renders_draw_the_terrain() -> None:
    """The renderer builds the G1 on the terrain it is asked for (a height field for rough ground)."""
    from robot_learning.tasks.getup.render import _model, render_frames

    assert _model("primitive", "rough").nhfield == 1 and _model("primitive").nhfield == 0
    m = _model("primitive", "slope")
    assert abs(m.geom_quat[m.geom("floor").id][2]) > 0.05  # the tilted floor
    q = np.tile(m.qpos0, (2, 1))
    q[:, 2] = 1.0
    images, _ = render_frames(q, terrain="rough")
    assert len(images) == 2 and images[0].size[0] > 0


def test_heading_on_slope_is_where_the_head_points() -> None:
    """0 deg: the head points uphill (+x), 180: downhill, 90: across (+y); for lying robots, whose
    trunk axis (the pelvis's z) lies along the ground."""
    from robot_learning.tasks.getup.teacher import heading_on_slope

    h = np.sqrt(0.5)
    qpos = np.zeros((3, 30))
    qpos[0, 3:7] = [h, 0.0, h, 0.0]  # pitched +90 deg about y: z -> +x
    qpos[1, 3:7] = [h, 0.0, -h, 0.0]  # z -> -x
    qpos[2, 3:7] = [h, -h, 0.0, 0.0]  # rolled -90 deg about x: z -> +y
    np.testing.assert_allclose(np.abs(heading_on_slope(qpos)), [0.0, 180.0, 90.0], atol=1e-9)
    assert heading_on_slope(qpos)[2] > 0


def test_teacher_evaluation_on_a_chosen_slope_splits_success_by_heading() -> None:
    from robot_learning.sim.terrain import TerrainConfig
    from robot_learning.tasks.getup.teacher import evaluate_teacher

    r = evaluate_teacher("supine", episodes=4, seconds=1.0, terrain=TerrainConfig("slope"))  # 10 deg: the poses of the tests above
    assert r["terrain"] == "slope" and r["terrain_config"] == {"slope_deg": 10.0}
    assert sum(v["episodes"] for v in r["by_heading"].values()) == r["episodes"] == 4
    assert r["success_rate"] == 0.0  # nobody stands within 1 s
    flat = evaluate_teacher("supine", episodes=2, seconds=0.5, terrain=TerrainConfig("flat"))
    assert flat["terrain"] == "flat" and "by_heading" not in flat and "terrain_config" not in flat
