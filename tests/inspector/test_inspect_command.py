"""`ivmhost inspect` (ivmhost/cli.py): it prints the URLs, waits for a debugger, and the debugger
(chrome-remote-interface) pauses the plugin's call, reads its locals and resumes it; Ctrl-C;
refusals."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_client import STEP, CdpClient, list_targets
from ivmhost.cli import main
from ivmhost.testing import write_plugin

ROOT = Path(__file__).resolve().parents[2]

COMPUTE = """\
export function compute(n) {
  console.log("computing", n);
  const doubled = n * 2;
  debugger;
  return doubled + 2;
}
"""


class Command:
    """`python -m ivmhost ...` in a subprocess whose stdout lines the test reads with timeouts."""

    def __init__(self, *argv: str, cwd: Path) -> None:
        # This checkout's ivmhost, whichever copy an editable install points at.
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen([sys.executable, "-m", "ivmhost", *argv], cwd=cwd, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._finished: tuple[int, list[str], str] | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def line(self, timeout: float = STEP) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"ivmhost inspect printed nothing within {timeout} s") from None
        assert line is not None, f"ivmhost inspect ended early: {self.finish()}"
        return line

    def finish(self, timeout: float = STEP) -> tuple[int, list[str], str]:
        """(exit status, the rest of stdout, stderr) once the process ends (killed after timeout)."""
        if self._finished is not None:
            return self._finished
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
        rest = []
        while (line := self._lines.get(timeout=timeout)) is not None:
            rest.append(line)
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self._finished = (self.process.returncode, rest, err)
        return self._finished


def test_inspect_prints_the_urls_and_a_debugger_drives_the_call(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path / "plugins", "debugged", COMPUTE, limits={"call_timeout_ms": 60_000})
    command = Command("inspect", str(folder), "--port", "0", "--exit", "--data", str(tmp_path / "data"),
                      "--call", "compute", "20", cwd=tmp_path)
    client: CdpClient | None = None
    try:
        frontend, websocket = command.line(), command.line()
        assert frontend.startswith("debugged 1.0.0: open in Chrome devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=127.0.0.1:")
        prefix = "debugged 1.0.0: WebSocket "
        assert websocket.startswith(prefix + "ws://127.0.0.1:")
        url = websocket[len(prefix):]
        assert frontend.endswith("&ws=" + url[len("ws://"):])
        port = int(url.split(":")[2].split("/")[0])

        targets, _ = list_targets(port)
        assert [(t["title"], t["url"], t["webSocketDebuggerUrl"]) for t in targets] == [
            ("debugged 1.0.0", (folder / "index.js").resolve().as_uri(), url)]

        client = CdpClient(port, url)
        client.call("Runtime.enable")
        client.call("Debugger.enable")
        client.event("Debugger.scriptParsed", lambda params: params["url"].endswith("debugged/index.js"))
        assert command.process.poll() is None  # still waiting for the debugger to say go
        client.call("Runtime.runIfWaitingForDebugger")

        paused = client.event("Debugger.paused")
        frame = paused["callFrames"][0]
        assert (frame["functionName"], frame["location"]["lineNumber"]) == ("compute", 3)
        local = client.call("Debugger.evaluateOnCallFrame", {"callFrameId": frame["callFrameId"],
                                                             "expression": "({n, doubled})", "returnByValue": True})
        assert local["result"]["value"] == {"n": 20, "doubled": 40}
        log = client.event("Runtime.consoleAPICalled")
        assert (log["type"], [a["value"] for a in log["args"]]) == ("log", ["computing", 20])
        client.call("Debugger.resume")

        status, rest, err = command.finish()
        assert status == 0, err
        assert rest == ["debugged.compute -> 42"]
        assert "waiting for a debugger: open the URL above in Chrome, or chrome://inspect" in err
        client.wait_disconnected()  # --exit: the server closed its connections
    finally:
        if client is not None:
            client.close()
        command.finish()


def test_inspect_json_lines_without_waiting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_plugin(tmp_path / "plugins", "quick", "export function add(a, b) { return a + b; }")
    status = main(["inspect", str(folder), "--port", "0", "--no-wait", "--exit", "--json",
                   "--data", str(tmp_path / "data"), "--call", "add", "2", "3"])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    first, second = (json.loads(line) for line in out.splitlines())
    [target] = first["targets"]
    assert target["plugin"] == "quick" and target["title"] == "quick 1.0.0"
    assert target["webSocketDebuggerUrl"] == f"ws://{target['devtoolsFrontendUrl'].split('&ws=')[1]}"
    assert target["webSocketDebuggerUrl"].endswith("/" + target["id"])
    assert second == {"action": "quick.add", "result": 5}


def test_inspect_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    worker = write_plugin(tmp_path / "plugins", "worker", "export function f() { return 1; }", isolation="process")
    data = str(tmp_path / "data")

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit:
            main(["inspect", *argv, "--port", "0", "--no-wait", "--exit", "--data", data])
        return int(exit.value.code or 0), capsys.readouterr().err

    status, err = run(str(worker))
    assert status == 1
    assert ('ivmhost: error: worker runs in a worker process (isolation = "process"): the inspector cannot reach it\n'
            'hint: debug it in process: set isolation = "isolate" in its plugin.toml') in err

    (tmp_path / "plain_app.py").write_text("import ivmhost\n\ndef make_host():\n    return ivmhost.PluginHost()\n")
    monkeypatch.chdir(tmp_path)
    quick = write_plugin(tmp_path / "plugins", "quick", "export function f() { return 1; }")
    status, err = run(str(quick), "--app", "plain_app:make_host")
    assert status == 2
    assert err == ("ivmhost: error: the application plain_app:make_host cannot turn the inspector on: its factory takes no "
                   "'inspector' argument\nhint: give the factory an `inspector: bool = False` parameter and pass it to "
                   "PluginHost(inspector=...)\n")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit:
            main(["inspect", str(quick), "--port", str(port), "--no-wait", "--exit", "--data", data])
    err = capsys.readouterr().err
    assert exit.value.code == 1
    assert f"ivmhost: error: cannot listen on 127.0.0.1:{port}: Address already in use\n" in err
    assert "hint: pick another --port (0 picks a free one), or stop the debugger already there" in err


@pytest.mark.parametrize("host, reason", [
    ("192.0.2.1", "Cannot assign requested address"),  # TEST-NET-1: no address of this machine
    ("no-such-host.invalid", None),  # the resolver's words vary: no DNS, or no such name
])
def test_inspect_bind_errors_name_the_host_when_the_host_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 host: str, reason: str | None) -> None:
    quick = write_plugin(tmp_path / "plugins", "quick", "export function f() { return 1; }")
    with pytest.raises(SystemExit) as exit:
        main(["inspect", str(quick), "--host", host, "--port", "0", "--no-wait", "--exit", "--data", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert exit.value.code == 1
    error, hint = err.splitlines()[-2:]
    assert error.startswith(f"ivmhost: error: cannot listen on {host}:0: ")
    message = error.removeprefix(f"ivmhost: error: cannot listen on {host}:0: ")
    assert message == reason if reason else message and "Unknown error" not in message and "while attempting" not in message
    assert hint == "hint: pick an address of this machine for --host (the default, 127.0.0.1, is the safe one)"


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_inspect_port_is_checked_as_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], port: str) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["inspect", str(tmp_path), "--port", port])
    err = capsys.readouterr().err
    assert exit.value.code == 2
    shown = port if port != "http" else "'http'"
    assert err.splitlines()[-1] == f"ivmhost inspect: error: argument --port: {shown} is not a port number (0 to 65535; 0 picks a free one)"


@contextlib.contextmanager
def attached(command: Command) -> Iterator[CdpClient]:
    """A client on the WebSocket URL `ivmhost inspect` printed (its second line); on the way out the
    client is closed and the command ended."""
    try:
        command.line()
        url = command.line().split(" WebSocket ")[1]
        client = CdpClient(int(url.split(":")[2].split("/")[0]), url)
        try:
            yield client
        finally:
            client.close()
    finally:
        command.finish()


def test_ctrl_c_while_the_call_is_paused_stops_with_one_line(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path / "plugins", "paused", "export function f() { debugger; return 1; }",
                          limits={"call_timeout_ms": 60_000})
    command = Command("inspect", str(folder), "--port", "0", "--exit", "--data", str(tmp_path / "data"),
                      "--call", "f", cwd=tmp_path)
    with attached(command) as client:
        client.call("Debugger.enable")
        client.call("Runtime.runIfWaitingForDebugger")
        client.event("Debugger.paused")
        # The engine chains its SIGINT handler when the pause loop starts, just after V8 sent
        # Debugger.paused (ivmhost/_native/inspector.cc); a Ctrl-C in between would stay unseen
        # until the debugger resumes, and no event says when the loop runs.
        time.sleep(0.2)
        command.process.send_signal(signal.SIGINT)  # Ctrl-C while the call sits in the debugger
        status, rest, err = command.finish()
        assert (status, rest) == (130, []), err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err
        assert err.rstrip().splitlines()[-1] == "interrupted during the action"
        client.wait_disconnected()


def test_inspect_serves_until_interrupted(tmp_path: Path) -> None:
    """Without --exit the debugger can still evaluate in the plugin after the action; Ctrl-C stops."""
    folder = write_plugin(tmp_path / "plugins", "kept", "export let calls = 0; export function f() { return ++calls; }")
    command = Command("inspect", str(folder), "--port", "0", "--no-wait", "--data", str(tmp_path / "data"),
                      "--call", "f", cwd=tmp_path)
    with attached(command) as client:
        assert command.line() == "kept.f -> 1"
        client.call("Runtime.enable")
        value = client.call("Runtime.evaluate", {"expression": "typeof structuredClone", "returnByValue": True})
        assert value["result"]["value"] == "function"  # the plugin's runtime, in its context
        command.process.send_signal(signal.SIGINT)  # Ctrl-C
        status, rest, err = command.finish()
        assert (status, rest) == (0, [])
        assert err.rstrip().endswith("stopped")
        client.wait_disconnected()
