"""Minetest as a Gymnasium env: the real game under Xvfb, its ground truth, its recordings, its errors.

The game tests need /usr/games/minetest (Debian `minetest`, `minetest-data`), Xvfb (`xvfb`) and
python-xlib; without them they skip with the reason (`make minetest-deps` installs them). One env
is shared by the module's game tests (a client start costs about 3-4 s); the tests that change it
(hang, kill, close) come last, in file order.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from worldenv.games.minetest.client import MINETEST
from worldenv.games.minetest.display import XVFB
from worldenv.games.minetest.env import MINETEST_SPEC, MinetestEnv
from worldenv.games.minetest.proc import MinetestError

# Spawns on sand in grassland dunes, open ground ahead. (Minetest's map generation is order-dependent
# where trees cross chunk borders, so forest seeds can differ by a few trees from run to run; this
# seed's first frame repeats within 0.3 grey levels.)
SEED = 6
ROOT = Path(__file__).resolve().parents[1]
# what the hand gets from the block it digs
DROPS = {"default:sand": "default:sand", "default:dirt_with_grass": "default:dirt", "default:dirt": "default:dirt"}
YAW_TOLERANCE = 0.3  # degrees: one pointer pixel is 0.25; measured error 0.00002


def game_missing() -> str | None:
    """Why the real game cannot run here (None when it can)."""
    if not os.access(MINETEST, os.X_OK):
        return f"{MINETEST} not installed (make minetest-deps)"
    if not os.access(XVFB, os.X_OK):
        return f"{XVFB} not installed (make minetest-deps)"
    if not os.path.isdir("/usr/share/games/minetest/games/minetest_game"):
        return "minetest_game not installed (Debian minetest-data; make minetest-deps)"
    try:
        import Xlib  # noqa: F401
    except ImportError:
        return "python-xlib not installed (pip install -e '.[minetest]')"
    return None


needs_game = pytest.mark.skipif(game_missing() is not None, reason=str(game_missing()))


def hold(env, action: dict, ticks: int):
    """Step `action` for `ticks` ticks; the last step's result."""
    for _ in range(ticks):
        result = env.step(action)
    return result


def settle(env, ticks: int = 5) -> dict:
    """A few idle ticks, so the pose (read from the server) catches up with the frame."""
    return hold(env, {}, ticks)[4]


