"""InventoryLedger: Crafter's item rules applied to frames, checked against the real game."""

import numpy as np
import pytest
import torch

from model.dream_rules import DreamRules
from worldenv.games.crafter.env import CrafterEnv
from worldenv.games.crafter.ledger import ACTIONS, ENERGY, InventoryLedger
from worldenv.games.crafter.parse import INVENTORY_ITEMS

# Events the game draws at random or from state the frames do not show (a creature's health from
# hits before it stood in front, a sapling's 10 % chance): the ledger may differ on these.
HIDDEN = {"collect_sapling", "eat_cow", "defeat_zombie", "defeat_skeleton"}


def _inventory(info) -> np.ndarray:
    return np.array([info["inventory"][k] for k in INVENTORY_ITEMS])


def _sync(ledger: InventoryLedger, env: CrafterEnv, info) -> None:
    """Give the ledger the game's state, so that each step is checked on its own."""
    player = env._env._player
    ledger.counts[0] = _inventory(info)
    ledger.hunger[0], ledger.thirst[0], ledger.fatigue[0] = player._hunger, player._thirst, player._fatigue
    ledger.sleeping[0] = player.sleeping
    ledger.recover[0], ledger.last_health[0] = player._recover, player._last_health


@pytest.mark.parametrize("size", [(72, 72), (64, 64)])
def test_the_ledger_follows_the_real_game(size):
    """Fed the game's own frames and the explorer's actions, one step of the ledger is one step of
    the game: the same counts, sleep, facing and achievements, and the inventory rows drawn pixel
    for pixel as the game draws them. Health (regeneration by the rules, damage read from the
    frame) may be one too high where a step regenerates and takes damage at once."""
    from agents.explore import ExplorePolicy

    env, policy = CrafterEnv(size=size), ExplorePolicy(seed=0)
    ledger = InventoryLedger(1, size=size)
    obs, info = env.reset(seed=1)
    ledger.reset([0], obs[None, None])
    before = dict(info["achievements"])
    seen, slept, steps, health = set(), 0, 900, 0
    for _ in range(steps):
        a = policy.act(info)
        assert ledger.model_actions([a])[0, 0] == (0 if ledger.sleeping[0] and info["inventory"]["energy"] < 9
                                                   or a == 6 else a)
        obs, _, term, trunc, info = env.step(a)
        context, shown = ledger.step([a], obs[None])
        assert tuple(ledger.facing[0]) == tuple(info["facing"])
        game = sorted(k for k, v in info["achievements"].items() if v > before.get(k, 0))
        before = dict(info["achievements"])
        seen.update(game)
        assert sorted(set(ledger.events[0]) - HIDDEN) == sorted(set(game) - HIDDEN), f"action {a}"
        assert ledger.sleeping[0] == info["sleeping"]
        slept += info["sleeping"]
        if not HIDDEN & set(game + ledger.events[0]):
            assert ledger.counts[0, 1:].tolist() == _inventory(info)[1:].tolist(), f"action {a}"
            health += ledger.counts[0, 0] != info["inventory"]["health"]
        _sync(ledger, env, info)
        assert np.array_equal(ledger.draw(obs[None])[0], obs)  # the game's counts draw the game's frame
        view = slice(0, size[1] - 2 * (size[1] // 9))
        assert np.array_equal(context[0, view], obs[view]), "the ledger changed the view rows"
        assert np.array_equal(shown, context)  # the game's sleeping frames are drawn asleep already
        if term or trunc:
            obs, info = env.reset()
            ledger.reset([0], obs[None, None])
            before = dict(info["achievements"])
    # the run must exercise the rules: gathering, placing, crafting and sleeping
    assert {"collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "wake_up"} <= seen and slept
    assert health <= 0.01 * steps, health


def test_the_dream_sleeps_by_the_rules_and_draws_the_sleeper():
    """A tired player lies down: the DiT is told noop while the agent sees the sleeper's view, as
    crafter draws it; at full energy the player wakes (an achievement) and acts again."""
    env = CrafterEnv(size=(72, 72))
    awake, _ = env.reset(seed=0)
    player = env._env._player
    ledger = InventoryLedger(1)
    ledger.reset([0], np.repeat(awake[None, None], 4, 1), np.array([[-1, 4, 1, 0]]))
    assert ledger.facing[0].tolist() == [0, 1]  # the player texture says down, whatever the last move
    ledger.counts[0, ENERGY] = 7
    assert ledger.model_actions([6]).tolist() == [[0]]  # lying down: the DiT keeps the world awake
    context, shown = ledger.step([6], awake[None])
    assert ledger.sleeping[0] and np.array_equal(context[0, :56], awake[:56]) and ledger.events[0] == []
    player.sleeping = True  # the game's drawing of the same moment, asleep
    asleep = env._env.render()
    assert ledger.parser.templates(shown[0])[2] and ledger.parser.templates(asleep)[2]
    diff = np.abs(shown[0, :56].astype(int) - asleep[:56].astype(int))  # the view; the energy differs below
    assert diff.mean() < 0.05 and diff.max() <= 8, (diff.mean(), diff.max())  # the centre tile: light estimated
    wood = INVENTORY_ITEMS.index("wood")
    ledger.counts[0, wood] = 5
    assert ledger.model_actions([8]).tolist() == [[0]]
    ledger.step([8], awake[None])  # place_table asleep: the game makes it sleep
    assert ledger.counts[0, wood] == 5 and ledger.events[0] == [] and ledger.sleeping[0]
    ledger.counts[0, ENERGY] = 9  # rested: the next step wakes the player, who acts in it
    assert ledger.model_actions([3]).tolist() == [[3]]
    _, shown = ledger.step([3], awake[None])
    assert ledger.events[0] == ["wake_up"] and not ledger.sleeping[0]
    # awake as the DiT drew it, but for the player, who turned up with its move (the DiT drew it facing down)
    centre = (slice(24, 32), slice(32, 40))
    assert ledger.player_drawn[0] == 1 and not np.array_equal(shown[0][centre], awake[centre])
    shown[0][centre] = awake[centre]
    assert np.array_equal(shown[0, :56], awake[:56])
    names = ledger.parser.template_names
    assert names[ledger.prev_templates[0][3, 4]] == "player-up/grass"
    ledger.counts[0, ENERGY] = 5
    ledger.step([6], awake[None])
    assert ledger.sleeping[0] and ledger.counts[0, 0] == 9
    player.sleeping, player.health = False, 5
    hurt = env._env.render()  # the DiT draws health 5: the game wakes a sleeper who loses health,
    ledger.step([0], hurt[None])  # at its next update (the damage came after this one)
    assert ledger.sleeping[0] and ledger.counts[0, 0] == 5
    ledger.step([0], hurt[None])
    assert not ledger.sleeping[0] and ledger.events[0] == [] and ledger.counts[0, 0] == 5  # no achievement
    player.health = 0  # the DiT draws no health left: the dream is over, as the game would be
    ledger.step([0], env._env.render()[None])
    assert ledger.dead[0] and ledger.health_change[0] == -5


def test_facing_at_a_start_while_asleep_comes_from_the_last_move():
    env = CrafterEnv(size=(72, 72))
    env.reset(seed=0)
    env._env._player.inventory["energy"] = 2
    asleep, *_ = env.step(6)
    ledger = InventoryLedger(1)
    ledger.reset([0], np.repeat(asleep[None, None], 4, 1), np.array([[-1, 4, 1, 0]]))
    assert ledger.sleeping[0] and ledger.facing[0].tolist() == [-1, 0]
    ledger.reset([0], asleep[None, None])
    assert ledger.facing[0].tolist() == [0, 1]  # no move: down, as the game starts


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
        ledger.reset([0, 1], frames[:, None], seeds=[1])


def test_the_dream_shows_and_pays_the_ledgers_items(tmp_path):
    """In SoraWorld-v0 on a Crafter world the inventory rows are the ledger's, the context holds
    the redrawn frame, and rewards are the ledger's first unlocks."""
    from conftest import build_tiny_world

    from worldenv.dream_env import DreamEnv
    from worldenv.games.crafter.daylight import CrafterClock

    world = build_tiny_world(tmp_path / "w", size=(72, 72))
    # the clock on (the default): the context holds the day look, whose inventory rows are the agent's
    env = DreamEnv(world=world, bf16=False)
    assert isinstance(env.rules, InventoryLedger) and env.rules.clock is not None
    env.reset(seed=0)
    env.rules.counts[0, INVENTORY_ITEMS.index("wood")] = 3
    encoded = []
    encode = env.world.vae.encode_images
    env.world.vae.encode_images = lambda f: encoded.append(np.asarray(f).copy()) or encode(f)
    obs, *_, info = env.step(0)
    assert info["inventory"]["wood"] == 3
    assert np.array_equal(encoded[-1][0, 56:], obs[56:])
    # without the clock the context is exactly the frame the agent sees
    env = DreamEnv(world=world, bf16=False, rules=["inventory", "terrain"])
    assert isinstance(env.rules, InventoryLedger) and env.rules.clock is None
    obs, _ = env.reset(seed=0)
    wood = INVENTORY_ITEMS.index("wood")
    env.rules.counts[0, wood] = 3  # as if the dream had given three wood
    encoded = []
    encode = env.world.vae.encode_images
    env.world.vae.encode_images = lambda f: encoded.append(np.asarray(f).copy()) or encode(f)
    obs, reward, *_, info = env.step(0)
    assert info["inventory"]["wood"] == 3
    assert np.array_equal(encoded[-1][0], obs)  # the context reads the frame the agent sees
    # rewards: the ledger's events pay once per episode; the heads' unlocks are not paid
    ledger = env.rules

    class After(DreamRules):  # the ledger, then `then` as if the frame had shown more
        def __init__(self, then):
            self.then = then

        def model_actions(self, actions):
            return ledger.model_actions(actions)

        def moves_refused(self, refused):
            ledger.moves_refused(refused)

        def __call__(self, actions, frames):
            out = ledger(actions, frames)
            self.then()
            return out

    env.rollout.rules = After(lambda: ledger.events.__setitem__(0, ["collect_wood"]))  # a `do` at a tree
    _, r1, *_, info1 = env.step(0)
    _, r2, *_ = env.step(0)
    assert info1["unlocked"] == "collect_wood" and info1["achievements"]["collect_wood"] == 1
    assert r1 - r2 == pytest.approx(1.0, abs=0.31)  # the health change of each step is within 0.3

    def dies():  # as if the DiT drew the last heart gone
        ledger.dead[0], ledger.health_change[0] = True, -2

    env.rollout.rules = After(dies)
    _, r3, terminated, *_ = env.step(0)
    assert terminated and r3 == pytest.approx(-0.2)  # the game's reward: a tenth of the health change
    off = DreamEnv(world=world, bf16=False, rules="none")
    assert off.rules is None and off.rollout.rules is None
    clock_only = DreamEnv(world=world, bf16=False, rules=["daylight"])  # the clock alone
    assert isinstance(clock_only.rollout.rules, CrafterClock)


def test_rules_are_the_games_by_name(tmp_path):
    """rules="game" picks the plugin's defaults; unknown names and rules that need the inventory
    are refused by name; a world that names no game has no rules to ask for."""
    from conftest import build_tiny_world

    from model.rollout import WorldModel
    from worldenv.games import get_game
    from worldenv.worlds import make_rules, rule_names

    crafter = get_game("crafter")
    assert rule_names(crafter, "game") == ("inventory", "terrain", "daylight")
    assert rule_names(crafter, "none") == () and rule_names(crafter, None) == ()
    with pytest.raises(ValueError, match="unknown dream rules.*fly"):
        rule_names(crafter, ["fly"])
    with pytest.raises(ValueError, match="through 'inventory'"):
        crafter.make_rules(["terrain"], 1, (72, 72))
    with pytest.raises(ValueError, match="'game', 'none' or a list"):
        rule_names(crafter, "inventory")
    world = WorldModel.load(build_tiny_world(tmp_path / "w"))
    world.meta.pop("game")
    assert make_rules(world, 1, "game") is None
    with pytest.raises(ValueError, match="names no game"):
        make_rules(world, 1, ["inventory"])


class _Black(DreamRules):
    def __call__(self, actions, frames):
        return np.zeros_like(frames)


def test_the_rollout_encodes_the_redrawn_frame(tmp_path):
    """DreamRollout's rules: what they return is the dreamed frame and what enters the context."""
    from conftest import build_tiny_world

    from model.rollout import DreamRollout, WorldModel

    world = WorldModel.load(build_tiny_world(tmp_path / "w"))
    roll = DreamRollout(world, batch=2, bf16=False, rules=_Black(), reground=False)
    roll.reset(world.start_frames[:2].numpy(), world.start_actions[:2].numpy())
    r = roll.step(np.array([1, 2]))
    assert (r.frames == 0).all()
    want = world.vae.encode_images(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
    assert torch.allclose(roll.last_z[:, 0], want, atol=1e-4)
    with pytest.raises(TypeError, match="DreamRules"):
        DreamRollout(world, rules=lambda a, f: f)


def test_the_rollout_tells_the_rules_which_moves_stayed(tmp_path):
    """Rules hear, before each step, which moves the gate kept still (None for a world without a
    gate): the terrain keeper follows the view by it."""
    from conftest import build_tiny_world

    from model.rollout import DreamRollout, WorldModel

    class Listener(DreamRules):
        def __init__(self):
            self.heard = []

        def moves_refused(self, refused):
            self.heard.append(refused)

    world, listener = WorldModel.load(build_tiny_world(tmp_path / "w")), Listener()
    roll = DreamRollout(world, batch=2, bf16=False, rules=listener)
    roll.reset(world.start_frames[:2].numpy(), world.start_actions[:2].numpy())
    roll.step(np.array([1, 2]))
    roll.step(np.array([0, 3]))
    assert len(listener.heard) == 2
    assert all(h is None if world.move_gate is None else np.asarray(h).shape == (2,) for h in listener.heard)


def _zombie_cooldown(env) -> int:
    """The rest count of the zombie nearest the player (within 2 tiles), 0 without one."""
    from crafter import objects

    player = env._env._player
    near = [(np.abs(obj.pos - player.pos).sum(), obj.cooldown) for obj in env._env._world.objects
            if isinstance(obj, objects.Zombie)]
    near = [n for n in near if n[0] <= 2]
    return min(near)[1] if near else 0


def test_creatures_hurt_by_the_rules_as_the_game_hurts():
    """A random player in the real game, the ledger fed the game's frames and synced each step:
    the rules' attacks (`attacked`: zombies next to the player, arrows flying in) are the game's
    on the steps the player is awake. Asleep, the game's grey view is not read. The game's attack
    damage of a step is the health it loses after the player's own update."""
    rng = np.random.default_rng(0)
    agree = missed = extra = 0
    for seed in range(8):
        env, ledger = CrafterEnv(size=(72, 72)), InventoryLedger(1, attacks=True)
        obs, info = env.reset(seed=seed)
        ledger.reset([0], obs[None, None])
        for _ in range(400):
            a = int(rng.integers(17))
            ledger.model_actions([a])
            obs, _, term, trunc, info = env.step(a)
            ledger.step([a], obs[None])
            player = env._env._player
            game = max(0, player._last_health - player.health)  # clamped at 0 by the game
            if (game or ledger.attacked[0]) and not player.sleeping:
                if min(ledger.attacked[0], player._last_health) == game:
                    agree += 1
                elif ledger.attacked[0] < game:
                    missed += 1
                else:
                    extra += 1
            _sync(ledger, env, info)
            ledger.zombie_cooldown[0] = _zombie_cooldown(env)
            if term or trunc:
                break
    assert agree >= 15 and missed <= 0.25 * agree and extra <= 1, (agree, missed, extra)


def test_a_zombie_the_dream_draws_next_to_the_player_hurts_it():
    """The 'DiT' draws the same frame each step: a zombie left of the player. The rules hit for 2,
    rest 5 steps, hit again; asleep, the hit is 7; at 0 health the dream is over."""
    from crafter import objects

    env = CrafterEnv(size=(72, 72))
    env.reset(seed=0)
    world, player = env._env._world, env._env._player
    for obj in list(world.objects):
        if obj is not player:
            world.remove(obj)
    x, y = player.pos
    for dx in range(-4, 5):
        for dy in range(-3, 4):
            if (dx, dy) != (0, 0):
                world[(x + dx, y + dy)] = "grass"
    world.add(objects.Zombie(world, (x - 1, y), player))
    frame = env._env.render()
    off = InventoryLedger(1)  # the default: only the damage the DiT draws, and it draws none here
    off.reset([0], frame[None, None])
    for _ in range(7):
        off.model_actions([0])
        off.step([0], frame[None])
    assert off.counts[0, 0] == 9 and not off.attacked.any()
    ledger = InventoryLedger(1, attacks=True)
    ledger.reset([0], frame[None, None])
    health = []
    for _ in range(7):
        ledger.model_actions([0])
        ledger.step([0], frame[None])
        health.append(int(ledger.counts[0, 0]))
    assert health[0] == 7 and health[5] == 7 and health[6] == 5, health  # a hit, 5 steps of rest, a hit
    ledger.counts[0, ENERGY] = 0  # tired: `sleep` puts the player to sleep
    for _ in range(6):
        ledger.model_actions([6])
        ledger.step([6], frame[None])
    assert ledger.dead[0] and ledger.counts[0, 0] == 0  # 5 - 7: asleep, the next hit is the last


def test_the_player_is_drawn_facing_the_way_its_last_move_turned_it():
    """The real game: the player, facing down, steps left into a cow, which the game refuses; it
    turns left all the same. The 'DiT' draws the frame before, the player still facing down: the
    ledger draws the game's player, facing left, and leaves every other tile as the DiT drew it."""
    from test_crafter_terrain import _pen

    env, before = _pen()
    ledger = InventoryLedger(1)
    ledger.reset([0], before[None, None])
    left = ACTIONS.index("move_left")
    after, _, _, _, _ = env.step(left)
    assert env._env._player.facing == (-1, 0)
    context, shown = ledger.step([left], before[None])
    centre = (slice(24, 32), slice(32, 40))
    assert ledger.player_drawn[0] == 1 and ledger.parser.template_names[ledger.prev_templates[0][3, 4]] == "player-left/grass"
    assert np.abs(context[0][centre].astype(int) - after[centre]).max() <= 3  # the game's texture, lit as estimated
    rest = np.ones(before.shape[:2], bool)
    rest[centre] = False
    assert np.array_equal(context[0][rest], before[rest])
    context, _ = ledger.step([0], after[None])  # the game's own frame: nothing to draw
    assert ledger.player_drawn[0] == 0 and np.array_equal(context[0, :56], after[:56])


def test_the_hidden_counters_are_read_off_a_long_start_clip():
    """Crafter's hunger, thirst, fatigue and recover counters are hidden, and decide when food, drink
    and energy next change and when a sleeper wakes. Started from a clip of the real game (a random
    player, 160 steps), the ledger runs the game's rules along it: from the episode's first frame it
    ends with the game's four counters; from step 60 on, with hunger, thirst and fatigue, whose
    phase the clip shows when their counts change. From the last frame alone they start at 0."""
    env = CrafterEnv(size=(72, 72))
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(1)
    frames, actions = [obs], [-1]
    for _ in range(160):  # it dies at step 171
        a = int(rng.integers(0, 17))
        obs, _, term, trunc, _ = env.step(a)
        assert not (term or trunc)
        frames.append(obs)
        actions.append(a)
    p = env._env._player
    game = [p._hunger, p._thirst, p._fatigue, p._recover]
    frames, actions = np.array(frames), np.array(actions)
    ledger = InventoryLedger(1)

    def counters():
        return [ledger.hunger[0], ledger.thirst[0], ledger.fatigue[0], ledger.recover[0]]

    ledger.reset([0], frames[None], actions[None])
    assert counters() == pytest.approx(game)
    ledger.reset([0], frames[None, 60:], actions[None, 60:])
    assert counters()[:3] == pytest.approx(game[:3])
    ledger.reset([0], frames[None, -1:], actions[None, -1:])
    assert counters() == [0, 0, 0, 0] and counters()[:3] != pytest.approx(game[:3])


def test_the_hidden_counters_follow_a_sleep_in_the_start_clip():
    """A tired player (energy 3) walks, lies down for ~70 steps until rested, wakes and walks on.
    Read off every prefix of that clip from the episode's start, the replayed counters are the
    game's at that step: lying down and waking count as the game counts them."""
    env = CrafterEnv(size=(72, 72))
    obs, _ = env.reset(seed=2)
    p = env._env._player
    p.inventory["energy"] = 3
    rng = np.random.default_rng(2)
    frames, actions, game, slept = [obs], [-1], [[0, 0, 0, 0]], [False]
    for t in range(150):
        a = 6 if 20 <= t < 100 else int(rng.choice([0, 1, 2, 3, 4, 5]))  # 6 = sleep
        obs, _, term, trunc, info = env.step(a)
        assert not (term or trunc)
        frames.append(obs)
        actions.append(a)
        game.append([p._hunger, p._thirst, p._fatigue, p._recover])
        slept.append(info["sleeping"])
    assert any(slept) and not slept[-1]  # it slept and woke up in the clip
    frames, actions = np.array(frames), np.array(actions)
    ledger = InventoryLedger(1)
    for t in (30, 60, 90, 110, 150):  # asleep, asleep, asleep or just woken, awake, awake
        ledger.reset([0], frames[None, : t + 1], actions[None, : t + 1])
        got = [ledger.hunger[0], ledger.thirst[0], ledger.fatigue[0], ledger.recover[0]]
        assert got[:3] == pytest.approx(game[t][:3]), (t, got, game[t])
        assert ledger.sleeping[0] == slept[t]


def test_the_replayed_health_check_reads_the_counts_after_the_step():
    """The game checks food, drink and energy for regeneration after the step's life stats: in the
    step food runs out, health already degenerates. A clip from a hurt player (health 5, so the
    regeneration shows) whose food runs out at step 6: the replayed recover counter is the game's."""
    env = CrafterEnv(size=(72, 72))
    env.reset(seed=4)
    p = env._env._player
    p.inventory.update(health=5, food=1)
    p._hunger, p._thirst, p._fatigue, p._recover = 20, 0, 0, 0
    frames, recover, food = [env._env.render()], [p._recover], [1]
    for _ in range(10):
        obs, *_ = env.step(0)  # noop
        frames.append(obs)
        recover.append(p._recover)
        food.append(p.inventory["food"])
    assert food[5] == 1 and food[6] == 0 and recover[6] == recover[5] - 1  # ran out at step 6, and degenerated
    ledger = InventoryLedger(1)
    ledger.reset([0], np.array(frames)[None], np.array([[-1] + [0] * 10]))
    assert ledger.recover[0] == recover[-1]
