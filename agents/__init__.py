"""Agents for Crafter: the scripted explorer that collects recordings (`explore`), PPO trained in
the dream or the real game (`dream_ppo`), scoring in the real game (`evaluate`), the comparison
table of both (`compare`) and shipping a policy's weights (`ship`)."""
