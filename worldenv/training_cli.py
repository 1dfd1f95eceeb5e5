"""Entry points of the training steps that need to know the recordings' game.

`model/` imports no game, so the trainers take the game plugins as an argument (`games`); these
functions pass them (`soraworld-encode-latents`, `soraworld-train-world`, and the scripts).
"""

from __future__ import annotations

from worldenv.games import get_game


def encode_latents(argv=None) -> None:
    """`scripts/encode_latents.py`: recordings -> a latent cache (`model.latent_encoding`)."""
    from model.latent_encoding import main

    main(argv, games=get_game)


def train_world(argv=None) -> None:
    """`scripts/train_world.py`: the DiT on latent caches (`model.world_training`)."""
    from model.world_training import main

    main(argv, games=get_game)
