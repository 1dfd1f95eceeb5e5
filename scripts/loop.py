"""Learning in the dream, in a loop, on real Crafter: collect, fine-tune the world, train the
policy in the dream, score it in the game (`agents.loop`; `--help` for the flags).

    python scripts/loop.py --config configs/loop/crafter72.toml
    python scripts/loop.py --config configs/loop/crafter72.toml --resume     # after a break

Also installed as `soraworld-loop`.
"""

from agents.loop.run import main

if __name__ == "__main__":
    main()
