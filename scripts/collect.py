"""Collect recordings of real play: `soraworld-collect`.

    python scripts/collect.py --game crafter --episodes 20 --policy explore --out data/crafter72
    python scripts/collect.py --game minerl --env MineRLTreechop-v0 --episodes 2 --out data/minerl

The code is `worldenv.collect`; `--help` lists the options.
"""

from worldenv.collect import main

if __name__ == "__main__":
    main()
