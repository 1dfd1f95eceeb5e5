"""Recipes as files (configs/crafter72/*.toml, model/cli.py): each stage of the shipped world
loads into the config its command line had, flags override a file, bad files are refused by name,
and the recipes train (on tiny recordings, with the sizes overridden)."""

from pathlib import Path

import pytest

from model import heads_training, move_gate_training, vae_training, world_training
from model.cli import ConfigError, load_config
from model.diffusion import FlowConfig
from model.vae import VAEConfig

RECIPES = Path(__file__).resolve().parents[1] / "configs" / "crafter72"

# The commands the shipped world was made with ("Reproduce the shipped model" in the README before
# the recipes existed), without the machine's --threads, with `--view-moves crafter` under its new
# name `game`, and with the paths that then named the shipped world's files (which each later stage
# overwrote) replaced by the runs they held: worldenv/worlds/crafter72/vae.safetensors was
# runs/vae72_rare's VAE for DiT stages 1-2 and runs/vae72_dec2's for 3-4; its dit.safetensors was
# runs/heads72b's DiT for stage 3 and runs/heads72s's for stage 4; the gate read runs/heads72b's world.
VAE = ["--data", "data/crafter72", "--batch-size", "32"]
DIT = ["--latents", "data/crafter72_latents", "--recordings", "data/crafter72", "--preset", "XS", "--patch", "3",
       "--window", "8", "--prev-frame", "--view-moves", "game", "--batch-size", "32", "--context-noise", "0.2",
       "--rollout-like", "0.6", "--rollout-logit-mean", "1.0", "--rollout-pure-noise", "0.1",
       "--rollout-context-weight", "0", "--event-weight", "4", "--rollout-context-sigma", "0.15",
       "--rollout-guidance", "3"]
HEADS = ["--latents", "data/crafter72_latents", "--heldout", "data/crafter72_heldout_latents", "--windows", "20000",
         "--epochs", "30", "--pos-weight", "1"]
STAGES = {
    "vae_1_base.toml": (vae_training, VAE + ["--out", "runs/vae72", "--steps", "6000", "--lr", "1e-3", "--warmup",
                                             "200", "--channels", "32", "64", "128"]),
    "vae_2_rare_tiles.toml": (vae_training, VAE + ["--out", "runs/vae72_rare", "--init", "runs/vae72/vae.safetensors",
                                                   "--rare-tile-weight", "10", "--steps", "2000", "--lr", "3e-4",
                                                   "--warmup", "100"]),
    "vae_3_decoder.toml": (vae_training, VAE + ["--out", "runs/vae72_dec", "--init", "runs/vae72_rare/vae.safetensors",
                                                "--decoder-only", "--rare-tile-weight", "10", "--steps", "4000",
                                                "--lr", "2e-4", "--warmup", "100"]),
    "vae_4_decoder_more.toml": (vae_training, VAE + ["--out", "runs/vae72_dec2", "--init",
                                                     "runs/vae72_dec/vae.safetensors", "--decoder-only",
                                                     "--rare-tile-weight", "10", "--steps", "12000", "--lr", "2e-4",
                                                     "--warmup", "100", "--ckpt-every", "1000"]),
    "dit_1_base.toml": (world_training, DIT + ["--vae", "runs/vae72_rare/vae.safetensors", "--out", "runs/world72",
                                               "--steps", "6000", "--lr", "5e-4", "--warmup", "300",
                                               "--event-frames", "gains", "--view-rows", "0"]),
    "dit_2_view_rows.toml": (world_training, DIT + ["--vae", "runs/vae72_rare/vae.safetensors", "--out",
                                                    "runs/world72b", "--steps", "6000", "--lr", "3e-4", "--warmup",
                                                    "200", "--event-frames", "gains", "--init",
                                                    "runs/heads72/world/dit.safetensors"]),
    "dit_3_refused_stay.toml": (world_training, DIT + ["--vae", "runs/vae72_dec2/vae.safetensors", "--out",
                                                       "runs/world72s", "--steps", "5000", "--lr", "1.5e-4",
                                                       "--warmup", "100", "--event-frames", "gains", "--refused-stay",
                                                       "--init", "runs/heads72b/world/dit.safetensors"]),
    "dit_4_attempts.toml": (world_training, DIT + ["--vae", "runs/vae72_dec2/vae.safetensors", "--out",
                                                   "runs/world72a", "--steps", "5000", "--lr", "1.5e-4", "--warmup",
                                                   "100", "--event-frames", "attempts", "--refused-stay", "--init",
                                                   "runs/heads72s/world/dit.safetensors"]),
    "heads_1.toml": (heads_training, HEADS + ["--world", "runs/world72/world", "--out", "runs/heads72/world"]),
    "heads_2.toml": (heads_training, HEADS + ["--world", "runs/world72b/world", "--out", "runs/heads72b/world"]),
    "heads_3.toml": (heads_training, HEADS + ["--world", "runs/world72s/world", "--out", "runs/heads72s/world"]),
    "heads_4.toml": (heads_training, HEADS + ["--world", "runs/world72a/world", "--out", "runs/heads72a/world"]),
    "move_gate.toml": (move_gate_training, ["--world", "runs/heads72b/world", "--latents", "data/crafter72_latents",
                                            "--heldout", "data/crafter72_heldout_latents", "--out",
                                            "runs/move_gate/move_gate.safetensors"]),
}


