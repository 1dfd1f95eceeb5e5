"""Evaluate a Minetest world model on held-out recordings: `soraworld-evaluate-3d` (docs/evaluation.md).

    python scripts/evaluate_3d.py --model WORLD --data data/minetest_heldout --idm-data data/minetest --out runs/eval_3d

The code is `worldenv.games.minetest.evaluation`; `--help` lists the options.
"""

from worldenv.games.minetest.evaluation.run import main

if __name__ == "__main__":
    main()
