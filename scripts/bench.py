"""Speed of the dream against the real game, measured in the same run: `soraworld-bench`.

    python scripts/bench.py                          # shipped world, batch 1 + 8/32/64
    python scripts/bench.py --world runs/world/world --batches 1 8 --steps-per-env 50 --json runs/bench.json

The code is `worldenv.bench`; `--help` lists the options.
"""

from worldenv.bench import main

if __name__ == "__main__":
    main()
