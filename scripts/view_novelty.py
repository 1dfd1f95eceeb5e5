"""How much of the view at horizon k the start clip never showed, on Crafter recordings.

    python scripts/view_novelty.py --data data/crafter72_heldout --horizons 1 8 32 128

The code is `worldenv.games.crafter.evaluation.novelty`; `--help` lists the options.
"""

from worldenv.games.crafter.evaluation.novelty import main

if __name__ == "__main__":
    main()
