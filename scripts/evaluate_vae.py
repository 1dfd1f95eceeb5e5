"""Evaluate a VideoVAE on held-out recordings: PSNR, tile and inventory accuracy, speed
(`model.vae_evaluation`; `--help` for the flags).

    python scripts/evaluate_vae.py --vae worldenv/worlds/crafter72/vae.safetensors \
        --data data/crafter72_heldout --frames 2000 --json runs/vae_eval.json

Tiles are read with the frame parser of the recordings' game (`worldenv.games`); a game without
one (Minetest) gets PSNR and speed only. `--size W H` evaluates at a resized frame size (default:
the VAE's training size), and also gives the PSNR at the native size:

    python scripts/evaluate_vae.py --vae runs/minetest_vae/vae.safetensors --data data/minetest_heldout \
        --size 96 72 --batch 64 --json results/minetest/vae.json
"""

import importlib

from model.recordings import recorded_game
from model.vae_evaluation import main
from worldenv.games import get_game


def tile_reader(data: str):
    """`parser_for(size, view)`: the frame parser of the game the recordings in `data` hold (None
    where the game has none: the evaluation is then of pixels only)."""
    game = get_game(recorded_game(data))
    if game.frame_parser((64, 64)) is None:  # a game without tiles to read (any size)
        return None

    def parser_for(size, view):
        parser = game.frame_parser(size)
        if parser is None:
            raise SystemExit(f"error: {game.name} has no frame parser to read tiles with")
        if tuple(parser.view) != tuple(view):  # the plugin's parser takes the game's default tile view
            parser = type(parser)(size=tuple(size), view=tuple(view))
        if not hasattr(parser, "class_names"):  # the tile classes' names, from the parser's module
            parser.class_names = getattr(importlib.import_module(type(parser).__module__), "CLASS_NAMES", None)
        return parser

    return parser_for


if __name__ == "__main__":
    main(tile_reader=tile_reader)
