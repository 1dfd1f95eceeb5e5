"""scripts/evaluate.py runs end to end on a tiny world and any collector-format folder."""

import json

import evaluate
import numpy as np
from collect import CollectConfig, collect


def test_view_shift_recovers_moves():
    rng = np.random.default_rng(0)
    world = rng.integers(1, 12, (20, 20))
    before = world[5:12, 5:14]
    for (dx, dy) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]:
        after = world[5 + dy : 12 + dy, 5 + dx : 14 + dx]
        assert evaluate.view_shift(before, after) == (dx, dy)


def test_evaluate_end_to_end(tiny_world, tmp_path):
    data = tmp_path / "heldout"
    collect(CollectConfig(episodes=2, policy="random", out=str(data), seed=3, workers=1, max_steps=30,
                          area=(32, 32)), progress=False)
    r = evaluate.main(["--model", str(tiny_world), "--data", str(data), "--out", str(tmp_path / "eval"),
                       "--starts", "2", "--horizons", "1", "4", "--stability-steps", "6", "--every", "3",
                       "--reward-frames", "20"])
    saved = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert set(saved["fidelity"]) == {"1", "4"} and 0 <= saved["fidelity"]["4"]["tile_accuracy"] <= 1
    assert [p["step"] for p in saved["stability"]] == [0, 3, 6]
    assert 0 <= r["controllability"]["move_accuracy"] <= 1
    assert (tmp_path / "eval" / "filmstrip.png").stat().st_size > 0
    import av

    with av.open(str(tmp_path / "eval" / "real_vs_dream.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4
