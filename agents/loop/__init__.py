"""Learning in the dream, in a loop (Dyna / Dreamer style, on real Crafter):

    1. collect: the current policy (plus a little random exploration) plays the real game; every
       step is written as a recording (`collect.py`);
    2. world: the world model's DiT and heads are fine-tuned on all real data so far, the newest
       weighted up (`world.py`);
    3. dream: the policy trains inside the new dream, started from real states of the new data;
    4. score: the policy plays the real game (Crafter score over `score_episodes` episodes).

`run.py` drives it from a recipe (`config.py`, e.g. configs/loop/crafter72.toml) and resumes
after an interruption at any phase (`state.py`).
"""
