"""InventoryLedger: Crafter's item rules applied to frames, checked against the real game."""

import numpy as np
import pytest
import torch

from worldenv.games.crafter import CrafterEnv
from worldenv.games.crafter_ledger import VITALS, InventoryLedger
from worldenv.games.crafter_parse import INVENTORY_ITEMS

# Events the game draws at random or from state the frames do not show (a creature's health from
# hits before it stood in front, a sapling's 10 % chance): the ledger may differ on these.
HIDDEN = {"collect_sapling", "eat_cow", "defeat_zombie", "defeat_skeleton"}


def _inventory(info) -> np.ndarray:
    return np.array([info["inventory"][k] for k in INVENTORY_ITEMS])


@pytest.mark.parametrize("size", [(72, 72), (64, 64)])
def test_the_ledger_follows_the_real_game(size):
    """Fed the game's own frames and the explorer's actions, the ledger keeps the game's items,
    names the game's achievements, and draws the inventory rows pixel for pixel as the game does."""
    from agents.explore import ExplorePolicy

    env, policy = CrafterEnv(size=size), ExplorePolicy(seed=0)
    ledger = InventoryLedger(1, size=size)
    obs, info = env.reset(seed=1)
    ledger.reset([0], obs[None, None])
    before = dict(info["achievements"])
    seen, steps = set(), 700
    for _ in range(steps):
        a = policy.act(info)
        obs, _, term, trunc, info = env.step(a)
        drawn = ledger.step([a], obs[None])
        assert tuple(ledger.facing[0]) == tuple(info["facing"])
        game = sorted(k for k, v in info["achievements"].items() if v > before.get(k, 0))
        before = dict(info["achievements"])
        seen.update(game)
        assert sorted(set(ledger.events[0]) - HIDDEN) == sorted(set(game) - HIDDEN), f"action {a}"
        inv = _inventory(info)
        if not {"collect_sapling", "place_plant"} & set(game + ledger.events[0]):
            assert ledger.counts[0, VITALS:].tolist() == inv[VITALS:].tolist()
        ledger.counts[0, VITALS:] = inv[VITALS:]  # a sapling drawn otherwise than the game's: take the game's
        assert np.array_equal(ledger.draw(obs[None])[0], obs)  # the game's counts draw the game's frame
        view = slice(0, size[1] - 2 * (size[1] // 9))
        assert np.array_equal(drawn[0, view], obs[view]), "the ledger changed the view rows"
        if term or trunc:
            obs, info = env.reset()
            ledger.reset([0], obs[None, None])
            before = dict(info["achievements"])
    # the run must exercise the rules: gathering, placing and crafting
    assert {"collect_wood", "place_table", "make_wood_pickaxe", "collect_stone"} <= seen


def test_asleep_nothing_happens_and_waking_is_an_achievement():
    env = CrafterEnv(size=(72, 72))
    awake, _ = env.reset(seed=0)
    env._env._player.inventory["energy"] = 2  # tired: the game lets the player sleep
    asleep, *_ = env.step(6)
    ledger = InventoryLedger(1)
    assert not ledger.parser.templates(awake)[1] and ledger.parser.templates(asleep)[1]
    ledger.reset([0], np.repeat(asleep[None, None], 4, 1), np.array([[-1, 4, 1, 0]]))  # asleep: the last move says
    assert ledger.facing[0].tolist() == [-1, 0]
    ledger.reset([0], asleep[None, None])
    assert ledger.facing[0].tolist() == [0, 1]  # no move: down, as the game starts
    wood = INVENTORY_ITEMS.index("wood")
    ledger.counts[0, wood] = 5
    ledger.step([8], asleep[None])  # place_table while still asleep: the game makes it sleep
    assert ledger.counts[0, wood] == 5 and ledger.events[0] == []
    ledger.step([0], awake[None])  # the frame shows the player awake again
    assert ledger.events[0] == ["wake_up"]


def test_bad_input_is_named():
    ledger = InventoryLedger(2)
    frames = np.zeros((2, 72, 72, 3), np.uint8)
    with pytest.raises(ValueError, match="start clips"):
        ledger.reset([0, 1], frames)
    ledger.reset([0, 1], frames[:, None])
    with pytest.raises(ValueError, match="need 2 actions"):
        ledger.step([0], frames)
    with pytest.raises(ValueError, match=r"in \[0, 17\)"):
        ledger.step([0, 17], frames)
    with pytest.raises(ValueError, match="need 2 seeds"):
        ledger.seed([1])


def test_the_dream_shows_and_pays_the_ledgers_items(tmp_path):
    """In SoraWorld-v0 on a Crafter world the inventory rows are the ledger's, the context holds
    the redrawn frame, and rewards are the ledger's first unlocks."""
    from conftest import build_tiny_world

    from worldenv.dream_env import DreamEnv

    world = build_tiny_world(tmp_path / "w", size=(72, 72))
    env = DreamEnv(world=world, bf16=False)
    assert env.ledger is not None
    obs, _ = env.reset(seed=0)
    wood = INVENTORY_ITEMS.index("wood")
    env.ledger.counts[0, wood] = 3  # as if the dream had given three wood
    encoded = []
    encode = env.world.vae.encode_images
    env.world.vae.encode_images = lambda f: encoded.append(np.asarray(f).copy()) or encode(f)
    obs, reward, *_, info = env.step(0)
    assert info["inventory"]["wood"] == 3
    assert np.array_equal(encoded[-1][0], obs)  # the context reads the frame the agent sees
    # rewards: the ledger's events pay once per episode; the heads' unlocks are not paid
    keep = env.rollout.overlay

    def gives_wood(actions, frames):  # as if each frame showed a `do` at a tree
        out = keep(actions, frames)
        env.ledger.events[0] = ["collect_wood"]
        return out

    env.rollout.overlay = gives_wood
    _, r1, *_, info1 = env.step(0)
    _, r2, *_ = env.step(0)
    assert info1["unlocked"] == "collect_wood" and info1["achievements"]["collect_wood"] == 1
    assert r1 - r2 == pytest.approx(1.0, abs=0.31)  # the health change of each step is within 0.3
    off = DreamEnv(world=world, bf16=False, keep_inventory=False)
    assert off.ledger is None and off.rollout.overlay is None


def test_keep_inventory_needs_a_crafter_world(tmp_path):
    from worldenv.dream_env import inventory_ledger_for

    class World:
        action_nvec, frame_shape = (23, 11), (64, 64, 3)

    assert inventory_ledger_for(World(), 1, None) is None
    with pytest.raises(ValueError, match="Crafter world"):
        inventory_ledger_for(World(), 1, True)


def test_the_rollout_encodes_the_overlaid_frame(tmp_path):
    """DreamRollout's overlay: what it returns is the dreamed frame and what enters the context."""
    from conftest import build_tiny_world

    from model.rollout import DreamRollout, WorldModel

    world = WorldModel.load(build_tiny_world(tmp_path / "w"))
    black = lambda actions, frames: np.zeros_like(frames)  # noqa: E731
    roll = DreamRollout(world, batch=2, bf16=False, overlay=black, reground=False)
    roll.reset(world.start_frames[:2].numpy(), world.start_actions[:2].numpy())
    r = roll.step(np.array([1, 2]))
    assert (r.frames == 0).all()
    want = world.vae.encode_images(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
    assert torch.allclose(roll.last_z[:, 0], want, atol=1e-4)
