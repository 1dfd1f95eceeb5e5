"""WorldMemory: the materials a dream has seen, by world place, and the keeper drawing them back."""

import numpy as np

from worldenv.games.crafter.ledger import ACTIONS, InventoryLedger
from worldenv.games.crafter.memory import WorldMemory

U = 8  # tile size at 72x72


def _tile(frame, r, c):
    return frame[r * U : (r + 1) * U, c * U : (c + 1) * U]


def test_memory_follows_the_view_and_forgets_plants():
    names = ("void", "grass", "tree", "cow/grass", "plant/grass")
    memory = WorldMemory(2, names, rows=3, cols=3, size=8)
    view = np.array([[1, 2, 1], [1, 1, 3], [0, 1, 4]])
    memory.store([0], view[None])
    assert memory.recall([0])[0].tolist() == [[1, 2, 1], [1, 1, 1], [-1, 1, -1]]  # cow: its grass; void, plant: none
    assert (memory.recall([1]) == -1).all()  # another dream saw nothing
    memory.move(np.array([[1, 0], [0, 0]]))  # dream 0 steps right: what was one tile right is now in front
    assert memory.recall([0])[0].tolist() == [[2, 1, -1], [1, 1, -1], [1, -1, -1]]
    memory.store([0], np.full((1, 3, 3), 4))  # plants everywhere now: those tiles are forgotten
    assert memory.recall([0])[0].tolist() == [[-1] * 3] * 3
    memory.move(np.array([[-1, 0], [0, 0]]))
    assert memory.recall([0])[0].tolist() == [[1, -1, -1], [1, -1, -1], [-1, -1, -1]]
    memory.reset([0])
    assert (memory.recall([0]) == -1).all() and memory.pos[0].tolist() == [0, 0]
    memory.store([], np.zeros((0, 3, 3), np.int64))  # no dream to remember (a start drawn asleep)
    assert memory.recall([]).shape == (0, 3, 3)


def test_a_tree_that_comes_back_into_view_is_drawn_back():
    """The real game: the player walks four tiles right, out of sight of a tree, and two back. The
    'DiT' draws grass where the tree comes back into view; the ledger's memory draws the tree."""
    from test_crafter_terrain import _pen

    env, obs = _pen()
    ledger = InventoryLedger(1, keep_terrain=True)
    ledger.reset([0], obs[None, None])
    names = ledger.parser.template_names
    right, left = ACTIONS.index("move_right"), ACTIONS.index("move_left")
    for a in [right] * 4 + [left]:
        ledger.model_actions([a])
        ledger.moves_refused(np.array([False]))
        obs, _, _, _, _ = env.step(a)
        ledger.step([a], obs[None])
    assert ledger.memory.pos[0].tolist() == [3, 0]
    assert names[ledger.parser.templates(obs[None])[0][0][3, 0]] == "grass"  # the tree is out of view
    ledger.model_actions([left])
    ledger.moves_refused(np.array([False]))
    real, _, _, _, _ = env.step(left)
    tree = (3, 0)  # the tree two tiles left of where the player started, back on the view's edge
    assert names[ledger.parser.templates(real[None])[0][0][tree]] == "tree"
    dream = real.copy()
    _tile(dream, *tree)[:] = _tile(real, 2, 0)  # the DiT draws it as grass
    context, _ = ledger.step([left], dream[None])
    assert ledger.restored[0] == 1 and names[ledger.prev_templates[0][tree]] == "tree"
    assert np.abs(_tile(context[0], *tree).astype(int) - _tile(real, *tree)).max() <= 4


def test_a_tree_the_prompt_showed_is_drawn_back():
    """A start clip (a prompt video) is remembered whole: the real game's player walks four tiles
    right, out of sight of a tree, and that walk is the clip the dream starts from. Two steps back
    left, the 'DiT' draws grass where the tree comes back into view; the memory of the clip's first
    frames draws the tree. Remembering only the clip's last frame, nothing would be drawn."""
    from test_crafter_terrain import _pen

    env, obs = _pen()
    right, left = ACTIONS.index("move_right"), ACTIONS.index("move_left")
    frames, actions = [obs], [-1]
    for a in [right] * 4:
        obs, _, _, _, _ = env.step(a)
        frames.append(obs)
        actions.append(a)
    ledger = InventoryLedger(1, keep_terrain=True)
    names = ledger.parser.template_names
    assert names[ledger.parser.templates(frames[0][None])[0][0][3, 2]] == "tree"  # two tiles left of the start
    ledger.reset([0], np.array(frames)[None], np.array(actions)[None])
    assert names[ledger.memory.recall([0])[0][3, 0]] == "grass"  # the place where the player started ...
    ledger.memory.move(np.array([[-3, 0]]))
    assert names[ledger.memory.recall([0])[0][3, 1]] == "tree"  # ... and the tree, 4 + 2 tiles left of the end
    ledger.memory.move(np.array([[3, 0]]))
    obs, _, _, _, _ = env.step(left)
    ledger.model_actions([left])
    ledger.moves_refused(np.array([False]))
    ledger.step([left], obs[None])
    real, _, _, _, _ = env.step(left)
    tree = (3, 0)  # back on the view's edge
    assert names[ledger.parser.templates(real[None])[0][0][tree]] == "tree"
    dream = real.copy()
    _tile(dream, *tree)[:] = _tile(real, 2, 0)  # the DiT draws it as grass
    ledger.model_actions([left])
    ledger.moves_refused(np.array([False]))
    context, _ = ledger.step([left], dream[None])
    assert ledger.restored[0] == 1 and names[ledger.prev_templates[0][tree]] == "tree"
    assert np.abs(_tile(context[0], *tree).astype(int) - _tile(real, *tree)).max() <= 4
