"""Shared test setup: headless pygame, one torch thread, and tiny worlds built from real Crafter frames."""

import os
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helpers import each other (from conftest import ...)

import torch  # noqa: E402

# Tests use tiny tensors: one thread avoids OpenMP spin-waiting (and oversubscription on a busy box).
torch.set_num_threads(1)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def flow_losses(model, z0, actions, steps: int, cfg=None) -> list[float]:
    """Train `model` on the one batch of windows z0 (b, t, c, h, w) with `actions` (b, t, A) for
    `steps` AdamW steps (lr 3e-3, a fresh seed each step); the flow loss of each step."""
    from model.diffusion import FlowConfig, flow_loss

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    b, t = z0.shape[:2]
    rewards, dones = torch.zeros(b, t), torch.zeros(b, t, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        torch.manual_seed(int(torch.randint(0, 10_000, (1,), generator=g)))
        loss, stats = flow_loss(model, z0, actions, rewards, dones, cfg or FlowConfig())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(stats["flow"])
    return losses


def build_tiny_world(folder, k: int = 5, seed: int = 0, prev_frame: bool = False, size: tuple[int, int] = (64, 64),
                     view_moves: bool = False, view_rows: int = 0):
    """An untrained tiny world (VAE + DiT + a start bank of real Crafter frames) saved to `folder`.

    The env, vector env and play tests exercise the real code paths with it; quality is not the point.
    `size=(72, 72)` makes a tile-aligned world (9x9 latents, patch 3); `view_moves` gives its DiT
    Crafter's moves (implies prev_frame), and `view_rows` the rows those moves shift.
    """
    from model.dit import DiTConfig, SpacetimeDiT
    from model.rollout import WorldModel
    from model.vae import VAEConfig, VideoVAE
    from worldenv.games.crafter.env import CrafterEnv

    torch.manual_seed(seed)
    vae = VideoVAE(VAEConfig(channels=(8, 8, 16), latent_channels=4))
    from worldenv.games import get_game
    from worldenv.games.crafter.caption_facts import CRAFTER_FACTS

    prev_frame = prev_frame or view_moves
    moves = tuple(get_game("crafter").view_moves()) if view_moves else ()
    patch = 2 if (size[0] // 8) % 2 == 0 and (size[1] // 8) % 2 == 0 else 3
    dit = SpacetimeDiT(DiTConfig(action_nvec=(17,), latent_channels=4, patch=patch, dim=32, depth=2, heads=2, window=k + 1,
                                 caption_dim=len(CRAFTER_FACTS), max_caption_tokens=16, prev_frame=prev_frame,
                                 view_moves=moves, view_rows=view_rows))
    with torch.no_grad():  # wake the zero-initialised output layers so frames and heads vary
        wake = list(dit.patch_out.parameters()) + list(dit.final_ada.parameters())
        wake += list(dit.prev_in.parameters()) if prev_frame else []
        for p in wake + (list(dit.moved_in.parameters()) if view_moves else []):
            p.normal_(0, 0.05)
        dit.heads_mlp[-1].bias[2] = -20.0  # never terminate by itself: tests control episode ends
    env = CrafterEnv(area=(32, 32), size=size)
    clips, acts = [], []
    rng = np.random.default_rng(seed)
    for s in range(4):
        obs, _ = env.reset(seed=s)
        frames, a = [obs], [-1]
        for _ in range(k - 1):
            action = int(rng.integers(17))
            obs, *_ = env.step(action)
            frames.append(obs)
            a.append(action)
        clips.append(np.stack(frames))
        acts.append(np.array(a)[:, None])
    world = WorldModel(vae, dit, torch.from_numpy(np.stack(clips)), torch.from_numpy(np.stack(acts)), {"game": "crafter", "caption_vocabulary": CRAFTER_FACTS.to_dict()})
    world.save(folder)
    return folder


def tiny_world72_with_latents(root, max_steps: int = 60):
    """A tile-aligned tiny world with Crafter's moves in `root/world`, and
    latents of two 72x72 random-policy recordings: (world, [train latents, held-out latents]),
    the recordings in `root/rec_train` and `root/rec_held`."""
    from model.latent_encoding import encode_folder
    from worldenv.collect import CollectConfig, collect

    world = build_tiny_world(root / "world", size=(72, 72), view_moves=True, view_rows=7)
    caches = []
    for name, seed in (("train", 5), ("held", 6)):
        rec = root / f"rec_{name}"
        collect(CollectConfig(episodes=2, policy="random", out=str(rec), seed=seed, workers=1, max_steps=max_steps,
                              area=(32, 32), size=(72, 72), view=(9, 9)), progress=False)
        encode_folder(str(world / "vae.safetensors"), str(rec), str(root / f"lat_{name}"), progress=False, nvec=(17,))
        caches.append(str(root / f"lat_{name}"))
    return world, caches


def build_tiny_minetest_world(folder, k: int = 4, size: tuple[int, int] = (64, 48)):
    """An untrained tiny world of the Minetest game (MineRL MultiDiscrete actions, 4:3 frames of
    `size`) saved to `folder`, with a start bank of smooth synthetic views: the dream env and play
    paths of a 3D world run with it; quality is not the point."""
    from model.dit import DiTConfig, SpacetimeDiT
    from model.rollout import WorldModel
    from model.vae import VAEConfig, VideoVAE
    from worldenv.games import get_game

    torch.manual_seed(0)
    game = get_game("minetest")
    vae = VideoVAE(VAEConfig(channels=(8, 8, 16), latent_channels=4))
    dit = SpacetimeDiT(DiTConfig(action_nvec=game.action_nvec, latent_channels=4, patch=2, dim=32, depth=2, heads=2,
                                 window=k + 1))
    with torch.no_grad():  # wake the zero-initialised output layers so frames and heads vary
        for p in list(dit.patch_out.parameters()) + list(dit.final_ada.parameters()):
            p.normal_(0, 0.05)
        dit.heads_mlp[-1].bias[2] = -20.0  # never terminate by itself
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    clips = np.stack([np.stack([np.stack([(x * 4 + 40 * i + 3 * t) % 256, (y * 5) % 256, np.full_like(x, 90 + 40 * i)],
                                         -1).astype(np.uint8) for t in range(k)]) for i in range(3)])
    acts = np.tile(game.noop_action(), (3, k, 1))
    acts[:, 0] = -1
    WorldModel(vae, dit, torch.from_numpy(clips), torch.from_numpy(acts), {"game": "minetest"}).save(folder)
    return folder


def write_records(folder, episodes: dict[str, list[dict]]) -> None:
    """Hand-written recordings' text: `<name>.jsonl` per episode and the folder's index (72x72
    Crafter episodes, no video), for functions that read only the jsonl."""
    import json

    from model.recordings import EpisodeInfo, write_index

    for name, records in episodes.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    write_index(folder, [EpisodeInfo(n, len(r), 72, 72, 10.0, "crafter") for n, r in episodes.items()])


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    return build_tiny_world(tmp_path_factory.mktemp("world"))
