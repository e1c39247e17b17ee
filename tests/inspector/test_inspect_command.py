"""`ivmhost inspect` (ivmhost/cli.py): it prints the URLs, waits for a debugger, and the debugger
(chrome-remote-interface) pauses the plugin's call, reads its locals and resumes it; refusals."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
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
        self.process = subprocess.Popen([sys.executable, "-m", "ivmhost", *argv], cwd=cwd, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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


def test_inspect_serves_until_interrupted(tmp_path: Path) -> None:
    """Without --exit the debugger can still evaluate in the plugin after the action; Ctrl-C stops."""
    folder = write_plugin(tmp_path / "plugins", "kept", "export let calls = 0; export function f() { return ++calls; }")
    command = Command("inspect", str(folder), "--port", "0", "--no-wait", "--data", str(tmp_path / "data"),
                      "--call", "f", cwd=tmp_path)
    client: CdpClient | None = None
    try:
        command.line()
        url = command.line().split(" WebSocket ")[1]
        assert command.line() == "kept.f -> 1"
        client = CdpClient(int(url.split(":")[2].split("/")[0]), url)
        client.call("Runtime.enable")
        value = client.call("Runtime.evaluate", {"expression": "typeof structuredClone", "returnByValue": True})
        assert value["result"]["value"] == "function"  # the plugin's runtime, in its context
        command.process.send_signal(signal.SIGINT)  # Ctrl-C
        status, rest, err = command.finish()
        assert (status, rest) == (0, [])
        assert err.rstrip().endswith("stopped")
        client.wait_disconnected()
    finally:
        if client is not None:
            client.close()
        command.finish()
