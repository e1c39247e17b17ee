"""The real Chrome DevTools frontend (bundled in Debian's chromium, run headless) attaches to the
inspector endpoint, says go, enables the debugger (a `debugger;` statement pauses) and lets the
call resume when it is detached. No screenshots: the endpoint's own view is checked."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import ivmhost
from ivmhost.inspector import InspectorServer

CHROMIUM = shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, method: str = "GET") -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as response:
        return bytes(response.read())


def test_the_devtools_frontend_attaches_enables_the_debugger_and_resumes(
    inspected: tuple[ivmhost.Isolate, ivmhost.Context], server: InspectorServer, tmp_path: Path
) -> None:
    isolate, context = inspected
    target = server.add(isolate, title="devtools frontend check")
    debug_port = free_port()
    assert CHROMIUM is not None, "chromium is missing: `make fixtures` installs it (apt-get install --no-install-recommends chromium)"
    chrome = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--remote-debugging-port={debug_port}", f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"http://127.0.0.1:{debug_port}/json/version")
                break
            except OSError:
                assert time.monotonic() < deadline, "chromium did not start its debugging port"
                time.sleep(0.1)
        # Chromium serves its bundled DevTools frontend; open it on our endpoint in a new tab.
        frontend = f"http://127.0.0.1:{debug_port}/devtools/inspector.html?ws=127.0.0.1:{server.port}/{target.id}"
        get(f"http://127.0.0.1:{debug_port}/json/new?{frontend}", method="PUT")
        # DevTools enables its agents, restores breakpoints, then sends Runtime.runIfWaitingForDebugger.
        assert server.wait_for_client(timeout=60)
        assert server.clients == 1

        # The frontend's Debugger.enable may arrive after the connection (a slow or busy machine):
        # a `debugger` statement met before it does not pause, so try again until one does.
        outcome: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while True:
            outcome.clear()
            call = threading.Thread(target=lambda: outcome.setdefault("value", context.eval_sync("debugger; 'resumed'", filename="check.js")))
            call.start()
            call.join(3)
            if call.is_alive():
                break
            assert time.monotonic() < deadline, "the call did not pause: DevTools did not enable the debugger"
        server.remove(target)  # DevTools is detached; the paused call goes on
        call.join(20)
        assert outcome == {"value": "resumed"}
    finally:
        chrome.terminate()
        try:
            chrome.wait(10)
        except subprocess.TimeoutExpired:
            chrome.kill()
            chrome.wait(10)
