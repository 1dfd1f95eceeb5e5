"""The bench (`soraworld-bench`) runs end to end on a tiny world and writes its JSON."""

import json

from worldenv import bench


def test_bench_writes_table_and_json(tiny_world, tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = bench.main(["--world", str(tiny_world), "--batches", "2", "--single-steps", "5", "--steps-per-env", "3",
                         "--real-seconds", "0.5", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["real_steps_per_s"] > 0 and data["game"] == "crafter" and data["dream_batch1"]["p50_ms"] > 0
    assert data["dream_batched"]["2"]["env_steps_per_s"] > 0 and result["dream_batch1"]["ratio_to_real"] > 0
    assert "dream batch 2" in capsys.readouterr().out
