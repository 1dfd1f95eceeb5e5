"""Can the world model produce the game's events? Item gains dreamed from real moments.

    python scripts/evaluate_events.py --model worldenv/worlds/crafter72 --data data/crafter72_heldout \
        --out runs/eval_events

The code is `worldenv.games.crafter.evaluation.events`; `--help` lists the options.
"""

from worldenv.games.crafter.evaluation.events import main

if __name__ == "__main__":
    main()