def alive(pid: int) -> bool:
    """`pid` runs (a zombie counts as gone: it has exited and holds nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def game():
    """(env, first frame, first info) of a dict-action env reset with SEED."""
    env = MinetestEnv(action_format="dict")
    try:
        obs, info = env.reset(seed=SEED)
        yield env, obs, info
    finally:
        env.close()


# ---------------------------------------------------------------- without the game


def test_actions_outside_the_space_raise_valueerror_naming_it():
    md, dct = MinetestEnv(), MinetestEnv(action_format="dict")
    try:
        for bad in (np.zeros(24, int), np.full(25, 2), "forward", {"forward": 1}):
            with pytest.raises(ValueError, match=r"not in the action space MultiDiscrete"):
                md.step(bad)
        for bad in ({"fly": 1}, {"forward": 2}, {"camera": [0.0, 200.0]}, {"camera": [0.0]}, np.zeros(25, int)):
            with pytest.raises(ValueError, match=r"not in the action space Dict"):
                dct.step(bad)
    finally:
        md.close()
        dct.close()


def test_a_missing_binary_says_how_to_install_it(tmp_path):
    env = MinetestEnv(binary=str(tmp_path / "minetest"))
    try:
        with pytest.raises(FileNotFoundError, match=r"make minetest-deps.*apt-get install -y --no-install-recommends "
                                                    r"minetest minetest-data xvfb"):
            env.reset(seed=0)
        assert env.pids() == []
    finally:
        env.close()
    env = MinetestEnv(binary="/bin/true", xvfb=str(tmp_path / "Xvfb"))
    try:
        with pytest.raises(FileNotFoundError, match="Xvfb not found.*make minetest-deps"):
            env.reset(seed=0)
    finally:
        env.close()


def test_a_display_that_cannot_start_gives_a_clear_error(tmp_path):
    env = MinetestEnv(binary="/bin/true", xvfb="/bin/false")  # an "X server" that exits at once
    try:
        with pytest.raises(MinetestError, match="the X display could not start: Xvfb exited with status 1"):
            env.reset(seed=0)
        assert env.pids() == []
    finally:
        env.close()


def test_children_die_with_a_killed_python_process(tmp_path):
    """What the env starts (Xvfb; the client through the network-namespace launcher, which execs it)
    gets SIGKILL from the kernel when the Python process that started it dies, even by SIGKILL."""
    import subprocess
    import sys

    script = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from worldenv.games.minetest.proc import spawn
from worldenv.games.minetest.client import NETNS
env = {{"PATH": "/usr/bin:/bin"}}
a = spawn(["/bin/sleep", "600"], env, {str(tmp_path / "a.log")!r})
b = spawn([sys.executable, "-I", str(NETNS), "auto", "/bin/sleep", "600"], env, {str(tmp_path / "b.log")!r})
print(a.pid, b.pid, flush=True)
time.sleep(600)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "sleep" not in open(f"/proc/{pids[1]}/cmdline").read():
            time.sleep(0.05)  # the launcher has exec'd sleep
        assert all(alive(p) for p in pids)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        assert not any(alive(p) for p in pids)
    finally:
        parent.kill()
        parent.wait()


def test_bad_sizes_and_formats_are_refused():
    for kwargs in ({"size": (160, 90)}, {"size": (161, 120)}, {"action_format": "vector"}, {"tick_rate": 0}):
        with pytest.raises(ValueError):
            MinetestEnv(**kwargs)


# ---------------------------------------------------------------- the real game


@needs_game
def test_the_game_starts_and_a_forward_tick_moves_the_pose_forward(game):
    env, obs, info = game
    assert obs.shape == (120, 160, 3) and obs.dtype == np.uint8 and obs.std() > 10  # a drawn world
    assert info["hp"] == 20 and info["ground"] in DROPS
    start = settle(env)["pose"]
    _, reward, terminated, truncated, step_info = env.step({"forward": 1})
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert 0.03 < step_info["tick_duration"] < 0.2
    end = settle(env)["pose"]
    yaw = math.radians(start["yaw"])  # yaw 0 faces +z; +yaw turns towards +x
    ahead = (end["x"] - start["x"]) * math.sin(yaw) + (end["z"] - start["z"]) * math.cos(yaw)
    aside = (end["x"] - start["x"]) * math.cos(yaw) - (end["z"] - start["z"]) * math.sin(yaw)
    assert 0.03 < ahead < 0.5 and abs(aside) < 0.01, (start, end)


def udp_binds(pid: int) -> list[str]:
    """The local addresses ("127.0.0.1:30000") of the UDP sockets process `pid` holds, as its own
    network namespace sees them."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    binds = []
    for table in ("udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.read().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    addr, port = cols[1].split(":")
                    ip = ".".join(str(b) for b in bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr
                    binds.append(f"{ip}:{int(port, 16)}")
    return binds


@needs_game
def test_the_game_listens_only_on_loopback_or_in_a_network_of_its_own(game):
    """The server binds 127.0.0.1 (bind_address); the engine binds the client's own socket to
    0.0.0.0, so the client runs in a private network namespace where the system allows one."""
    env, _, _ = game
    binds = udp_binds(env.client.pid)
    assert any(b.startswith("127.0.0.1:") for b in binds), binds
    if env.client.network_isolated():
        return
    if os.geteuid() == 0:
        pytest.fail("root can always make a network namespace, yet the client runs in the host's")
    wildcard = [b for b in binds if b.startswith("0.0.0.0:")]
    pytest.xfail(f"no private network namespace here (unprivileged user namespaces refused); the engine's "
                 f"client socket is bound to {wildcard}")


@needs_game
def test_a_camera_action_turns_by_its_degrees(game):
    env, _, _ = game
    before = settle(env, 2)["pose"]
    env.step({"camera": np.array([0.0, 10.0], np.float32)})
    after = settle(env)["pose"]
    turned = (after["yaw"] - before["yaw"] + 180) % 360 - 180
    assert abs(turned - 10.0) < YAW_TOLERANCE, turned
    env.step({"camera": np.array([-10.0, -10.0], np.float32)})  # +pitch looks down: this looks up
    back = settle(env)["pose"]
    assert abs((back["yaw"] - before["yaw"] + 180) % 360 - 180) < YAW_TOLERANCE
    assert abs(back["pitch"] - (after["pitch"] - 10.0)) < YAW_TOLERANCE


@needs_game
def test_out_of_space_actions_on_the_running_game(game):
    env, _, _ = game
    with pytest.raises(ValueError, match="not in the action space Dict"):
        env.step({"camera": [0.0, 181.0]})
    env.step({})  # the env is still usable


@needs_game
def test_holding_attack_at_a_block_adds_it_to_the_inventory(game):
    env, _, _ = game
    env.step({"camera": np.array([120.0, 0.0], np.float32)})  # look straight down (the game stops at 89.5)
    info = settle(env, 4)
    assert info["pose"]["pitch"] > 85 and info["pointed"]["node"] == info["ground"]
    item = DROPS[info["ground"]]
    assert info["pointed"]["distance"] < 2.0 and item not in info["inventory"]
    rewards, kinds = [], set()
    for _ in range(60):  # the hand digs sand or dirt in 0.7 s (14 ticks)
        _, reward, _, _, info = env.step({"attack": 1})
        rewards.append(reward)
        kinds |= set(info["new_items"])
        assert reward == len(info["new_items"])
        if info["inventory"].get(item, 0) >= 2:  # a second block of the kind: no second reward
            break
    env.step({})
    assert info["inventory"].get(item, 0) >= 1 and item in kinds
    assert sum(rewards) == len(kinds) == len(info["inventory"])


@needs_game
def test_the_same_seed_gives_the_same_spawn_and_first_frame(game):
    env, first, first_info = game
    obs, info = env.reset(seed=SEED)
    assert info["map_seed"] == first_info["map_seed"]
    assert info["biome"] == first_info["biome"] and info["ground"] == first_info["ground"]
    for k, v in first_info["pose"].items():  # the spawn; the player may still settle by a hair
        assert abs(info["pose"][k] - v) < 0.05, (k, info["pose"], first_info["pose"])
    diff = np.abs(obs.astype(np.int16) - first.astype(np.int16))
    assert diff.mean() < 2.0 and (diff > 24).mean() < 0.02, (diff.mean(), (diff > 24).mean())
    other, other_info = env.reset(seed=SEED + 1)
    assert other_info["map_seed"] != info["map_seed"] and np.abs(other.astype(np.int16) - obs).mean() > 10


@needs_game
def test_a_killed_client_gives_a_clear_error_and_reset_recovers(game):
    env, _, _ = game
    pid = env.client.pid
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(MinetestError, match=rf"client \(pid {pid}\) was killed by signal 9"):
        env.step({})
    with pytest.raises(MinetestError, match="call reset"):
        env.step({})
    obs, info = env.reset(seed=SEED)
    assert env.client.pid != pid and env.step({})[4]["hp"] == 20


@needs_game
def test_a_hung_client_gives_a_clear_error(game):
    env, _, _ = game
    pid = env.client.pid
    env.hang_timeout = 1.5
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(MinetestError, match=rf"pid {pid}\) is hung"):
            hold(env, {}, 60)
    finally:
        env.hang_timeout = 10.0
    assert not alive(pid) and env.client is None


@needs_game
def test_close_leaves_no_process_behind(game):
    env, _, _ = game
    started = list(env.started_pids)  # Xvfb and every client of the tests above
    assert len(started) >= 5 and alive(env.display.pid)
    tmp = env._tmp
    env.close()
    assert not any(alive(p) for p in started) and env.pids() == []
    assert not tmp.exists()


@needs_game
def test_a_two_episode_recording_round_trips_through_clipdataset(tmp_path):
    from model.data import ClipDataset
    from model.recordings import list_episodes, read_jsonl, write_index
    from model.vpt import vpt_actions
    from worldenv.games import get_game

    out = tmp_path / "rec"
    env = MinetestEnv(settle_time=(0.5, 3.0))
    try:
        episodes = [get_game("minetest").record_episode(out, f"minetest_explore_{s:07d}", s, "explore", 24, env=env)
                    for s in (SEED, SEED + 1)]
    finally:
        env.close()
    write_index(out, episodes, game="minetest")
    assert [e.frames for e in list_episodes(out)] == [25, 25]
    assert episodes[0].extra["map_seed"] != episodes[1].extra["map_seed"]
    data = ClipDataset(out, clip_len=25)
    assert len(data) == 2
    for i, ep in enumerate(episodes):
        records = read_jsonl(out / f"{ep.name}.jsonl")
        clip = data[i]
        assert clip["frames"].shape == (25, 120, 160, 3)
        recorded = np.array([r["action"] for r in records[:-1]])
        assert np.array_equal(clip["actions"][:-1].numpy(), recorded)
        assert clip["has_action"].tolist() == [True] * 24 + [False]
        # the VPT fields carry the same actions
        vpt, _, _ = vpt_actions(records[:-1])
        assert np.array_equal(vpt, recorded)
        assert all(r["caption"].startswith("Minetest") and "pose" in r and "inventory" in r for r in records)
        assert records[0]["keyboard"].keys() >= {"keys"} and records[0]["mouse"].keys() >= {"dx", "dy", "buttons"}
    assert json.loads((out / "index.json").read_text())["episodes"][0]["game"] == "minetest"


@needs_game
def test_in_the_host_network_a_taken_port_is_retried(monkeypatch):
    """Without a private network each client's server needs a port of its own; one taken between
    the pick and the bind costs a second try, not the episode."""
    import socket

    from worldenv.games.minetest import client as client_module

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    ports = [taken.getsockname()[1]]
    real = client_module.free_udp_port
    monkeypatch.setattr(client_module, "free_udp_port", lambda: ports.pop() if ports else real())
    env = MinetestEnv(network="host", settle_time=(0.3, 1.0))
    try:
        env.reset(seed=SEED)
        assert env.client.port != taken.getsockname()[1] and not env.client.network_isolated()
        assert f"127.0.0.1:{env.client.port}" in udp_binds(env.client.pid)
        assert len(env.started_pids) == 3  # Xvfb, the client that found its port taken, this one
    finally:
        env.close()
        taken.close()


@needs_game
def test_check_env_passes():
    from gymnasium.utils.env_checker import check_env

    env = MinetestEnv(settle_time=(0.3, 1.0))
    env.spec = MINETEST_SPEC  # as registered: real time, so nondeterministic
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()
