"""plugins/scheduler: "remind <ms> <text>" notifies after a delay (setTimeout); the task
run(interval_ms, times) notifies "tick N" on an interval (setInterval) and returns a summary.
Tests wait for notifications with a timeout, never for a fixed time."""

from __future__ import annotations

import time
from typing import Any

import pytest

import ivmhost

pytestmark = pytest.mark.anyio


def remind(host: ivmhost.PluginHost, args: str) -> Any:
    return host.hook.run_command(name="remind", args=args, note=None)


def test_a_reminder_arrives_after_its_delay(notes_host, notifications) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    asked = time.monotonic()
    assert remind(host, "50 take the cake out") == "reminder set for 50 ms from now: take the cake out"
    plugin, channel, message, arrived = notifications.next()
    assert (plugin, channel, message) == ("scheduler", "scheduler", "reminder: take the cake out")
    assert arrived - asked >= 0.050


def test_reminders_arrive_in_the_order_they_are_due(notes_host, notifications) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    remind(host, "200 third")
    remind(host, "100 second,  with   spaces ")
    remind(host, "0 first")
    messages = [notifications.next()[2] for _ in range(3)]
    assert messages == ["reminder: first", "reminder: second,  with   spaces", "reminder: third"]


@pytest.mark.parametrize("args", ["", "100", "soon call mum", "-5 x", "1.5 x", "1e3 x", "2147483648 x", "0x10 x"])
def test_a_reminder_needs_a_whole_delay_and_a_text(notes_host, notifications, args: str) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    assert remind(host, args) == "remind: usage: remind <ms> <text>, with ms a whole number up to 2147483647"
    assert notifications.drain() == []


def test_pending_reminders_go_with_the_plugin(notes_host, notifications, plugins_dir) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    remind(host, "30 never sent")
    host.unload("scheduler")
    host.load(plugins_dir / "scheduler")
    remind(host, "60 barrier")  # due after the first: had that one survived, it would come first
    assert notifications.next()[2] == "reminder: barrier"
    assert notifications.drain() == []


async def test_the_task_ticks_in_order_and_returns_a_summary(notes_host, notifications) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    async with host:
        task = host.start_task("scheduler", "run", 10, 5)
        summary = await task.wait()
        assert not task.cancelled
    assert summary["ticks"] == 5 and summary["interval_ms"] == 10
    assert summary["elapsed_ms"] >= 50
    assert notifications.drain() == [f"tick {n}" for n in range(1, 6)]


async def test_zero_times_returns_at_once(notes_host, notifications) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    async with host:
        assert await host.start_task("scheduler", "run", 10, 0).wait() == {"ticks": 0, "interval_ms": 10, "elapsed_ms": 0}
    assert notifications.drain() == []


@pytest.mark.parametrize(("args", "why"), [((10, -1), "times must be a whole number >= 0, not -1"),
                                            ((2.5, 3), "interval_ms must be a whole number >= 0, not 2.5"),
                                            ((10,), "times must be a whole number >= 0, not undefined")])
async def test_the_task_refuses_bad_arguments(notes_host, args: tuple[Any, ...], why: str) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    async with host:
        task = host.start_task("scheduler", "run", *args)
        with pytest.raises(ivmhost.PluginError, match=f"RangeError: {why}"):
            await task.wait()


async def test_cancelling_the_task_stops_its_ticks(notes_host, notifications) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    async with host:
        task = host.start_task("scheduler", "run", 5, 100_000)
        assert [(await notifications.anext())[2] for _ in range(3)] == ["tick 1", "tick 2", "tick 3"]
        task.cancel()
        with pytest.raises(ivmhost.IvmhostError, match="task scheduler.run was cancelled"):
            await task.wait()
        assert task.cancelled
        stopped = notifications.drain()  # ticks sent before the cancellation took effect
        assert stopped == [f"tick {n}" for n in range(4, 4 + len(stopped))]
        # A reminder due after ten more intervals is the barrier: had the ticks gone on, ten more
        # would come before it.
        answer = await host.ahook.run_command(name="remind", args="50 barrier", note=None)
        assert answer == "reminder set for 50 ms from now: barrier"
        # Not one tick more: a timer already queued on the isolate's thread when the task's context
        # was released finds the runtime released and runs nothing (ivmhost/_host.py, _Realm.close).
        assert (await notifications.anext())[2] == "reminder: barrier"
        assert notifications.drain() == []


def test_commands_and_other_commands(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("scheduler")
    assert host.hook.commands() == [[{"name": "remind", "help": "remind <ms> <text>: send a reminder with the text in ms milliseconds"}]]
    assert host.hook.run_command(name="stats", args="", note=None) is None
    assert host.plugins["scheduler"].manifest.tasks == ("run",)
    assert host.check() == []
