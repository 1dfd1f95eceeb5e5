"""Evaluation of a Minetest world model (docs/evaluation.md, "Minetest"): fidelity by horizon next to
two baselines, action control by an inverse-dynamics model, revisit consistency on loops, and a long
dream's stability. `run.main` is `soraworld-evaluate-3d`."""
