"""The prompting evaluation (scripts/evaluate_prompting.py) runs end to end on a tiny world and writes its JSON."""

import json

from worldenv.collect import CollectConfig, collect
from worldenv.games.crafter.evaluation import prompting as evaluate_prompting


def test_prompting_evaluation_end_to_end(tiny_world, tmp_path):
    data = tmp_path / "heldout"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=5, workers=1, max_steps=40,
                          area=(32, 32), size=(64, 64)), progress=False)
    r = evaluate_prompting.main(["--world", str(tiny_world), "--data", str(data), "--clips", "1", "--seeds", "1",
                                 "--steps", "1", "--json", str(tmp_path / "p.json")])
    saved = json.loads((tmp_path / "p.json").read_text())
    assert 0 <= saved["loop_last_vs_first_tile_acc"] <= 1 and r["clips"] == 1
    assert len(saved["text"]["seen"]) == len(evaluate_prompting.PROMPTS)
    assert set(saved["sizes"]) == {"64x64", "96x64", "128x64"}  # the tiny world's 7-px tiles, 9/13/18 across
    assert all(0 <= m["tile_validity"] <= 1 for m in saved["sizes"].values())


def test_prompting_evaluation_at_a_tile_aligned_worlds_size(tmp_path):
    """A 72x72 world (the shipped kind) is parsed at 72x72 and tried wider."""
    from conftest import build_tiny_world

    world = build_tiny_world(tmp_path / "w72", size=(72, 72), view_moves=True, view_rows=7)
    data = tmp_path / "heldout72"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=5, workers=1, max_steps=40,
                          area=(32, 32), size=(72, 72)), progress=False)
    evaluate_prompting.main(["--world", str(world), "--data", str(data), "--clips", "1", "--seeds", "1",
                             "--steps", "1", "--json", str(tmp_path / "p.json")])
    saved = json.loads((tmp_path / "p.json").read_text())
    assert set(saved["sizes"]) == {"72x72", "96x72", "144x72"}  # 9, 12 and 18 tiles: widths it can generate
    assert 0 <= saved["edit_structure_tile_acc"] <= 1
