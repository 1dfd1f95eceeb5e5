"""SoraWorld environments: the real games and (later) their dreams, with one Gymnasium interface.

Importing this package registers the env ids with Gymnasium:

- `SoraWorld/Crafter-v1`: the real Crafter game (`worldenv.games.crafter.CrafterEnv`).

Gymnasium 1.x has no plugin entry points, so either `import worldenv` first or use the
module-qualified id, e.g. `gym.make("worldenv:SoraWorld/Crafter-v1")`.
"""

from gymnasium.envs.registration import register, registry

CRAFTER_ID = "SoraWorld/Crafter-v1"

if CRAFTER_ID not in registry:
    register(
        id=CRAFTER_ID,
        entry_point="worldenv.games.crafter:CrafterEnv",
        max_episode_steps=None,  # the game truncates itself at `length`
    )
