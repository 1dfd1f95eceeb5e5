"""Prompt a world model with text, images and videos: `soraworld-generate`.

    python scripts/generate.py text "a dark forest by a lake" --frames 8 --out runs/gen/text.mp4
    python scripts/generate.py image shot.png --frames 32 --actions 3 3 3 5 --out runs/gen/anim.mp4
    python scripts/generate.py extend clip.mp4 --forward 32 --out runs/gen/fwd.mp4

The code is `worldenv.generate` (Python API: `model.generate`); `--help` lists the commands.
"""

from worldenv.generate import main

if __name__ == "__main__":
    main()
