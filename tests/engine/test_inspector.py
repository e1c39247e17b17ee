"""The DevTools inspector at the engine level: sessions, the protocol, pauses and their ends.

(The WebSocket endpoint and real DevTools clients are tested in tests/inspector.)
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

import ivmhost

WAIT = 10.0  # seconds: every wait here ends, with a failure, long before pytest's timeout


class Client:
    """A protocol client over one session: requests by id, events by name."""

    def __init__(self, session: ivmhost.InspectorSession) -> None:
        self.session = session
        self.responses: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.next_id = 1
        session.on_response = lambda call_id, text: self.responses.put((call_id, json.loads(text)))
        session.on_notification = lambda text: self.events.put(json.loads(text))

    def send(self, method: str, **params: Any) -> int:
        call_id = self.next_id
        self.next_id += 1
        self.session.dispatch_protocol_message(json.dumps({"id": call_id, "method": method, "params": params}))
        return call_id

    def reply(self, call_id: int) -> dict[str, Any]:
        while True:
            got_id, message = self.responses.get(timeout=WAIT)
            assert got_id == message["id"]
            if got_id == call_id:
                return message

    def request(self, method: str, **params: Any) -> dict[str, Any]:
        message = self.reply(self.send(method, **params))
        assert "error" not in message, message
        return message["result"]  # type: ignore[no-any-return]

    def script_url(self, script_id: str) -> str:
        """The url of a script, from the Debugger.scriptParsed events seen so far."""
        for message in self.seen:
            if message["method"] == "Debugger.scriptParsed" and message["params"]["scriptId"] == script_id:
                return str(message["params"]["url"])
        raise AssertionError(f"no Debugger.scriptParsed for script {script_id}")

    def event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            message = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(message)
            if message["method"] == method:
                return message["params"]  # type: ignore[no-any-return]


@pytest.fixture
def inspected(make_isolate: Callable[..., ivmhost.Isolate]) -> Iterator[tuple[ivmhost.Isolate, ivmhost.Context, Client]]:
    isolate = make_isolate(inspector=True)
    context = isolate.create_context_sync(inspector=True)
    client = Client(isolate.create_inspector_session())
    yield isolate, context, client
    client.session.dispose()


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_an_isolate_without_the_inspector_refuses_sessions_and_inspected_contexts(isolate: ivmhost.Isolate) -> None:
    assert isolate.inspector is False
    with pytest.raises(ivmhost.IvmhostError, match=r"Inspector is not enabled for this isolate: create it with Isolate\(inspector=True\)"):
        isolate.create_inspector_session()
    with pytest.raises(ivmhost.IvmhostError, match="Inspector is not enabled for this isolate"):
        isolate.create_context_sync(inspector=True)
    with pytest.raises(TypeError, match="create_inspector_session"):
        ivmhost.InspectorSession()


def test_runtime_evaluate_runs_in_the_default_context(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, context, client = inspected
    context.eval_sync("globalThis.answer = 6 * 7")
    result = client.request("Runtime.evaluate", expression="answer + 0.5")
    assert result["result"] == {"type": "number", "value": 42.5, "description": "42.5"}
    thrown = client.request("Runtime.evaluate", expression="nope.x")
    assert thrown["exceptionDetails"]["exception"]["description"].startswith("ReferenceError: nope is not defined")


def test_non_ascii_messages_round_trip(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, _, client = inspected
    for text in ["héllo", "snow ☃ man", "emoji 🎈"]:
        result = client.request("Runtime.evaluate", expression=json.dumps(text) + " + '!'")
        assert result["result"]["value"] == text + "!"


def test_contexts_appear_and_disappear(make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    isolate = make_isolate(inspector=True)
    first = isolate.create_context_sync(inspector=True)
    isolate.create_context_sync()  # not shown to the inspector
    with isolate.create_inspector_session() as session:
        client = Client(session)
        client.request("Runtime.enable")
        created = client.event("Runtime.executionContextCreated")["context"]
        assert created["auxData"] == {"isDefault": True}
        later = isolate.create_context_sync(inspector=True)
        second = client.event("Runtime.executionContextCreated")["context"]
        assert second["auxData"] == {"isDefault": False}
        later.release()
        first.eval_sync("1")  # releases are processed by the next call
        destroyed = client.event("Runtime.executionContextDestroyed")
        assert destroyed["executionContextId"] == second["id"]
        assert [e["method"] for e in client.seen].count("Runtime.executionContextCreated") == 2


def test_console_calls_reach_the_session(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, context, client = inspected
    client.request("Runtime.enable")
    context.eval_sync("console.warn('careful', 3, {a: 1})", filename="plugin.js")
    called = client.event("Runtime.consoleAPICalled")
    assert called["type"] == "warning"
    assert [arg.get("value") for arg in called["args"][:2]] == ["careful", 3]
    assert called["args"][2]["type"] == "object"
    assert called["stackTrace"]["callFrames"][0]["url"] == "plugin.js"


def test_a_debugger_statement_pauses_a_sync_call_until_resumed(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, context, client = inspected
    client.request("Debugger.enable")
    code = "function twice(n) {\n  const doubled = n * 2;\n  debugger;\n  return doubled;\n}\ntwice(21)"
    thread, outcome = in_thread(lambda: context.eval_sync(code, filename="twice.js"))
    paused = client.event("Debugger.paused")
    frame = paused["callFrames"][0]
    assert (frame["functionName"], frame["location"]["lineNumber"]) == ("twice", 2)
    assert client.script_url(frame["location"]["scriptId"]) == "twice.js"
    assert paused["reason"] == "other"
    seen = client.request("Debugger.evaluateOnCallFrame", callFrameId=frame["callFrameId"], expression="doubled + 0.5")
    assert seen["result"]["value"] == 42.5
    assert thread.is_alive()  # still paused
    client.request("Debugger.resume")
    thread.join(WAIT)
    assert outcome == {"value": 42}
    client.event("Debugger.resumed")


def test_a_breakpoint_by_url_pauses_a_script(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    isolate, context, client = inspected
    client.request("Debugger.enable")
    breakpoint = client.request("Debugger.setBreakpointByUrl", url="plugin.js", lineNumber=2)
    script = isolate.compile_script_sync("let total = 0;\nfor (let i = 1; i <= 3; i++) {\n  total += i;\n}\ntotal", filename="plugin.js")
    thread, outcome = in_thread(lambda: script.run_sync(context))
    hits = []
    for _ in range(3):
        paused = client.event("Debugger.paused")
        assert paused["hitBreakpoints"] == [breakpoint["breakpointId"]]
        frame = paused["callFrames"][0]
        hits.append(client.request("Debugger.evaluateOnCallFrame", callFrameId=frame["callFrameId"], expression="i")["result"]["value"])
        client.request("Debugger.resume")
    thread.join(WAIT)
    assert hits == [1, 2, 3]
    assert outcome == {"value": 6}


@pytest.mark.anyio
async def test_an_async_call_pauses_on_the_executor(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, context, client = inspected
    client.request("Debugger.enable")

    def drive() -> str:
        paused = client.event("Debugger.paused")
        frame = paused["callFrames"][0]
        client.request("Debugger.evaluateOnCallFrame", callFrameId=frame["callFrameId"], expression="x = 'changed'")
        client.request("Debugger.resume")
        return str(frame["functionName"])

    async with anyio.create_task_group() as group:
        result: dict[str, Any] = {}

        async def call() -> None:
            result["value"] = await context.eval("(function step() { let x = 'original'; debugger; return x; })()")

        group.start_soon(call)
        name = await anyio.to_thread.run_sync(drive)
    assert name == "step"
    assert result["value"] == "changed"


def test_a_timeout_that_falls_due_while_paused_is_forgiven(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, context, client = inspected
    client.request("Debugger.enable")
    thread, outcome = in_thread(lambda: context.eval_sync("debugger; 'finished'", timeout=100))
    client.event("Debugger.paused")
    time.sleep(0.3)
    client.request("Debugger.resume")
    thread.join(WAIT)
    assert outcome == {"value": "finished"}
    with pytest.raises(ivmhost.ScriptTimeoutError):  # the next call has its timeout again
        context.eval_sync("for (;;) {}", timeout=50)


def test_disposing_the_isolate_ends_a_paused_call(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    isolate, context, client = inspected
    client.request("Debugger.enable")
    thread, outcome = in_thread(lambda: context.eval_sync("debugger; 1"))
    client.event("Debugger.paused")
    isolate.dispose()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert isinstance(outcome["error"], ivmhost.IsolateDisposedError)
    assert str(outcome["error"]) == "Isolate was disposed during execution"
    assert client.session.is_disposed
    with pytest.raises(ivmhost.IvmhostError):
        client.send("Runtime.evaluate", expression="1")


def test_disposing_the_session_resumes_a_paused_call(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    isolate, context, client = inspected
    client.request("Debugger.enable")
    thread, outcome = in_thread(lambda: context.eval_sync("debugger; 'resumed'"))
    client.event("Debugger.paused")
    client.session.dispose()
    thread.join(WAIT)
    assert outcome == {"value": "resumed"}
    with pytest.raises(ivmhost.IvmhostError, match="session is disposed"):
        client.send("Runtime.evaluate", expression="1")
    again = Client(isolate.create_inspector_session())  # a new debugger can attach
    assert again.request("Runtime.evaluate", expression="2 + 2")["result"]["value"] == 4
    again.session.dispose()


@pytest.mark.anyio
async def test_cancelling_a_paused_async_call_ends_it(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, context, client = inspected
    client.request("Debugger.enable")
    with anyio.move_on_after(WAIT) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(context.eval, "debugger; 1")
            await anyio.to_thread.run_sync(client.event, "Debugger.paused")
            group.cancel_scope.cancel()
    assert not scope.cancelled_caught
    assert await context.eval("'still works'") == "still works"


def test_sessions_are_independent_and_a_collected_session_lets_go(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    isolate, _, client = inspected
    other = Client(isolate.create_inspector_session())
    assert other.request("Runtime.evaluate", expression="'other'")["result"]["value"] == "other"
    assert client.request("Runtime.evaluate", expression="'first'")["result"]["value"] == "first"
    del other
    import gc

    gc.collect()
    assert client.request("Runtime.evaluate", expression="'still'")["result"]["value"] == "still"


def test_bad_input_is_refused_clearly(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client]) -> None:
    _, _, client = inspected
    with pytest.raises(TypeError, match="message must be a str of JSON, not int"):
        client.session.dispatch_protocol_message(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_response must be callable or None, not str"):
        client.session.on_response = "print"  # type: ignore[assignment]
    client.session.dispatch_protocol_message("this is not JSON")
    client.session.dispatch_protocol_message(b'{"id": 99, "method": "No.such"}')
    assert client.reply(99)["error"]["message"] == "'No.such' wasn't found"
    assert client.request("Runtime.evaluate", expression="1")["result"]["value"] == 1


def test_a_raising_callback_is_logged_and_the_isolate_goes_on(inspected: tuple[ivmhost.Isolate, ivmhost.Context, Client], caplog: pytest.LogCaptureFixture) -> None:
    isolate, context, _ = inspected
    session = isolate.create_inspector_session()

    def broken(call_id: int, message: str) -> None:
        raise RuntimeError("callback broke")

    session.on_response = broken
    with caplog.at_level(logging.ERROR, logger="ivmhost.inspector"):
        session.dispatch_protocol_message('{"id": 1, "method": "Runtime.enable"}')
        assert context.eval_sync("'fine'") == "fine"
        deadline = time.monotonic() + WAIT
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    assert caplog.records[0].message == "An inspector session callback raised"
    assert "callback broke" in caplog.text
    session.dispose()


def test_a_debugger_evaluation_that_never_ends_is_stopped_by_dispose(make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    isolate = make_isolate(inspector=True)
    isolate.create_context_sync(inspector=True)
    session = isolate.create_inspector_session()
    session.dispatch_protocol_message('{"id": 1, "method": "Runtime.evaluate", "params": {"expression": "for (;;) {}"}}')
    time.sleep(0.2)
    started = time.monotonic()
    isolate.dispose()
    assert time.monotonic() - started < WAIT
    assert session.is_disposed


def test_a_session_on_a_disposed_isolate_is_refused(make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    isolate = make_isolate(inspector=True)
    isolate.dispose()
    with pytest.raises(ivmhost.IsolateDisposedError, match="Isolate is disposed"):
        isolate.create_inspector_session()


RACE = r"""
import sys, threading, ivmhost
mode = sys.argv[1]
for i in range(400):
    isolate = ivmhost.Isolate(inspector=True)
    context = isolate.create_context_sync(inspector=True)
    session = isolate.create_inspector_session()
    go = threading.Event()

    def other():
        go.wait()
        try:
            if mode == "create":
                isolate.create_inspector_session().dispose()
            elif mode == "dispatch":
                for k in range(5):
                    session.dispatch_protocol_message('{"id": %d, "method": "Runtime.evaluate", "params": {"expression": "1"}}' % k)
            elif mode == "session_dispose":
                session.dispose()
            else:
                context.eval_sync("1")
        except ivmhost.IvmhostError:
            pass

    thread = threading.Thread(target=other)
    thread.start()
    go.set()
    isolate.dispose()
    thread.join()
print("ok", mode, ivmhost.live_isolates())
"""


@pytest.mark.parametrize("mode", ["create", "dispatch", "session_dispose", "eval"])
def test_dispose_racing_another_thread_never_crashes(mode: str) -> None:
    # A user leaving on another thread (a call refused because of the dispose) once finished the
    # disposal while dispose() still used the isolate: a segfault, most often under CPU load.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RACE, mode], capture_output=True, text=True, timeout=100)
    assert (done.returncode, done.stdout.strip()) == (0, f"ok {mode} 0"), done.stderr[-2000:]
