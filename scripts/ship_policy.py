"""Ship a trained PPO policy: its weights only (no optimizer state), with how it scored.

    python scripts/ship_policy.py --policy runs/ppo_dream_s0/policy.safetensors \
        --scored runs/eval_ppo_dream_s0/agent_eval.json --to agents/policies/crafter72_dream_ppo.safetensors

The code is `agents.ship` (also `python -m agents.ship`); `--help` lists the options.
"""

from agents.ship import main

if __name__ == "__main__":
    main()
