"""Minetest (Luanti) with minetest_game, a real 3D Minecraft-style game, as a SoraWorld game plugin.

It runs headless here: each env starts its own Xvfb display and Minetest client (software
OpenGL), and a world mod writes the ground truth. Actions are MineRL 1.0's, the VPT layout of the
`minecraft` plugin, so one action-token scheme serves VPT Minecraft recordings and Minetest.

Modules: `env` (`MinetestEnv`, the Gymnasium env), `client` (the Minetest process, its HOME and
world), `display` (Xvfb), `xinput` (XTest keys and mouse, frame grabs), `proc` (processes that end
with their parent), `netns` (a private network namespace for the client), `mod/soraworld` (the Lua
world mod), `caption`, `explore` (the scripted policy) and `recorder` (one episode -> mp4 + jsonl).

Needs the Debian packages minetest, minetest-data and xvfb (`make minetest-deps`) and the
python-xlib package (the `minetest` extra). Nothing here is imported until the plugin is used.
"""

from __future__ import annotations

from worldenv.games.minecraft import MinecraftGame


class MinetestGame(MinecraftGame):
    """Minetest: the `minecraft` plugin's MineRL action layout, keymap and action names (one
    action-token scheme for both), its own real game and recorder; 160x120 frames by default."""

    name = "minetest"
    real_env_id = "SoraWorld/Minetest-v0"

    def make_real_env(self, size=None, **kwargs):
        """The game through `gym.make` (the registered id, or the same spec where `worldenv` does
        not register it), at `size` (W, H; 160x120 by default)."""
        import gymnasium as gym

        import worldenv  # noqa: F401 -- registers the ids
        from worldenv.games.minetest.env import MINETEST_SPEC

        spec = self.real_env_id if self.real_env_id in gym.registry else MINETEST_SPEC
        return gym.make(spec, **({"size": tuple(size)} if size is not None else {}), **kwargs)

    def caption_vocabulary(self):
        from worldenv.games.minetest.caption_facts import MINETEST_FACTS

        return MINETEST_FACTS

    def record_episode(self, *args, **kwargs):
        """`recorder.record_minetest_episode(out_dir, name, seed, policy="explore", max_steps=1200,
        size=(160, 120), **options)`."""
        from worldenv.games.minetest.recorder import record_minetest_episode

        return record_minetest_episode(*args, **kwargs)


GAME = MinetestGame()
