"""Caption fact encoder: training captions and paraphrased prompts map to the same facts."""

import pytest
import torch

from model.text import FactVocabulary
from worldenv.games.crafter.caption_facts import CRAFTER_FACTS

VOCAB = CRAFTER_FACTS.tokens
caption_facts, encode_captions = CRAFTER_FACTS.facts, CRAFTER_FACTS.encode


def test_training_caption_and_paraphrase_agree():
    caption = ("Night in grassland and trees. Also in view: water. Nearby: a cow above-left. The player faces down. "
               "Inventory: 2 wood, 1 iron. Health 9/9, food 8/9, drink 7/9, energy 9/9.")
    paraphrase = "A dark meadow by a forest and a lake, with cattle around"
    assert caption_facts(caption) == caption_facts(paraphrase)
    assert "terrain:iron" not in caption_facts(caption)  # inventory is not scenery


def test_tokens_are_one_hot_and_padded():
    tok = encode_captions(["sunny desert with zombies", ""], max_tokens=4)
    assert tok.shape == (2, 4, len(VOCAB))
    assert torch.equal(tok[0].sum(-1), torch.tensor([1.0, 1.0, 1.0, 0.0]))
    assert tok[1].sum() == 0


@pytest.mark.parametrize("bad, msg", [(None, "string"), ("x" * 5000, "at most"), (3, "string")])
def test_bad_prompts(bad, msg):
    with pytest.raises(ValueError, match=msg):
        caption_facts(bad)


def test_non_ascii_prompt_is_fine():
    assert caption_facts("Nuit noire 🌙 dans la forêt: night, trees") == ["daylight:night", "terrain:tree"]


def test_a_world_carries_its_vocabulary(tiny_world):
    """The vocabulary round-trips through a world's metadata, so prompting needs no game plugin;
    a world without one says how to get one."""
    import pytest

    from model.rollout import WorldModel

    world = WorldModel.load(tiny_world)
    vocab = FactVocabulary.of_world(world.meta)
    assert vocab.tokens == VOCAB and vocab.facts("sunny beach") == caption_facts("sunny beach")
    with pytest.raises(ValueError, match="no caption vocabulary"):
        FactVocabulary.of_world({})
    with pytest.raises(ValueError, match="malformed caption vocabulary"):
        FactVocabulary.from_dict({"groups": [{"facts": {}}]})


def test_minetest_captions_and_prompts_share_facts():
    """Minetest's vocabulary reads the recorder's captions and a person's prompt alike; what the player
    holds is not the scene."""
    from worldenv.games import get_game

    vocab = get_game("minetest").caption_vocabulary()
    caption = "Minetest, taiga: standing on snowy dirt at midday (12:32), looking into the distance, holding dirt."
    assert vocab.facts(caption) == ["light:day", "landscape:dirt", "landscape:forest", "landscape:snow", "view:sky"]
    assert vocab.facts("a snowy pine forest at noon") == ["light:day", "landscape:forest", "landscape:snow"]
    assert FactVocabulary.from_dict(vocab.to_dict()).facts(caption) == vocab.facts(caption)
