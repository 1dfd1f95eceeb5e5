"""Policy networks for image observations, by name: SB3's "cnn" (Nature DQN's three convolutions)
and "impala", the residual CNN of IMPALA (Espeholt et al. 2018) that PPO-ResNet uses on Crafter.

    from agents.networks import policy_kwargs
    PPO("CnnPolicy", env, policy_kwargs=policy_kwargs("impala"))

A policy checkpoint stores its network's name (`agents.policy_io`), so it loads into the same one.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

NETWORKS = ("cnn", "impala")


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(relu(x)))), channels kept."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ImpalaStage(nn.Module):
    """conv -> 3x3 max-pool stride 2 -> two residual blocks: halves H and W."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res0, self.res1 = ResidualBlock(c_out), ResidualBlock(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res1(self.res0(self.pool(self.conv(x))))


class ImpalaCNN(BaseFeaturesExtractor):
    """IMPALA's residual CNN as an SB3 feature extractor: stages of `channels` (each halves the
    image: 72x72 -> 9x9 after three), then ReLU, flatten and a linear layer to `features`.
    Observations arrive as (b, c, h, w) uint8-range floats; SB3 scales them to [0, 1]."""

    def __init__(self, observation_space: gym.spaces.Box, features: int = 256, channels: tuple[int, ...] = (16, 32, 32)):
        super().__init__(observation_space, features)
        c = observation_space.shape[0]
        stages = []
        for out in channels:
            stages.append(ImpalaStage(c, out))
            c = out
        self.stages = nn.Sequential(*stages)
        with torch.no_grad():
            n = self.stages(torch.zeros(1, *observation_space.shape)).numel()
        self.head = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(n, features), nn.ReLU())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (b c h w) -> (b features)
        return self.head(self.stages(obs))


def policy_kwargs(network: str) -> dict:
    """SB3 `policy_kwargs` of a network named in NETWORKS ("cnn": SB3's default)."""
    if network == "cnn":
        return {}
    if network == "impala":
        # net_arch []: the policy and value heads sit on the features directly, as SB3 does for its
        # own CNN (for any other extractor it would add two 64-unit layers to each)
        return {"features_extractor_class": ImpalaCNN, "features_extractor_kwargs": {"features": 256}, "net_arch": []}
    raise ValueError(f"unknown policy network {network!r}; choose from {list(NETWORKS)}")
