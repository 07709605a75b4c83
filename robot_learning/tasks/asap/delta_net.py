"""The delta-action model's network (torch; imported only when training).

:class:`JointwiseActor`: one small MLP shared by all joints. Each joint's delta is computed from that
joint's own features (``0.1 qd_j``, ``a_j - q_j``, ``a_j - a_prev_j``) and a learned embedding of the
joint. Why not the paper's single MLP over every input: fitted to one deployment (about 20 s of
motions), a whole-body MLP learns the motions' cross-joint correlations, which a motion it has not
seen does not share (measured on the worn_actuators world, held-out side_step, 1 s replay: raw
simulator 0.0140 rad, whole-body MLP 0.0220). The gaps an actuator model has (gain error, latency,
friction, gear play, speed-dependent torque limits) act joint by joint, and a factorised model
cannot learn a correlation that is not there. The input and output are the same as the MLP's, so
everything else (training, fine-tuning, ONNX) is unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from robot_learning.algos.ppo import RunningNorm, mlp


class JointwiseActor(nn.Module):
    """``(N, features * joints)`` observation, grouped feature-major (all joints' first feature, then
    all joints' second, ...) -> ``(N, joints)``; ``norm`` and ``net`` as PPO's :class:`Actor`."""

    def __init__(self, num_joints: int, features: int, hidden: tuple[int, ...], embedding: int, activation: str = "elu",
                 seed: int = 0) -> None:
        super().__init__()
        self.num_joints, self.features = num_joints, features
        self.norm = RunningNorm(num_joints * features)
        gen = torch.Generator().manual_seed(seed)
        self.embedding = nn.Parameter(0.5 * torch.randn(num_joints, embedding, generator=gen))
        self.net = mlp([features + embedding, *hidden, 1], activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.norm(obs).reshape(obs.shape[0], self.features, self.num_joints).transpose(1, 2)
        emb = self.embedding.unsqueeze(0).expand(obs.shape[0], -1, -1)
        return self.net(torch.cat([x, emb], -1)).squeeze(-1)
