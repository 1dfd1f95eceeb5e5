"""Evaluate a world model on held-out recordings: `soraworld-evaluate` (docs/evaluation.md).

    python scripts/evaluate.py --model worldenv/worlds/crafter72 --data data/crafter72_heldout --out runs/eval

The code is `worldenv.games.crafter.evaluation`; `--help` lists the options.
"""

from worldenv.games.crafter.evaluation.run import main

if __name__ == "__main__":
    main()
