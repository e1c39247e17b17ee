"""ivmhost.inspector.InspectorServer end to end, with chrome-remote-interface as the debugger:
discovery over HTTP, evaluation, pauses at `debugger;` and at breakpoints while Python runs the
JavaScript on another thread, console messages, sessions that come and go, disposed isolates,
clients that stop reading."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import ivmhost
import ivmhost.inspector
from cdp_client import STEP, Attach, Background, CdpClient, ProtocolError, list_targets, until
from ivmhost.inspector import InspectorServer, InspectorTarget

Inspected = tuple[ivmhost.Isolate, ivmhost.Context]

DOUBLE = """\
function double(n) {
  const twice = n * 2;
  debugger;
  return twice;
}
double(21);
"""

ADD = """\
globalThis.add = function add(a, b) {
  const sum = a + b;
  return sum * 10;
};
"""


def http_get(server: InspectorServer, path: str, host: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a plain HTTP GET, as Python's urllib sees it."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}")
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=STEP) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def connect_without_reading(server: InspectorServer, target: InspectorTarget) -> socket.socket:
    """A WebSocket client on a bare socket that sends Runtime.enable and then never reads: its
    receive buffer is tiny, so the server's sends block as soon as the kernel's buffers fill."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window follows it
    sock.settimeout(STEP)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /{target.id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # the response only: nothing of what follows it
    assert response.startswith(b"HTTP/1.1 101 "), response
    payload, mask = b'{"id": 1, "method": "Runtime.enable"}', os.urandom(4)
    sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return sock


def read_to_the_end(sock: socket.socket) -> None:
    """Reads what the server sent until it closed the connection (a timeout if it does not)."""
    try:
        while sock.recv(2**20):
            pass
    except ConnectionResetError:
        pass


def paused_frame(params: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = params["callFrames"][0]
    return frame


def script_url(client: CdpClient, frame: dict[str, Any]) -> str:
    """The file a call frame is in: V8 leaves the frame's deprecated ``url`` empty, the client
    resolves ``location.scriptId`` through Debugger.scriptParsed, as DevTools does."""
    script_id = frame["location"]["scriptId"]
    parsed = [line["params"] for line in client.seen
              if line.get("event") == "Debugger.scriptParsed" and line["params"]["scriptId"] == script_id]
    assert len(parsed) == 1, f"script {script_id} was announced {len(parsed)} times"
    url: str = parsed[0]["url"]
    return url


# -- discovery --------------------------------------------------------------------------------


def test_json_lists_targets_as_node_does(server: InspectorServer, inspected: Inspected,
                                         make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    isolate, _ = inspected
    target = server.add(isolate, title="calc 1.0.0", url="file:///plugins/calc/index.js")
    where = f"127.0.0.1:{server.port}/{target.id}"
    entry = {
        "description": "ivmhost isolate: calc 1.0.0",
        "devtoolsFrontendUrl": f"devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws={where}",
        "devtoolsFrontendUrlCompat": f"devtools://devtools/bundled/inspector.html?experiments=true&v8only=true&ws={where}",
        "faviconUrl": "https://nodejs.org/static/images/favicons/favicon.ico",
        "id": target.id,
        "title": "calc 1.0.0",
        "type": "node",
        "url": "file:///plugins/calc/index.js",
        "webSocketDebuggerUrl": f"ws://{where}",
    }
    assert target.websocket_url == entry["webSocketDebuggerUrl"]
    assert target.devtools_frontend_url == entry["devtoolsFrontendUrl"]
    assert server.address == ("127.0.0.1", server.port) and server.port > 0

    targets, version = list_targets(server.port)
    assert targets == [entry]
    assert version == {"Browser": f"ivmhost/{ivmhost.__version__}", "Protocol-Version": "1.1"}

    # /json and /json/list are the same document; URLs follow the address the client used.
    status, kind, body = http_get(server, "/json")
    assert (status, kind, json.loads(body)) == (200, "application/json; charset=UTF-8", [entry])
    status, _, body = http_get(server, "/json/list/", host="localhost")
    assert status == 200
    assert json.loads(body)[0]["webSocketDebuggerUrl"] == f"ws://localhost:{server.port}/{target.id}"

    other = server.add(make_isolate(inspector=True))
    assert other.title == "ivmhost isolate 2" and other.url == ""
    assert [t["id"] for t in list_targets(server.port)[0]] == [target.id, other.id]
    isolate.dispose()
    assert server.targets == [other]
    assert [t["id"] for t in list_targets(server.port)[0]] == [other.id]
    server.remove(other)
    assert list_targets(server.port)[0] == []


def test_http_refusals_say_what_to_do(server: InspectorServer, inspected: Inspected) -> None:
    target = server.add(inspected[0])
    status, kind, body = http_get(server, "/json/protocol")
    assert (status, kind) == (404, "text/plain; charset=utf-8")
    assert body.startswith("unknown endpoint /json/protocol: GET /json (or /json/list) lists the targets")
    status, _, body = http_get(server, "/not-a-target")
    assert status == 404 and body.startswith("no inspector target 'not-a-target' (its isolate was removed or disposed?)")
    # Node's DNS rebinding guard: a page at evil.example resolving to 127.0.0.1 learns nothing.
    status, _, body = http_get(server, "/json", host=f"evil.example:{server.port}")
    assert status == 403
    assert body == (f"Host header 'evil.example:{server.port}' is neither an IP address nor localhost: "
                    f"connect to 127.0.0.1:{server.port} by address\n")
    status, _, body = http_get(server, f"/{target.id}")  # a target, but no WebSocket upgrade
    assert status == 426


# -- one session -------------------------------------------------------------------------------


def test_runtime_evaluate_returns_values_and_shares_the_context(server: InspectorServer, inspected: Inspected,
                                                                attach: Attach) -> None:
    isolate, context = inspected
    context.eval_sync("globalThis.base = 40")
    client = attach(server.add(isolate))
    client.call("Runtime.enable")
    created = client.event("Runtime.executionContextCreated")["context"]
    assert isinstance(created["id"], int)

    result = client.call("Runtime.evaluate", {"expression": "base + 2", "returnByValue": True})
    assert result["result"] == {"type": "number", "value": 42, "description": "42"}
    result = client.call("Runtime.evaluate", {"expression": "({a: [1, 'two'], b: null})", "returnByValue": True,
                                              "contextId": created["id"]})
    assert result["result"]["value"] == {"a": [1, "two"], "b": None}
    client.call("Runtime.evaluate", {"expression": "globalThis.fromDevtools = 'set by the client'"})
    assert context.eval_sync("fromDevtools") == "set by the client"

    thrown = client.call("Runtime.evaluate", {"expression": "throw new TypeError('nope')"})
    assert thrown["exceptionDetails"]["exception"]["description"].startswith("TypeError: nope")
    with pytest.raises(ProtocolError) as error:
        client.call("NoSuchDomain.method")
    assert error.value.error["code"] == -32601 and "NoSuchDomain.method" in error.value.error["message"]


def test_debugger_statement_pauses_a_python_thread_until_resumed(server: InspectorServer, inspected: Inspected,
                                                                  attach: Attach) -> None:
    isolate, context = inspected
    client = attach(server.add(isolate))
    client.call("Debugger.enable")
    call = Background(context.eval_sync, DOUBLE, filename="file:///inspected/double.js")

    paused = client.event("Debugger.paused")
    frame = paused_frame(paused)
    assert paused["reason"] == "other"  # a debugger statement
    assert frame["functionName"] == "double"
    assert frame["location"]["lineNumber"] == 2  # zero-based: `debugger;` is on line 3
    assert script_url(client, frame) == "file:///inspected/double.js"
    assert call.running  # Python's eval_sync waits while JavaScript is paused
    local = client.call("Debugger.evaluateOnCallFrame", {"callFrameId": frame["callFrameId"],
                                                         "expression": "[n, twice]", "returnByValue": True})
    assert local["result"]["value"] == [21, 42]
    client.call("Debugger.resume")
    client.event("Debugger.resumed")
    assert call.result() == 42


def test_breakpoint_by_url_pauses_a_function_python_calls(server: InspectorServer, inspected: Inspected,
                                                          attach: Attach) -> None:
    isolate, context = inspected
    script = isolate.compile_script_sync(ADD, filename="/plugins/calc/add.js")
    script.run_sync(context)
    client = attach(server.add(isolate))
    client.call("Debugger.enable")
    parsed = client.event("Debugger.scriptParsed", lambda params: params["url"] == "/plugins/calc/add.js")
    assert parsed["endLine"] == 4 and parsed["startLine"] == 0

    breakpoint = client.call("Debugger.setBreakpointByUrl", {"url": "/plugins/calc/add.js", "lineNumber": 2})
    assert [loc["lineNumber"] for loc in breakpoint["locations"]] == [2]  # resolved in the loaded script
    add = context.global_.get_sync("add")
    call = Background(add.apply_sync, None, [2, 3])

    paused = client.event("Debugger.paused")
    frame = paused_frame(paused)
    assert paused["hitBreakpoints"] == [breakpoint["breakpointId"]]
    assert (frame["functionName"], frame["location"]["lineNumber"]) == ("add", 2)
    assert script_url(client, frame) == "/plugins/calc/add.js"
    local = client.call("Debugger.evaluateOnCallFrame", {"callFrameId": frame["callFrameId"],
                                                         "expression": "`${a}+${b}=${sum}`", "returnByValue": True})
    assert local["result"]["value"] == "2+3=5"
    client.call("Debugger.removeBreakpoint", {"breakpointId": breakpoint["breakpointId"]})
    client.call("Debugger.resume")
    assert call.result() == 50
    assert add.apply_sync(None, [1, 1]) == 20  # the breakpoint is gone: no pause


@pytest.mark.anyio
async def test_async_calls_pause_on_the_isolate_thread(server: InspectorServer, inspected: Inspected,
                                                       attach: Attach) -> None:
    isolate, context = inspected
    client = attach(server.add(isolate))
    await anyio.to_thread.run_sync(client.call, "Debugger.enable")
    results: list[Any] = []

    async def evaluate() -> None:
        results.append(await context.eval("let word = 'async'; debugger; word + ' done'", filename="async.js"))

    with anyio.fail_after(STEP * 3):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(evaluate)
            paused = await anyio.to_thread.run_sync(client.event, "Debugger.paused")
            assert script_url(client, paused_frame(paused)) == "async.js" and not results
            value = await anyio.to_thread.run_sync(client.call, "Debugger.evaluateOnCallFrame", {
                "callFrameId": paused_frame(paused)["callFrameId"], "expression": "word.toUpperCase()"})
            assert value["result"]["value"] == "ASYNC"
            await anyio.to_thread.run_sync(client.call, "Debugger.resume")
    assert results == ["async done"]


def test_console_messages_arrive_with_their_arguments(server: InspectorServer, inspected: Inspected,
                                                      attach: Attach) -> None:
    isolate, context = inspected
    client = attach(server.add(isolate))
    client.call("Runtime.enable")
    context.eval_sync("console.log('hello', 42, {a: 1}); console.error('bad', true)")
    log = client.event("Runtime.consoleAPICalled")
    assert log["type"] == "log"
    assert [a.get("value") for a in log["args"][:2]] == ["hello", 42]
    assert log["args"][2]["type"] == "object"
    assert log["args"][2]["preview"]["properties"] == [{"name": "a", "type": "number", "value": "1"}]
    error = client.event("Runtime.consoleAPICalled")
    assert error["type"] == "error" and [a["value"] for a in error["args"]] == ["bad", True]


def test_wait_for_client_waits_for_a_ready_debugger(server: InspectorServer, inspected: Inspected,
                                                    attach: Attach) -> None:
    target = server.add(inspected[0])
    assert server.wait_for_client(timeout=0.05) is False
    client = attach(target)
    client.call("Debugger.enable")
    assert server.clients == 1
    assert server.wait_for_client(timeout=0.05) is False  # attached, still setting up
    client.call("Runtime.runIfWaitingForDebugger")
    assert server.wait_for_client(timeout=STEP) is True


def test_the_go_signal_outlives_the_client_that_sent_it(server: InspectorServer, inspected: Inspected) -> None:
    target = server.add(inspected[0])
    with connect(target.websocket_url, open_timeout=STEP) as websocket:
        websocket.send('{"id": 1, "method": "Runtime.runIfWaitingForDebugger"}')
    # The client said go and left at once (as a script may): the go counts all the same.
    until(lambda: server.clients == 0, "the session disposed")
    assert server.wait_for_client(timeout=2) is True
    assert server.wait_for_client(timeout=0) is True  # and keeps counting


def test_wait_for_client_returns_false_once_the_server_closes(server: InspectorServer) -> None:
    waiting = Background(server.wait_for_client)  # no timeout: only the close can end it
    server.close()
    assert waiting.result() is False
    assert server.wait_for_client() is False


# -- sessions come and go ------------------------------------------------------------------------


def test_disconnecting_disposes_the_session_and_another_client_attaches(server: InspectorServer, inspected: Inspected,
                                                                        attach: Attach) -> None:
    isolate, context = inspected
    isolate.compile_script_sync(ADD, filename="/plugins/calc/add.js").run_sync(context)
    add = context.global_.get_sync("add")
    target = server.add(isolate)
    first, second = attach(target), attach(target)
    first.call("Debugger.enable")
    second.call("Debugger.enable")
    first.call("Debugger.setBreakpointByUrl", {"url": "/plugins/calc/add.js", "lineNumber": 2})
    # While the first client is there, its breakpoint pauses: both debuggers see the pause.
    call = Background(add.apply_sync, None, [1, 2])
    assert first.event("Debugger.paused")["hitBreakpoints"]
    assert second.event("Debugger.paused")["hitBreakpoints"] == []  # not its breakpoint
    first.call("Debugger.resume")
    assert call.result() == 30

    first.close()
    until(lambda: server.clients == 1, "the first session disposed")
    # The first session's breakpoint went with it: the second debugger sees no pause and the call
    # runs through.
    assert Background(add.apply_sync, None, [2, 3]).result() == 50
    second.call("Runtime.evaluate", {"expression": "0"})  # whatever the call sent arrived before this reply
    assert [e for e in second.events if e["event"] == "Debugger.paused"] == []
    assert second.call("Runtime.evaluate", {"expression": "1 + 1"})["result"]["value"] == 2
    assert server.clients == 1


def test_a_client_leaving_while_paused_lets_javascript_run_on(server: InspectorServer, inspected: Inspected,
                                                               attach: Attach) -> None:
    isolate, context = inspected
    client = attach(server.add(isolate))
    client.call("Debugger.enable")
    call = Background(context.eval_sync, "debugger; 'ran on'")
    client.event("Debugger.paused")
    client.close()
    assert call.result() == "ran on"
    until(lambda: server.clients == 0, "the session disposed")


def test_two_clients_have_sessions_of_their_own(server: InspectorServer, inspected: Inspected, attach: Attach) -> None:
    isolate, context = inspected
    target = server.add(isolate)
    watcher, debugger = attach(target), attach(target)
    watcher.call("Runtime.enable")
    debugger.call("Debugger.enable")
    assert server.clients == 2
    call = Background(context.eval_sync, "console.log('both see this'); debugger; 7")
    debugger.event("Debugger.paused")
    assert watcher.event("Runtime.consoleAPICalled")["args"][0]["value"] == "both see this"
    assert not any(e["event"] == "Debugger.paused" for e in watcher.events)  # no Debugger.enable there
    debugger.call("Debugger.resume")
    assert call.result() == 7


def test_a_disposed_isolate_closes_its_connections_with_a_reason(server: InspectorServer, inspected: Inspected,
                                                                 attach: Attach) -> None:
    isolate, _ = inspected
    target = server.add(isolate)
    client = attach(target)
    client.call("Runtime.enable")
    with connect(target.websocket_url, open_timeout=STEP) as websocket:
        isolate.dispose()  # its session may still be in the making: the reason is the same
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=STEP)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "the isolate was disposed")
    client.wait_disconnected()
    until(lambda: server.clients == 0, "both sessions gone")
    assert server.targets == []
    with pytest.raises(InvalidStatus) as refused:
        with connect(target.websocket_url, open_timeout=STEP):
            pass
    assert refused.value.response.status_code == 404


def test_clients_connecting_while_the_isolate_is_disposed_learn_why(server: InspectorServer,
                                                                     make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    """Handshakes, sessions being made and dispose() race: a client is refused (404) or told the
    isolate was disposed, never that its target was removed."""
    outcomes: list[Any] = []

    def client(url: str, go: threading.Event) -> None:
        go.wait()
        try:
            with connect(url, open_timeout=STEP, close_timeout=STEP) as websocket:
                websocket.send('{"id": 1, "method": "Runtime.enable"}')
                while True:
                    websocket.recv(timeout=STEP)
        except ConnectionClosed as closed:
            outcomes.append((closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else repr(closed))
        except InvalidStatus as refused:
            outcomes.append(refused.response.status_code)
        except Exception as error:  # noted, to fail the assertion below with what happened
            outcomes.append(repr(error))

    for attempt in range(20):
        isolate = make_isolate(inspector=True)
        isolate.create_context_sync(inspector=True)
        target, go = server.add(isolate), threading.Event()
        clients = [threading.Thread(target=client, args=(target.websocket_url, go)) for _ in range(2)]
        for thread in clients:
            thread.start()
        go.set()
        time.sleep(0.002 * (attempt % 5))  # dispose at different points of the clients' way in
        isolate.dispose()
        for thread in clients:
            thread.join(STEP)
        assert not any(thread.is_alive() for thread in clients), f"round {attempt}: a client was left waiting"
    assert set(outcomes) <= {404, (1001, "the isolate was disposed")}, outcomes
    until(lambda: server.clients == 0, "every session disposed")


def test_remove_disconnects_the_targets_clients(server: InspectorServer, inspected: Inspected) -> None:
    isolate, context = inspected
    target = server.add(isolate)
    with connect(target.websocket_url, open_timeout=STEP) as websocket:
        until(lambda: server.clients == 1, "the session open")
        server.remove(target)
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=STEP)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "the target was removed from the inspector")
    until(lambda: server.clients == 0, "the session disposed")
    assert server.targets == [] and context.eval_sync("'still usable'") == "still usable"


def test_close_disconnects_clients_and_stops_listening(inspected: Inspected) -> None:
    isolate, _ = inspected
    with InspectorServer(port=0) as server:
        target = server.add(isolate)
        port = server.port
        with connect(target.websocket_url, open_timeout=STEP) as websocket:
            until(lambda: server.clients == 1, "the client counted")
            server.close()
            with pytest.raises(ConnectionClosed) as closed:
                websocket.recv(timeout=STEP)
    assert closed.value.rcvd is not None and closed.value.rcvd.reason == "the inspector server is closing"
    assert server.clients == 0 and server.targets == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=STEP)
    with pytest.raises(RuntimeError, match="closed; make a new one"):
        server.start()
    with pytest.raises(RuntimeError, match="closed; make a new one"):
        server.add(isolate)
    assert repr(server) == "<ivmhost.InspectorServer closed targets=0 clients=0>"