def test_every_recipe_is_tested():
    assert sorted(p.name for p in RECIPES.glob("*.toml")) == sorted(STAGES)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_recipe_is_the_command_line_the_shipped_stage_ran(name):
    module, flags = STAGES[name]
    assert module.parse_args(["--config", str(RECIPES / name)]) == module.parse_args(flags)


def test_the_recipes_make_the_shipped_dit_and_vae_configs():
    """The last stages' model configs are the shipped files' (the DiT's view moves and rows come from
    the game at training time: `--view-moves game`, rows -1)."""
    from model.dit import SpacetimeDiT
    from model.vae import VideoVAE

    world = Path(__file__).resolve().parents[1] / "worldenv" / "worlds" / "crafter72"
    vae = vae_training.parse_args(["--config", str(RECIPES / "vae_1_base.toml")]).vae
    assert VideoVAE.load(world / "vae.safetensors").cfg == vae
    dit = world_training.parse_args(["--config", str(RECIPES / "dit_4_attempts.toml")])
    shipped, meta = SpacetimeDiT.load(world / "dit.safetensors")
    assert (shipped.cfg.patch, shipped.cfg.window, shipped.cfg.prev_frame) == (dit.patch, dit.window, dit.prev_frame)
    assert meta["preset"] == dit.preset and dit.view_moves == "game" and shipped.cfg.view_rows == 7


def test_flags_override_the_file_and_nested_tables_fill_their_dataclass():
    cfg = world_training.parse_args(["--config", str(RECIPES / "dit_4_attempts.toml"), "--steps", "7",
                                     "--event-weight", "2", "--no-refused-stay"])
    assert (cfg.steps, cfg.flow.event_weight, cfg.refused_stay) == (7, 2.0, False)
    assert cfg.lr == 1.5e-4 and cfg.flow.rollout_like == 0.6  # the rest as the file says
    vae = vae_training.parse_args(["--config", str(RECIPES / "vae_1_base.toml"), "--channels", "8", "8", "16"])
    assert vae.vae == VAEConfig(channels=(8, 8, 16)) and vae.steps == 6000
    assert load_config(RECIPES / "dit_1_base.toml", world_training.TrainWorldConfig,
                       {"flow": FlowConfig}) == world_training.parse_args(["--config", str(RECIPES / "dit_1_base.toml")])


def test_bad_recipes_are_refused_by_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    cases = [
        ('stpes = 10\n', r"bad.toml: unknown key `stpes` for TrainWorldConfig"),
        ('event_weight = 4.0\n', r"`event_weight` is a FlowConfig field: put it in the \[flow\] table"),
        ('[flow]\ncontext_nose = 0.2\n', r"bad.toml \[flow\]: unknown key `context_nose` for FlowConfig"),
        ('steps = "many"\n', r"`steps`: want an integer, got 'many'"),
        ('prev_frame = 1\n', r"`prev_frame`: want true or false"),
        ('flow = 3\n', r"`flow` must be a table"),
        ('steps = \n', r"not valid TOML"),
    ]
    for text, message in cases:
        bad.write_text(text)
        with pytest.raises(SystemExit, match=message):
            world_training.parse_args(["--config", str(bad)])
        with pytest.raises(ConfigError, match=message):
            load_config(bad, world_training.TrainWorldConfig, {"flow": FlowConfig})
    bad.write_text('[vae]\nchannels = [8, "x", 16]\n')
    with pytest.raises(SystemExit, match=r"`channels`: want a list of int"):
        vae_training.parse_args(["--config", str(bad)])
    with pytest.raises(SystemExit, match="cannot read the config file"):
        heads_training.parse_args(["--config", str(tmp_path / "missing.toml")])
    bad.write_text('lr = 1\nwindows = 8\n')  # an int where a float is wanted is that float
    assert heads_training.parse_args(["--config", str(bad), "--world", "w", "--latents", "l"]).lr == 1.0


