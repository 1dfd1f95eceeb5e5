"""SoraWorld environments: the real games and their dreams, with one Gymnasium interface.

Importing this package registers the env ids with Gymnasium:

- `SoraWorld-v0`: the dream of any world (`worldenv.dream_env.DreamEnv`; `gym.make_vec("SoraWorld-v0",
  num_envs=N)` gives the batched `worldenv.dream_vector_env.DreamVectorEnv`).
- each game plugin's real game (`worldenv.games`): `SoraWorld/Crafter-v1`, `SoraWorld/Minetest-v0`.

Gymnasium 1.x has no plugin entry points, so either `import worldenv` first or use the
module-qualified id, e.g. `gym.make("worldenv:SoraWorld-v0")`.
"""

from gymnasium.envs.registration import register, registry

DREAM_ID = "SoraWorld-v0"
CRAFTER_ID = "SoraWorld/Crafter-v1"
MINETEST_ID = "SoraWorld/Minetest-v0"

if DREAM_ID not in registry:
    register(
        id=DREAM_ID,
        entry_point="worldenv.dream_env:DreamEnv",
        vector_entry_point="worldenv.dream_vector_env:DreamVectorEnv",
        # DreamEnv truncates itself at max_episode_steps (10,000 by default).
    )

if CRAFTER_ID not in registry:
    register(
        id=CRAFTER_ID,
        entry_point="worldenv.games.crafter.env:CrafterEnv",
        max_episode_steps=None,  # the game truncates itself at `length`
    )

if MINETEST_ID not in registry:
    register(
        id=MINETEST_ID,
        entry_point="worldenv.games.minetest.env:MinetestEnv",
        nondeterministic=True,  # real time: the same seed and actions give close, not equal, frames
        max_episode_steps=None,  # MinetestEnv(max_steps=...) truncates itself
    )
