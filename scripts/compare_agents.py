"""One command for the agent comparison table and plot (all scored in the real Crafter game).

    python scripts/compare_agents.py --starts data/crafter72 --no-start-anywhere --seeds 0 1 2 --out runs/compare

The code is `agents.compare` (also `python -m agents.compare`); `--help` lists the options.
"""

from agents.compare import main

if __name__ == "__main__":
    main()
