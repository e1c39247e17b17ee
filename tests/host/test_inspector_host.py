"""PluginHost(inspector=True): a plugin's isolate and contexts are open to DevTools."""

from __future__ import annotations

import json
import logging
import queue
import threading
from pathlib import Path
from typing import Any

import pytest

import ivmhost
from ivmhost.testing import write_plugin

from support import Hooks

WAIT = 10.0


def test_an_inspected_plugin_logs_to_devtools_and_to_python(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_plugin(tmp_path, "greeter", """
        export function greet(name) {
          console.log('greeting', name);
          return `hello ${name}`;
        }
    """)
    with ivmhost.PluginHost(hookspecs=Hooks, inspector=True) as host:
        plugin = host.load(tmp_path / "greeter")
        assert plugin.isolate is not None and plugin.isolate.inspector is True
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        with plugin.isolate.create_inspector_session() as session:
            session.on_notification = lambda text: events.put(json.loads(text))
            session.dispatch_protocol_message('{"id": 1, "method": "Runtime.enable"}')
            with caplog.at_level(logging.INFO, logger="ivmhost.plugin.greeter"):
                assert plugin.call("greet", "Ada") == "hello Ada"
            while True:
                event = events.get(timeout=WAIT)
                if event["method"] == "Runtime.consoleAPICalled":
                    break
        assert [arg["value"] for arg in event["params"]["args"]] == ["greeting", "Ada"]
        assert "greeting Ada" in caplog.messages


def test_a_plugin_paused_in_the_debugger_resumes(tmp_path: Path) -> None:
    write_plugin(tmp_path, "slow", """
        export function compute(n) {
          const squared = n * n;
          debugger;
          return squared;
        }
    """, limits={"call_timeout_ms": 200})
    with ivmhost.PluginHost(hookspecs=Hooks, inspector=True) as host:
        plugin = host.load(tmp_path / "slow")
        assert plugin.isolate is not None
        replies: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        with plugin.isolate.create_inspector_session() as session:
            session.on_response = lambda call_id, text: replies.put((call_id, json.loads(text)))
            session.on_notification = lambda text: events.put(json.loads(text))
            session.dispatch_protocol_message('{"id": 1, "method": "Debugger.enable"}')
            assert replies.get(timeout=WAIT)[0] == 1
            outcome: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: outcome.setdefault("value", plugin.call("compute", 12)))
            thread.start()
            while (event := events.get(timeout=WAIT))["method"] != "Debugger.paused":
                pass
            frame = event["params"]["callFrames"][0]
            assert frame["functionName"] == "compute"
            # Paused longer than the plugin's call timeout: the pause does not count against it.
            thread.join(0.5)
            assert thread.is_alive()
            session.dispatch_protocol_message('{"id": 2, "method": "Debugger.resume"}')
            thread.join(WAIT)
        assert outcome == {"value": 144}


def test_without_the_inspector_plugins_have_none(tmp_path: Path) -> None:
    write_plugin(tmp_path, "plain", "export function f() { return 1; }")
    with ivmhost.PluginHost(hookspecs=Hooks) as host:
        plugin = host.load(tmp_path / "plain")
        assert plugin.isolate is not None and plugin.isolate.inspector is False
        with pytest.raises(ivmhost.IvmhostError, match="Inspector is not enabled for this isolate"):
            plugin.isolate.create_inspector_session()
