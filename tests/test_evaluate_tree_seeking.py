"""scripts/evaluate_tree_seeking.py: scripted frame-reading players in the game and in the dream."""

import json

from evaluate_tree_seeking import main


def test_the_seeker_chops_trees_in_the_game_and_random_play_seldom_does(tmp_path):
    rows = main(["--where", "real", "--episodes", "3", "--steps", "40", "--out", str(tmp_path)])
    seek, rand = rows
    assert seek["policy"] == "seek" and rand["policy"] == "random"
    # it reads the trees off the pixels and walks to them: wood in every game, and far more of it
    assert seek["any_wood"] == 1.0 and seek["wood_per_episode"] > 3 * max(rand["wood_per_episode"], 0.5)
    assert seek["tree_next_to_player"] > rand["tree_next_to_player"]
    assert rand["trees_in_view"] > 0 and "0-1" in rand["trees_in_view_by_step"]
    saved = json.loads((tmp_path / "tree_seeking.json").read_text())
    assert saved["rows"] == rows and saved["settings"]["hold_openings"] is True


def test_the_players_run_in_a_dream(tiny_world, tmp_path, monkeypatch):
    rows = main(["--where", "dream", "--world", str(tiny_world), "--episodes", "3", "--steps", "3",
                 "--num-envs", "2", "--out", str(tmp_path)])
    assert [r["where"] for r in rows] == ["dream", "dream"] and all(r["episodes"] == 3 for r in rows)
    assert all(set(r["trees_in_view_by_step"]) == {"0-1", "1-10"} for r in rows)
    import worldenv.dream_vector_env as dream_vector_env

    made = []
    real_class = dream_vector_env.DreamVectorEnv
    monkeypatch.setattr(dream_vector_env, "DreamVectorEnv", lambda **kw: made.append(kw) or real_class(**kw))
    rows = main(["--where", "dream", "--world", str(tiny_world), "--episodes", "2", "--steps", "2", "--num-envs", "2",
                 "--policies", "random", "--no-keep-terrain", "--guidance", "1", "--start-sigma", "1",
                 "--denoise-steps", "1", "--out", str(tmp_path)])
    settings = json.loads((tmp_path / "tree_seeking.json").read_text())["settings"]
    assert len(rows) == 1 and settings["keep_terrain"] is False and settings["guidance"] == 1.0
    # the sampler's settings reach the dreams
    assert made[0]["guidance"] == 1.0 and made[0]["start_sigma"] == 1.0 and made[0]["steps"] == 1
