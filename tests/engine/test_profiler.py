"""CPU profiles in Chrome's .cpuprofile shape (isolated-vm's startCpuProfiler / stopCpuProfiler)."""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

import pytest

import ivmhost

BUSY = "function busyLoop(ms) {\n  const end = Date.now() + ms; let n = 0;\n  while (Date.now() < end) n++;\n  return n;\n}"


def hot_functions(profile: dict[str, Any]) -> collections.Counter[str]:
    names = {node["id"]: node["callFrame"]["functionName"] for node in profile["nodes"]}
    return collections.Counter(names[sample] for sample in profile["samples"])


def check_shape(profile: dict[str, Any]) -> None:
    """What Chrome DevTools needs to load a .cpuprofile."""
    assert set(profile) == {"nodes", "startTime", "endTime", "samples", "timeDeltas"}
    ids = {node["id"] for node in profile["nodes"]}
    assert profile["nodes"][0]["callFrame"]["functionName"] == "(root)"
    for node in profile["nodes"]:
        assert set(node) == {"id", "callFrame", "hitCount", "children"}
        assert set(node["callFrame"]) == {"functionName", "scriptId", "url", "lineNumber", "columnNumber"}
        assert set(node["children"]) <= ids
    assert set(profile["samples"]) <= ids
    assert len(profile["samples"]) == len(profile["timeDeltas"])
    assert profile["endTime"] >= profile["startTime"]
    assert sum(profile["timeDeltas"]) <= profile["endTime"] - profile["startTime"]


def test_a_profile_of_a_sync_call(isolate: ivmhost.Isolate, tmp_path: Any) -> None:
    context = isolate.create_context_sync()
    context.eval_sync(BUSY, filename="work.js")
    isolate.start_cpu_profiler("sync")
    assert context.eval_sync("busyLoop(200) > 0") is True
    profiles = isolate.stop_cpu_profiler("sync")
    assert len(profiles) == 1 and isinstance(profiles[0]["thread_id"], int)
    profile = profiles[0]["profile"]
    check_shape(profile)
    busy = [n for n in profile["nodes"] if n["callFrame"]["functionName"] == "busyLoop"]
    assert busy and busy[0]["callFrame"]["url"] == "work.js" and busy[0]["callFrame"]["lineNumber"] == 0
    assert hot_functions(profile).most_common(1)[0][0] == "busyLoop"
    # Saved as JSON, it is a .cpuprofile file.
    (tmp_path / "sync.cpuprofile").write_text(json.dumps(profile))
    assert json.loads((tmp_path / "sync.cpuprofile").read_text()) == profile


def test_stopping_a_profile_never_started_gives_nothing(isolate: ivmhost.Isolate) -> None:
    assert isolate.stop_cpu_profiler("never") == []
    isolate.start_cpu_profiler("once")
    assert len(isolate.stop_cpu_profiler("once")) == 1
    assert isolate.stop_cpu_profiler("once") == []
    with pytest.raises(TypeError, match="title must be a str, not int"):
        isolate.start_cpu_profiler(1)  # type: ignore[arg-type]


def test_profiles_per_thread_and_overlapping_titles(isolate: ivmhost.Isolate) -> None:
    first = isolate.create_context_sync()
    second = isolate.create_context_sync()
    first.eval_sync(BUSY, filename="first.js")
    second.eval_sync(BUSY.replace("busyLoop", "otherLoop"), filename="second.js")
    isolate.start_cpu_profiler("outer")
    first.eval_sync("busyLoop(100)")
    isolate.start_cpu_profiler("inner")
    worker = threading.Thread(target=lambda: second.eval_sync("otherLoop(150)"))
    worker.start()
    worker.join()
    inner = isolate.stop_cpu_profiler("inner")
    outer = isolate.stop_cpu_profiler("outer")
    assert len(outer) == 2 and len({p["thread_id"] for p in outer}) == 2  # this thread and the worker
    for entry in outer + inner:
        check_shape(entry["profile"])
    main_thread = outer[0]["profile"]
    assert hot_functions(main_thread)["busyLoop"] > 0
    worker_profile = next(p for p in inner if p["thread_id"] == outer[1]["thread_id"])["profile"]
    urls = {n["callFrame"]["url"] for n in worker_profile["nodes"]}
    assert "second.js" in urls or "<ivmhost>" in urls
    assert len(worker_profile["samples"]) > 50  # 150 ms at about one sample per millisecond


@pytest.mark.anyio
async def test_a_profile_of_async_calls(isolate: ivmhost.Isolate) -> None:
    context = await isolate.create_context()
    await context.eval(BUSY, filename="async.js")
    isolate.start_cpu_profiler("async")
    assert await context.eval("busyLoop(150) > 0") is True
    profiles = await isolate.stop_cpu_profiler("async")  # awaitable, like isolated-vm's promise
    assert len(profiles) >= 1
    executor = [p for p in profiles if hot_functions(p["profile"])["busyLoop"] > 0]
    assert executor, "the executor thread's profile holds the busy function"
    check_shape(executor[0]["profile"])


def test_disposing_while_profiling_is_clean(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate()
    context = isolate.create_context_sync()
    isolate.start_cpu_profiler("left running")
    context.eval_sync("let x = 0; for (let i = 0; i < 1e6; i++) x += i")
    isolate.dispose()
    with pytest.raises(ivmhost.IsolateDisposedError):
        isolate.stop_cpu_profiler("left running")
    with pytest.raises(ivmhost.IsolateDisposedError):
        isolate.start_cpu_profiler("again")