@pytest.mark.parametrize("how", ["close", "remove"])
def test_a_client_that_does_not_read_cannot_hang_the_server(server: InspectorServer, inspected: Inspected,
                                                            how: str) -> None:
    """Its sends block (the client's buffers are full): close() and remove() still end its
    connection within seconds, with its threads and its socket."""
    isolate, context = inspected
    target = server.add(isolate)
    before = set(threading.enumerate())
    with connect_without_reading(server, target) as sock:
        until(lambda: server.clients == 1, "the session open")
        context.eval_sync("for (let i = 0; i < 200; i++) console.log('x'.repeat(100_000))")  # 20 MB
        started = time.monotonic()
        if how == "close":
            server.close()
        else:
            server.remove(target)
        until(lambda: not set(threading.enumerate()) - before, "the connection's threads ended", timeout=10)
        # 2 s for the sender to send what was queued, then the socket is shut and all ends.
        assert time.monotonic() - started < 6
        assert server.clients == 0
        read_to_the_end(sock)  # the server closed its end


def test_a_client_that_does_not_read_is_disconnected_before_its_queue_outgrows_the_limit(
        server: InspectorServer, inspected: Inspected, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the session sends waits in a queue of at most 64 MiB: past that the client is closed
    with 1008 (and the queue dropped), the isolate never waits and memory does not grow."""
    # Time enough for this test's client to start reading again, and to get the close frame.
    monkeypatch.setattr(ivmhost.inspector, "_GRACE_SECONDS", STEP)
    isolate, context = inspected
    target = server.add(isolate)
    # websockets stops reading the socket while a message waits for recv(), and a small receive
    # buffer keeps the kernel from taking much more: a client that does not read until told to.
    # No compression: the repeated 'x' would travel as a few KB.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    with connect(target.websocket_url, sock=sock, open_timeout=STEP, max_queue=1, max_size=None,
                 compression=None) as websocket:
        websocket.send('{"id": 1, "method": "Runtime.enable"}')
        until(lambda: server.clients == 1, "the session open")
        context.eval_sync("for (let i = 0; i < 100; i++) console.log('x'.repeat(1_000_000))")  # 100 MB
        # 100 MB through V8's inspector into the queue: on a busy machine this took over 20 s.
        until(lambda: server.clients == 0, "the session disposed", timeout=3 * STEP)
        received = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received += len(websocket.recv(timeout=STEP))
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "the client does not read its messages")
    # What the kernel's buffers held and the message being sent: the 64 MiB queued were dropped.
    assert received < 16 * 2**20


# -- bad input ---------------------------------------------------------------------------------------


def test_refusals(server: InspectorServer, make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    plain = make_isolate()
    with pytest.raises(ivmhost.IvmhostError, match=r"Inspector is not enabled for this isolate: create it with Isolate\(inspector=True\)"):
        server.add(plain)
    with pytest.raises(ivmhost.IvmhostError, match=r"Inspector is not enabled for this isolate"):
        plain.create_inspector_session()
    gone = make_isolate(inspector=True)
    gone.dispose()
    with pytest.raises(ivmhost.IvmhostError, match="Isolate is disposed: there is nothing to inspect"):
        server.add(gone)
    with pytest.raises(RuntimeError, match=r"start the InspectorServer \(start\(\) or `with`\) before adding isolates"):
        InspectorServer(port=0).add(make_isolate(inspector=True))

    session = make_isolate(inspector=True).create_inspector_session()
    session.dispose()
    assert session.is_disposed
    with pytest.raises(ivmhost.IvmhostError, match="This inspector session is disposed"):
        session.dispatch_protocol_message('{"id": 1, "method": "Runtime.enable"}')
    with pytest.raises(OSError):
        InspectorServer(port=server.port).start()  # the port is taken


def test_unknown_targets_and_binary_frames_are_refused(server: InspectorServer, inspected: Inspected) -> None:
    target = server.add(inspected[0])
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"ws://127.0.0.1:{server.port}/00000000-0000-0000-0000-000000000000", open_timeout=STEP):
            pass
    assert refused.value.response.status_code == 404
    assert bytes(refused.value.response.body).startswith(b"no inspector target '00000000-0000-0000-0000-000000000000'")

    with pytest.raises(AssertionError, match="Unexpected server response: 404"):
        CdpClient(server.port, f"ws://127.0.0.1:{server.port}/no-such-id")

    with connect(target.websocket_url, open_timeout=STEP) as websocket:
        websocket.send(b'{"id": 1, "method": "Runtime.enable"}')
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=STEP)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1003, "DevTools protocol messages are text frames")


def test_target_is_a_frozen_value(server: InspectorServer, inspected: Inspected) -> None:
    target = server.add(inspected[0], title="t")
    assert isinstance(target, InspectorTarget) and target.isolate is inspected[0]
    with pytest.raises(AttributeError):
        target.title = "other"  # type: ignore[misc]
    assert "isolate" not in repr(target) and target.id in repr(target)
