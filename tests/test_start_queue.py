"""A class starting at once: the start queue, its progress messages, and the settings that shape it."""

import asyncio

import pytest

from tljh.hub.startqueue import StartQueue, default_slots, progress_event
from tljh.hub.traits import hub_config
from tljh.install.installer import render_unit
from tljh.schema import problems


def run(coro):
    return asyncio.run(coro)


def test_at_most_slots_hold_at_once_and_waiters_are_served_in_arrival_order():
    async def scenario():
        queue, order, peak = StartQueue(2), [], 0

        async def start(i):
            nonlocal peak
            ticket = queue.enter()
            try:
                await queue.wait(ticket)
                peak = max(peak, queue.running)
                order.append(i)
                await asyncio.sleep(0.01)
            finally:
                queue.leave(ticket)

        await asyncio.gather(*(start(i) for i in range(7)))
        return queue, order, peak

    queue, order, peak = run(scenario())
    assert order == list(range(7))
    assert peak == 2
    assert (queue.running, queue.waiting) == (0, 0)


def test_a_waiter_knows_how_many_are_ahead():
    async def scenario():
        queue = StartQueue(1)
        first, second, third = queue.enter(), queue.enter(), queue.enter()
        ahead = [queue.ahead_of(t) for t in (first, second, third)]
        queue.leave(first)
        after = [queue.ahead_of(t) for t in (second, third)], second.done(), third.done()
        return ahead, after

    ahead, after = run(scenario())
    assert ahead == [0, 0, 1]
    assert after == ([0, 0], True, False)


def test_a_waiter_that_gives_up_leaves_the_line_and_never_takes_a_slot():
    """The hub cancels a start after start_timeout: the line moves on, and no slot leaks."""
    async def scenario():
        queue = StartQueue(1)
        holder, quitter, next_one = queue.enter(), queue.enter(), queue.enter()
        waiting = asyncio.ensure_future(queue.wait(quitter))
        await asyncio.sleep(0)
        waiting.cancel()
        queue.leave(quitter)
        queue.leave(holder)
        queue.leave(holder)  # twice: still one slot given back
        return queue.running, next_one.done(), quitter.cancelled()

    assert run(scenario()) == (1, True, True)


def test_progress_tells_the_place_in_line_then_the_start():
    async def scenario():
        queue = StartQueue(2)
        tickets = [queue.enter() for _ in range(5)]
        return [progress_event("waiting", queue, t)["message"] for t in tickets], queue

    messages, queue = run(scenario())
    assert messages[4] == "Waiting for a start slot: 2 ahead of you (2 servers start at a time)"
    assert messages[2] == "Waiting for a start slot: 0 ahead of you (2 servers start at a time)"
    assert messages[0] == "Starting your server..."  # it has a slot
    assert "loading" in progress_event("answering", queue, None)["message"]


@pytest.mark.parametrize("cpus, slots", [(1, 2), (2, 4), (8, 16)])
def test_default_slots_are_two_per_core(cpus, slots):
    assert default_slots(cpus) == slots


def test_queue_needs_a_slot():
    with pytest.raises(ValueError):
        StartQueue(0)


def test_spawner_defaults_cover_the_wait_in_line(paths):
    c = hub_config({}, paths, "pw")
    assert c["JupyterHub"]["concurrent_spawn_limit"] == 0  # no bare 429: the spawner queues
    assert c["SystemdSpawner"]["start_timeout"] == 900
    assert c["SystemdSpawner"]["http_timeout"] == 120
    assert c["SystemdSpawner"]["unit_extra_properties"] == {"CPUWeight": "20", "IOWeight": "20"}
    assert c["UserCreatingSpawner"]["concurrent_starts"] == 0


def test_spawner_keys_reach_the_spawner(paths):
    config = {"spawner": {"concurrent_starts": 6, "start_timeout": 1200, "http_timeout": 60}}
    c = hub_config(config, paths, "pw")
    assert c["UserCreatingSpawner"]["concurrent_starts"] == 6
    assert (c["SystemdSpawner"]["start_timeout"], c["SystemdSpawner"]["http_timeout"]) == (1200, 60)


@pytest.mark.parametrize("config", [
    {"spawner": {"concurrent_starts": 0}},
    {"spawner": {"concurrent_starts": 12, "start_timeout": 10, "http_timeout": 300}},
])
def test_valid_spawner_keys(config):
    assert problems(config) == []


@pytest.mark.parametrize("config, start", [
    ({"spawner": {"concurrent_starts": -1}}, "spawner.concurrent_starts: -1 is not allowed; allowed: an integer 1-1000"),
    ({"spawner": {"concurrent_starts": "many"}}, "spawner.concurrent_starts: 'many' is not allowed"),
    ({"spawner": {"start_timeout": 5}}, "spawner.start_timeout: 5 is not allowed; allowed: seconds"),
    ({"spawner": {"http_timeout": 2.5}}, "spawner.http_timeout: 2.5 is not allowed"),
    ({"spawner": {"concurrency": 3}}, "spawner.concurrency: unknown key; known keys in spawner: concurrent_starts"),
])
def test_invalid_spawner_keys(config, start):
    [problem] = problems(config)
    assert problem.startswith(start), problem


