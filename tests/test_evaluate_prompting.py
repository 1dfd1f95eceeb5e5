"""scripts/evaluate_prompting.py runs end to end on a tiny world and writes its JSON."""

import json

import evaluate_prompting
from collect import CollectConfig, collect


def test_prompting_evaluation_end_to_end(tiny_world, tmp_path):
    data = tmp_path / "heldout"
    collect(CollectConfig(episodes=1, policy="random", out=str(data), seed=5, workers=1, max_steps=40,
                          area=(32, 32)), progress=False)
    r = evaluate_prompting.main(["--world", str(tiny_world), "--data", str(data), "--clips", "1", "--seeds", "1",
                                 "--steps", "1", "--json", str(tmp_path / "p.json")])
    saved = json.loads((tmp_path / "p.json").read_text())
    assert 0 <= saved["loop_last_vs_first_tile_acc"] <= 1 and r["clips"] == 1
    assert len(saved["text"]["seen"]) == len(evaluate_prompting.PROMPTS)
    assert set(saved["sizes"]) == set(evaluate_prompting.SIZES)
    assert all(0 <= m["tile_validity"] <= 1 for m in saved["sizes"].values())
