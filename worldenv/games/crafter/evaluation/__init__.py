"""Evaluation of a Crafter world model on held-out recordings (docs/evaluation.md).

One idea per module:
- `dreams`: the held-out windows and the dreams started from them under the game's rules;
- `fidelity`: teacher-forced fidelity by horizon (PSNR, tiles, inventory, class shares);
- `heads`: the unlock and termination heads on real frames;
- `controllability`: do dreamed moves move the view, and refused ones keep it still;
- `strips`: the strip of view a step brings in, game against dream;
- `context`: how well the DiT uses its context;
- `stability`: a long random-action dream;
- `places` and `novelty`: which places a prompt showed (and the ceiling that sets);
- `events`: item gains dreamed at the moments the game gave them;
- `prompting`: text, image and video prompting;
- `run`: all of the world measures in one command (`soraworld-evaluate`).
"""
