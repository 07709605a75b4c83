"""One observation builder for training (torch) and the robot (numpy): same numbers from both."""
import numpy as np
import pytest
import torch

from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.runtime.observation import ObservationBuilder, push_history, quat_to_rotmat
from robot_learning.runtime.quadrotor import QuadrotorObservation, QuadrotorObservationConfig
from robot_learning.tasks.quadrotor.config import QuadrotorEnvConfig
from robot_learning.tasks.quadrotor.env import QuadrotorHoverEnv
from robot_learning.types import ObsLayout, ObsTerm, RobotState


def test_rotmat_matches_for_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    a = quat_to_rotmat(q, np.zeros((5, 9)))
    b = quat_to_rotmat(torch.from_numpy(q), torch.zeros(5, 9, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-12)
    R = a.reshape(5, 3, 3)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-9)


def test_builder_errors_name_the_term() -> None:
    b = ObservationBuilder(ObsLayout((ObsTerm("a", 2), ObsTerm("b", 3, 0.5))))
    out = b.build({"a": np.ones(2), "b": np.full(3, 4.0)}, np.zeros(5))
    np.testing.assert_allclose(out, [1, 1, 2, 2, 2])
    with pytest.raises(KeyError, match="'b' missing"):
        b.build({"a": np.ones(2)}, np.zeros(5))
    with pytest.raises(ValueError, match="'b' has 4 values, the layout expects 3"):
        b.build({"a": np.ones(2), "b": np.ones(4)}, np.zeros(5))


def test_history_shift_same_for_both() -> None:
    hn = np.zeros((3, 2))
    ht = torch.zeros(1, 3, 2)
    for k in range(4):
        push_history(hn, np.full(2, float(k)))
        push_history(ht, torch.full((1, 2), float(k)))
    np.testing.assert_allclose(hn, ht[0].numpy())
    np.testing.assert_allclose(hn[:, 0], [1, 2, 3])  # oldest first, newest last


def test_runtime_observation_equals_training_observation() -> None:
    """The robot's observation of a state equals the simulator's (noise off) for the same state and history."""
    cfg = QuadrotorEnvConfig(num_envs=4, noise_position=0, noise_orientation=0, noise_linear_velocity=0, noise_angular_velocity=0)
    env = QuadrotorHoverEnv(cfg, DEFAULT_PARAMS, seed=1)
    for _ in range(5):
        env.step(torch.rand(4, 4) * 2 - 1)
    obs_sim, _ = env.observe()
    rt = QuadrotorObservation(QuadrotorObservationConfig(history=cfg.action_history, max_position_error=10, max_velocity=100), DEFAULT_PARAMS.hover_action)
    builder = ObservationBuilder(env.actor_layout)
    for i in range(4):
        x = env.state[i].double().numpy()
        state = RobotState(0.0, {"position": x[0:3] + np.array([0.0, 0.0, 1.0]), "quaternion": x[3:7], "linear_velocity": x[7:10],
                                 "angular_velocity": x[10:13]})
        rt.history[:] = env.history[i].double().numpy()
        obs_rt = builder.build(rt.fields(state, np.array([0.0, 0.0, 1.0])), np.zeros(env.actor_layout.size))
        np.testing.assert_allclose(obs_rt, obs_sim[i].double().numpy(), atol=1e-5)


def test_clipped_term_round_trips_and_clips() -> None:
    layout = ObsLayout((ObsTerm("a", 2, 1.0), ObsTerm("policy_time", 1, 0.1, 1.0)))
    back = ObsLayout.from_dict(layout.to_dict())
    assert back == layout and "clip" not in layout.to_dict()["terms"][0]  # unclipped terms serialise as before
    out = np.zeros(3)
    ObservationBuilder(back).build({"a": np.array([2.0, -3.0]), "policy_time": np.array([25.0])}, out)
    np.testing.assert_allclose(out, [2.0, -3.0, 1.0])  # 25 s * 0.1, clipped to 1
    batch = np.zeros((2, 3), dtype=np.float32)
    ObservationBuilder(back).build({"a": np.ones((2, 2)), "policy_time": np.array([[0.5], [40.0]])}, batch)
    np.testing.assert_allclose(batch[:, 2], [0.05, 1.0])


def test_joint_observation_counts_policy_time_from_reset() -> None:
    from robot_learning.runtime.joint_controller import JointObservation
    from robot_learning.types import RobotState

    obs = JointObservation((ObsTerm("policy_time", 1),), 2, np.zeros(2), dt=0.02)
    s = RobotState(0.0, {"joint_position": np.zeros(2), "joint_velocity": np.zeros(2)})
    times = [float(obs.fields(s)["policy_time"][0]) for _ in range(3)]
    np.testing.assert_allclose(times, [0.0, 0.02, 0.04])
    obs.reset()
    assert float(obs.fields(s)["policy_time"][0]) == 0.0
