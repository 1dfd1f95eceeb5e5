"""Play a world in a pygame window: `python scripts/play.py --help` (see worldenv/play/cli.py)."""

from worldenv.play.cli import main

if __name__ == "__main__":
    main()
