"""Measure the prompting capabilities (text, images, videos) on held-out recordings.

    python scripts/evaluate_prompting.py --data data/crafter72_heldout --json runs/eval_prompting.json

The code is `worldenv.games.crafter.evaluation.prompting`; `--help` lists the options.
"""

from worldenv.games.crafter.evaluation.prompting import main

if __name__ == "__main__":
    main()
