"""A DevTools protocol client for the inspector tests: chrome-remote-interface (npm, a client
ivmhost did not write) in a node process, driven through tests/fixtures/cdp/driver.js, and a
thread to run JavaScript on while the client pauses it. Every wait has a timeout."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivmhost.inspector import InspectorTarget

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "fixtures" / "cdp" / "driver.js"
LIBRARY = ROOT / "tests" / "fixtures" / "npm" / "node_modules" / "chrome-remote-interface"
STEP = 20.0  # seconds any one step may take (two busy cores, node starting up)


def _require_library() -> None:
    assert LIBRARY.is_dir(), f"{LIBRARY} is missing: run `make fixtures` (npm ci in tests/fixtures/npm)"


def list_targets(port: int, host: str = "127.0.0.1") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What chrome-remote-interface's CDP.List and CDP.Version read from the server."""
    _require_library()
    out = subprocess.run(["node", str(DRIVER), "list", host, str(port)], capture_output=True, text=True, timeout=STEP)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return lines[0]["list"], lines[1]["version"]


class ProtocolError(Exception):
    """The server answered a command with an error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


class CdpClient:
    """chrome-remote-interface attached to one target (an id, looked up in /json/list, or a
    ws:// URL). ``call`` sends a command and waits for its reply; ``event`` waits for a
    notification; ``close`` disconnects."""

    def __init__(self, port: int, target: str, host: str = "127.0.0.1") -> None:
        _require_library()
        self.process = subprocess.Popen(
            ["node", str(DRIVER), "attach", host, str(port), target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # notifications not taken by event() yet
        self._responses: dict[int, dict[str, Any]] = {}
        self._next_id = 0
        self.disconnected = False
        self.exited = False
        threading.Thread(target=self._read, daemon=True, name="cdp-client-reader").start()
        try:
            self._wait(lambda: True if any("connected" in line for line in self.seen) else None, "connection")
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(json.loads(line))
        self._lines.put(None)

    def _take(self, line: dict[str, Any] | None) -> None:
        if line is None:
            self.exited = True
            return
        self.seen.append(line)
        if "event" in line:
            self.events.append(line)
        elif "id" in line:
            self._responses[line["id"]] = line
        elif line.get("disconnected"):
            self.disconnected = True

    def _wait(self, found: Callable[[], Any], what: str, timeout: float = STEP) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value is not None:
                return value
            remaining = deadline - time.monotonic()
            if self.exited or remaining <= 0:
                why = "the client exited" if self.exited else f"nothing within {timeout} s"
                raise AssertionError(f"no {what}: {why}; it saw {self.seen[-8:]}{self._stderr()}")
            try:
                self._take(self._lines.get(timeout=remaining))
            except queue.Empty:
                pass

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return f"; stderr: {self.process.stderr.read()[-2000:]}"

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        """Send a command without waiting; returns its id for response()."""
        assert self.process.stdin is not None
        self._next_id += 1
        self.process.stdin.write(json.dumps({"id": self._next_id, "method": method, "params": params or {}}) + "\n")
        self.process.stdin.flush()
        return self._next_id

    def response(self, call_id: int, timeout: float = STEP) -> dict[str, Any]:
        """The result of command ``call_id``; ProtocolError if the server answered an error."""
        line: dict[str, Any] = self._wait(lambda: self._responses.pop(call_id, None), f"reply to command {call_id}", timeout)
        if "error" in line:
            raise ProtocolError(line["error"])
        result: dict[str, Any] = line["result"]
        return result

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = STEP) -> dict[str, Any]:
        return self.response(self.send(method, params), timeout)

    def event(self, method: str, where: Callable[[dict[str, Any]], bool] = lambda params: True,
              timeout: float = STEP) -> dict[str, Any]:
        """The params of the first notification ``method`` (for which ``where(params)`` holds)
        not taken yet; waits for it."""

        def first() -> dict[str, Any] | None:
            for line in self.events:
                if line["event"] == method and where(line["params"]):
                    self.events.remove(line)
                    params: dict[str, Any] = line["params"]
                    return params
            return None

        result: dict[str, Any] = self._wait(first, f"{method} event", timeout)
        return result

    def wait_disconnected(self, timeout: float = STEP) -> None:
        """Waits until the server closed the connection (the driver then exits)."""
        self._wait(lambda: True if self.disconnected else None, "disconnection by the server", timeout)
        self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Disconnect (the client's own close) and end the node process."""
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"close": True}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=STEP)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=STEP)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


Attach = Callable[[InspectorTarget], CdpClient]


class Background:
    """Runs ``fn(*args, **kwargs)`` on a daemon thread: JavaScript paused at a breakpoint holds
    its thread until the client resumes it, and must never hold the test's."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True, name="javascript")
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as exc:  # handed to result()
            self._error = exc

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float = STEP) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the JavaScript call did not return within {timeout} s"
        if self._error is not None:
            raise self._error
        return self._value


def until(predicate: Callable[[], bool], what: str, timeout: float = STEP) -> None:
    """Polls a condition the server offers no event for (e.g. its client count)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.01)
