"""PPO from stable-baselines3 runs on the batched dream through the VecEnv adapter."""

import numpy as np
from stable_baselines3 import PPO

from agents.sb3_vec_env import GymVectorToSB3
from worldenv.dream_vector_env import DreamVectorEnv


def test_ppo_learns_a_few_steps_on_batched_dreams(tiny_world):
    venv = GymVectorToSB3(DreamVectorEnv(num_envs=4, world=tiny_world, max_episode_steps=5))
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (4, 64, 64, 3)
    venv.step_async(np.array([0, 1, 2, 3]))
    obs, rewards, dones, infos = venv.step_wait()
    assert rewards.shape == (4,) and dones.shape == (4,) and len(infos) == 4
    model = PPO("CnnPolicy", venv, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"normalize_images": True})
    model.learn(total_timesteps=32)
    action, _ = model.predict(obs)
    assert action.shape == (4,)
    # episodes of 5 steps are truncated and restarted with terminal observations
    venv.reset()
    for _ in range(5):
        venv.step_async(np.zeros(4, dtype=np.int64))
        _, _, dones, infos = venv.step_wait()
    assert dones.all() and all("terminal_observation" in i for i in infos)