@pytest.mark.parametrize("unit", ["jupyterhub.service", "traefik.service"])
def test_hub_and_proxy_are_scheduled_ahead_of_user_servers(paths, unit):
    lines = render_unit(unit, paths).splitlines()
    assert {"CPUWeight=1000", "IOWeight=1000", "Nice=-5"} <= set(lines)


@pytest.mark.parametrize("snippet, password", [("", "the-random-secret"),
                                               ("c.TraefikFileProviderProxy.traefik_api_password = 'p' * 8\n", "p" * 8)])
def test_traefik_checks_the_api_password_against_a_cheap_hash(paths, snippet, password):
    """traefik verifies the hash on every API request the hub makes (several per server start)."""
    import bcrypt
    from traitlets.config import Config

    from tljh import config as config_file
    from tljh.hub.traits import configure

    paths.state_dir.mkdir(parents=True)
    paths.traefik_api_secret.write_text("the-random-secret")
    paths.config_d.mkdir(parents=True)
    config_file.save(paths.config_file, {})
    (paths.config_d / "50-snippet.py").write_text(snippet)
    c = Config()
    configure(c, paths)
    hashed = c.TraefikFileProviderProxy.traefik_api_hashed_password
    assert hashed.startswith("$2b$04$")
    assert bcrypt.checkpw(password.encode(), hashed.encode())


def test_only_a_new_run_that_failed_counts_as_a_failed_start():
    from tljh.hub.units import run_failed

    old = {"ActiveState": "failed", "InvocationID": "a1"}
    assert run_failed(old, {"ActiveState": "failed", "InvocationID": "b2"})
    assert not run_failed(old, dict(old))  # the earlier run's failure, not yet reset
    assert not run_failed(old, {"ActiveState": "activating", "InvocationID": "b2"})
    assert not run_failed({}, {"ActiveState": "failed", "InvocationID": ""})  # not loaded
    assert run_failed({}, {"ActiveState": "failed", "InvocationID": "c3"})


def test_a_units_report_says_its_state_and_last_log_lines(fake_commands):
    from tljh.hub.units import unit_report

    fake_commands.set("active.jupyter-alice")
    report = asyncio.run(unit_report("jupyter-alice"))
    assert report == "jupyter-alice: active/running (result ?); its last log lines:\n(journal)"
    assert "journalctl -u jupyter-alice -n 15 --no-pager -o cat" in fake_commands.calls()


def test_a_stopped_unit_left_loaded_from_its_transient_file_is_found(tmp_path):
    from tljh.hub.units import stale_transient_file

    unit, file = "jupyter-alice.service", tmp_path / "jupyter-alice.service"
    for state in ("inactive", "failed"):
        assert stale_transient_file(unit, {"ActiveState": state, "FragmentPath": str(file)}, tmp_path) == file
    assert stale_transient_file("jupyter-alice", {"ActiveState": "inactive", "FragmentPath": str(file)}, tmp_path) == file
    assert stale_transient_file("jupyter-bob", {"ActiveState": "inactive", "FragmentPath": str(file)}, tmp_path) is None
    assert stale_transient_file(unit, {"ActiveState": "active", "FragmentPath": str(file)}, tmp_path) is None
    assert stale_transient_file(unit, {"ActiveState": "inactive", "FragmentPath": ""}, tmp_path) is None
    elsewhere = "/etc/systemd/system/jupyter-alice.service"  # an admin's own unit file is never touched
    assert stale_transient_file(unit, {"ActiveState": "inactive", "FragmentPath": elsewhere}, tmp_path) is None


def test_clearing_a_stale_unit_removes_its_file_and_reloads(tmp_path, fake_commands, monkeypatch):
    from tljh.hub import units

    unit, file = "jupyter-alice.service", tmp_path / "jupyter-alice.service"
    file.write_text("[Service]\n")

    async def stopped(name):
        return {"ActiveState": "inactive", "FragmentPath": str(file)}

    monkeypatch.setattr(units, "unit_properties", stopped)
    assert asyncio.run(units.clear_stale_unit(unit, tmp_path)) is True
    assert not file.exists()
    assert fake_commands.calls() == [f"systemctl reset-failed {unit}", "systemctl daemon-reload"]

    async def running(name):
        return {"ActiveState": "active", "FragmentPath": str(file)}

    fake_commands.forget_calls()
    monkeypatch.setattr(units, "unit_properties", running)
    assert asyncio.run(units.clear_stale_unit(unit, tmp_path)) is False
    assert fake_commands.calls() == []
