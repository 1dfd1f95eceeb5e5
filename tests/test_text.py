"""Caption fact encoder: training captions and paraphrased prompts map to the same facts."""

import pytest
import torch

from model.text import VOCAB, caption_facts, encode_captions


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