def test_the_recipes_train_on_tiny_recordings(tmp_path):
    """Every trainer runs its shipped recipe, with the data and sizes overridden to tiny ones: the VAE
    stages (rare tiles, then decoder only), the DiT's last stage (game moves, attempts, refused
    moves kept still), the heads and the move gate."""
    from conftest import tiny_world72_with_latents

    from model.rollout import WorldModel
    from model.vae import VideoVAE
    from worldenv.games import get_game

    world, (train_lat, held_lat) = tiny_world72_with_latents(tmp_path, max_steps=40)
    rec = str(tmp_path / "rec_train")
    vae_out = tmp_path / "vae"
    vae_training.main(["--config", str(RECIPES / "vae_2_rare_tiles.toml"), "--data", rec, "--out", str(vae_out),
                       "--init", str(world / "vae.safetensors"), "--steps", "3", "--batch-size", "2",
                       "--warmup", "1", "--log-every", "1", "--no-progress", "--threads", "1"])
    vae_training.main(["--config", str(RECIPES / "vae_4_decoder_more.toml"), "--data", rec, "--out",
                       str(tmp_path / "dec"), "--init", str(vae_out / "vae.safetensors"), "--steps", "2",
                       "--batch-size", "2", "--warmup", "1", "--no-progress", "--threads", "1"])
    assert VideoVAE.load(tmp_path / "dec" / "vae.safetensors").same_latent_space(
        VideoVAE.load(vae_out / "vae.safetensors"))
    rows = [line.split(",") for line in (vae_out / "log.csv").read_text().splitlines()]
    assert len(rows) == 4 and all(float(r[rows[0].index("loss")]) > 0 for r in rows[1:])

    dit_out = tmp_path / "world"
    world_training.main(["--config", str(RECIPES / "dit_4_attempts.toml"), "--latents", train_lat,
                         "--recordings", rec, "--vae", str(world / "vae.safetensors"), "--init", "",
                         "--out", str(dit_out), "--window", "3", "--steps", "2",
                         "--batch-size", "2", "--warmup", "1", "--start-bank", "1", "--no-progress", "--threads",
                         "1"], games=get_game)
    trained = WorldModel.load(dit_out / "world")
    assert trained.dit.cfg.view_moves == ((1, -1, 0), (2, 1, 0), (3, 0, -1), (4, 0, 1))
    assert trained.dit.cfg.view_rows == 7 and trained.dit.cfg.patch == 3

    heads_out = tmp_path / "heads" / "world"
    report = heads_training.fit(heads_training.parse_args(["--config", str(RECIPES / "heads_4.toml"), "--world", str(dit_out / "world"),
                                  "--latents", train_lat, "--heldout", held_lat, "--out", str(heads_out),
                                  "--windows", "16", "--epochs", "2", "--threads", "1"]))
    assert report["loss"] and WorldModel.load(heads_out).achievements == report["achievements"]

    gate = tmp_path / "gate" / "move_gate.safetensors"
    result = move_gate_training.train(move_gate_training.parse_args(["--config", str(RECIPES / "move_gate.toml"), "--world", str(heads_out),
                                      "--latents", train_lat, "--heldout", held_lat, "--out", str(gate),
                                      "--epochs", "1", "--batch-size", "16", "--width", "8", "--no-progress"]))
    assert gate.exists() and result["heldout"]["samples"] > 0


def test_the_minetest_recipes_load():
    """The Minetest world's recipes (configs/minetest/) load into their trainers' configs."""
    folder = RECIPES.parent / "minetest"
    vae = vae_training.parse_args(["--config", str(folder / "vae.toml")])
    assert tuple(vae.size) == (96, 72) and vae.data == "data/minetest"
    dit = world_training.parse_args(["--config", str(folder / "dit.toml")])
    assert dit.latents == "data/minetest_latents" and dit.patch == 3 and dit.view_moves == "" and dit.captions
