"""The ``ivmhost`` command: run, check, scaffold, audit and debug plugins; print the engine benchmarks.

    ivmhost run plugins/counter --hook run_command name=stats args= note=null
    ivmhost inspect plugins/counter --call total 1   # serve Chrome DevTools, then call when it attaches
    ivmhost check plugins/            # every plugin folder in it; exit 1 on any problem
    ivmhost new my-plugin             # a plugin folder that passes `check` as created
    ivmhost audit plugins/counter --hook note_saved 'note={"id": 1, "title": "t", "text": "a b", "tags": []}'
    ivmhost bench --only apply,callback

Plugins run inside an *application*: ``--app module:factory`` names a callable returning an
``ivmhost.PluginHost`` (hookspecs, capabilities, grants). The default is the demo notes application
(:mod:`ivmhost.demo`). ``--json`` prints machine-readable output. Failures print one line and a
hint on stderr and exit non-zero (1: a problem with the plugins, 2: a usage error).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import inspect
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import anyio

import ivmhost
from ivmhost._manifest import _NAME, MANIFEST_NAME
from ivmhost.inspector import InspectorServer

__all__ = ["main"]

DEFAULT_APP = "ivmhost.demo:make_host"


class CommandError(Exception):
    """A failure the command reports as one line plus a hint, with an exit status."""

    def __init__(self, message: str, hint: str = "", status: int = 1) -> None:
        super().__init__(message)
        self.hint = hint
        self.status = status


# -- arguments --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivmhost", description="Run, check, scaffold, audit and debug ivmhost plugins.")
    parser.add_argument("--version", action="version", version=f"ivmhost {ivmhost.__version__} (V8 {ivmhost.v8_version})")
    def common_options(target: argparse.ArgumentParser, top: bool) -> None:
        # Accepted before or after the command; the command's copies keep the top level's values.
        def default(value: Any) -> Any:
            return value if top else argparse.SUPPRESS

        target.add_argument("--json", action="store_true", default=default(False), help="print machine-readable JSON")
        target.add_argument("--app", default=default(DEFAULT_APP), metavar="MODULE:FACTORY",
                            help=f"the application: a callable returning an ivmhost.PluginHost (default: {DEFAULT_APP})")
        target.add_argument("--data", default=default(None), metavar="DIR",
                            help="the demo application's data directory (default: a temporary one)")
        target.add_argument("--set", dest="settings", action="append", default=default([]), metavar="KEY=VALUE",
                            help="a setting for the demo application (repeatable; VALUE is JSON or text)")

    common_options(parser, True)
    common = argparse.ArgumentParser(add_help=False)
    common_options(common, False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def action_arguments(sub: argparse.ArgumentParser) -> None:
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--call", nargs="+", metavar=("EXPORT", "ARG"), help="call an export with arguments (JSON or text)")
        group.add_argument("--hook", nargs="+", metavar=("NAME", "KEY=VALUE"), help="call a hook with keyword arguments")
        group.add_argument("--task", nargs="+", metavar=("EXPORT", "ARG"), help="run an export as an anyio task and wait for it")

    run = commands.add_parser("run", parents=[common], help="load plugins and call an export, a hook or a task")
    run.add_argument("path", help="a plugin folder, or a directory of plugin folders")
    action_arguments(run)
    check = commands.add_parser("check", parents=[common], help="validate plugins against the application")
    check.add_argument("path", help="a plugin folder, or a directory of plugin folders")
    new = commands.add_parser("new", parents=[common], help="scaffold a plugin folder")
    new.add_argument("name", help="the plugin's name (lowercase letters, digits, '.', '_', '-')")
    new.add_argument("--dir", default=".", help="where to create it (default: the current directory)")
    audit = commands.add_parser("audit", parents=[common], help="run plugins and report the capabilities they used")
    audit.add_argument("path", help="a plugin folder, or a directory of plugin folders")
    action_arguments(audit)
    inspect_ = commands.add_parser("inspect", parents=[common],
                                   help="load plugins with the V8 inspector on, serve Chrome DevTools, then call an export, a hook or a task")
    inspect_.add_argument("path", help="a plugin folder, or a directory of plugin folders")
    inspect_.add_argument("--host", default="127.0.0.1",
                          help="the address to listen on (default 127.0.0.1: whoever can connect can run code in the plugins)")
    inspect_.add_argument("--port", type=_port, default=9229, help="the port to listen on (default 9229, Node's; 0 picks a free one)")
    inspect_.add_argument("--no-wait", action="store_true", help="do not wait for a debugger before the action")
    inspect_.add_argument("--exit", action="store_true", help="exit after the action instead of serving until Ctrl-C")
    action_arguments(inspect_)
    bench = commands.add_parser("bench", parents=[common], help="print the engine benchmark table (benchmarks/engine.py)")
    bench.add_argument("--only", metavar="WORKLOADS", help="comma-separated workloads (eval, cold, rss, timeout, apply, callback, bytes, dicts)")
    bench.add_argument("--rounds", type=int, metavar="N", help="rounds of measurements (default 5)")
    return parser


def _value(text: str) -> Any:
    """A command-line value: JSON when it parses, the text itself otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _port(text: str) -> int:
    """A TCP port for `inspect --port`: 0 to 65535 (argparse turns the error into a usage error)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535; 0 picks a free one)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535; 0 picks a free one)")
    return port


def _keywords(items: Sequence[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"'{item}' is not KEY=VALUE", "hook arguments look like message=hello or note='{\"id\": 1}'", 2)
        out[key] = _value(value)
    return out


# -- the application --------------------------------------------------------------------------


def _make_host(args: argparse.Namespace, *, inspector: bool = False) -> ivmhost.PluginHost:
    module_name, sep, attr = args.app.partition(":")
    if not sep or not module_name or not attr:
        raise CommandError(f"--app {args.app!r} is not MODULE:FACTORY", "e.g. --app myapp.plugins:make_host", 2)
    sys.path.insert(0, str(Path.cwd()))
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CommandError(f"cannot load the application {args.app}: {exc}", "check the module path and that it is importable from here", 2) from exc
    offered = inspect.signature(factory).parameters if callable(factory) else {}
    options: dict[str, Any] = {}
    if "data_dir" in offered and args.data:
        options["data_dir"] = args.data
    if "settings" in offered and args.settings:
        options["settings"] = _keywords(args.settings)
    if inspector:
        if "inspector" not in offered:
            raise CommandError(f"the application {args.app} cannot turn the inspector on: its factory takes no 'inspector' argument",
                               "give the factory an `inspector: bool = False` parameter and pass it to PluginHost(inspector=...)", 2)
        options["inspector"] = True
    host = factory(**options) if callable(factory) else factory
    if not isinstance(host, ivmhost.PluginHost):
        raise CommandError(f"{args.app} did not return an ivmhost.PluginHost", "the factory must build and return a PluginHost", 2)
    return host


def _plugin_folders(path: str) -> list[Path]:
    root = Path(path)
    if (root / MANIFEST_NAME).is_file():
        return [root]
    if root.is_dir():
        folders = sorted(p for p in root.iterdir() if (p / MANIFEST_NAME).is_file())
        if folders:
            return folders
        raise CommandError(f"{root} holds no plugin folder (none has a {MANIFEST_NAME})", "run `ivmhost new NAME` to make one")
    raise CommandError(f"{root} does not exist", "give a plugin folder or a directory of them")


def _progress(args: argparse.Namespace, message: str) -> None:
    if not args.json:
        print(message, file=sys.stderr, flush=True)


def _load_all(host: ivmhost.PluginHost, args: argparse.Namespace) -> list[ivmhost.Plugin]:
    folders = _plugin_folders(args.path)
    plugins = []
    for index, folder in enumerate(folders, 1):
        _progress(args, f"[{index}/{len(folders)}] loading {folder} ...")
        plugins.append(host.load(folder))
    return plugins


def _act(host: ivmhost.PluginHost, plugins: list[ivmhost.Plugin], args: argparse.Namespace) -> tuple[str, Any]:
    """Runs --call, --hook or --task; returns (what, result)."""
    if args.hook:
        name, *items = args.hook
        caller = getattr(host.hook, name, None)
        if name not in _hook_names(host):
            raise CommandError(f"the application has no hook '{name}'", f"its hooks: {', '.join(_hook_names(host)) or 'none'}", 2)
        assert caller is not None
        return f"hook {name}", caller(**_keywords(items))
    if args.call or args.task:
        export, *values = args.call or args.task
        target = _single(plugins, export)
        arguments = [_value(v) for v in values]
        if args.call:
            return f"{target.name}.{export}", target.call(export, *arguments)

        async def run_task() -> Any:
            async with host:
                return await host.start_task(target.name, export, *arguments).wait()

        return f"task {target.name}.{export}", anyio.run(run_task)
    return "loaded", None


def _single(plugins: list[ivmhost.Plugin], export: str) -> ivmhost.Plugin:
    having = [p for p in plugins if p.exports.get(export) == "function"]
    if len(having) != 1:
        names = ", ".join(p.name for p in having) or "none"
        raise CommandError(f"{len(having)} loaded plugins export a function '{export}' ({names})",
                           "name a single plugin folder to call one export", 2)
    return having[0]


def _hook_names(host: ivmhost.PluginHost) -> list[str]:
    from ivmhost._hooks import hook_names

    return hook_names(host.plugin_manager)


# -- the commands -----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    with _make_host(args) as host:
        plugins = _load_all(host, args)
        what, result = _act(host, plugins, args)
        if args.json:
            _print_json({"plugins": [_describe(p) for p in plugins], "action": what, "result": result})
        else:
            for plugin in plugins:
                exports = ", ".join(f"{n} ({k})" for n, k in plugin.exports.items()) or "none"
                print(f"{plugin.name} {plugin.manifest.version}: exports {exports}")
            if what != "loaded":
                print(f"{what} -> {_show(result)}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    report: list[dict[str, Any]] = []
    failed = False
    with _make_host(args) as host:
        hooks = set(_hook_names(host))
        for folder in _plugin_folders(args.path):
            _progress(args, f"checking {folder} ...")
            entry: dict[str, Any] = {"folder": str(folder), "problems": []}
            report.append(entry)
            try:
                plugin = host.load(folder)
            except (ivmhost.ManifestError, ivmhost.CapabilityError, ivmhost.PluginError) as exc:
                entry["problems"].append(str(exc))
                failed = True
                continue
            entry.update(_describe(plugin))
            entry["hooks"] = sorted(e for e in plugin.exports if e in hooks)
        for problem in host.check():
            for entry in report:
                if entry.get("name") == problem.plugin:
                    entry["problems"].append(problem.message)
                    failed = True
    if args.json:
        _print_json({"ok": not failed, "plugins": report})
    else:
        for entry in report:
            if "name" in entry:
                print(f"{entry['name']} {entry['version']} ({entry['folder']})")
                print(f"  hooks:        {', '.join(entry['hooks']) or 'none'}")
                print(f"  exports:      {', '.join(entry['exports']) or 'none'}")
                caps = [f"{c['name']} ({'granted' if c['granted'] else 'DENIED'})" for c in entry["capabilities"]]
                print(f"  capabilities: {', '.join(caps) or 'none'}")
            else:
                print(entry["folder"])
            for problem in entry["problems"]:
                print(f"  problem: {problem}")
        print("ok" if not failed else "problems found", file=sys.stderr)
    return 1 if failed else 0


def cmd_new(args: argparse.Namespace) -> int:
    name = args.name
    if not _NAME.match(name):
        raise CommandError(f"'{name}' is not a plugin name", "use lowercase letters, digits, '.', '_' and '-', e.g. word-count", 2)
    folder = Path(args.dir) / name
    if folder.exists():
        raise CommandError(f"{folder} already exists", "pick another name or remove it first")
    folder.mkdir(parents=True)
    ident = name.replace("-", "_").replace(".", "_")
    files = {
        MANIFEST_NAME: _MANIFEST_TEMPLATE.format(name=name),
        "index.js": _INDEX_TEMPLATE.format(name=name),
        f"test_{ident}.py": _TEST_TEMPLATE.format(name=name, ident=ident),
    }
    for file, text in files.items():
        (folder / file).write_text(textwrap.dedent(text).lstrip())
    created = [str(folder / file) for file in files]
    if args.json:
        _print_json({"created": created})
    else:
        for path in created:
            print(f"created {path}")
        print(f"next: ivmhost check {folder}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    with _make_host(args) as host:
        plugins = _load_all(host, args)
        what, result = _act(host, plugins, args)
        report: dict[str, dict[str, Any]] = {}
        for plugin in plugins:
            entries = plugin.audit()
            used = sorted({e.capability for e in entries if e.calls})
            report[plugin.name] = {
                "uses": [{"capability": e.capability, "method": e.method, "calls": e.calls, "errors": e.errors} for e in entries],
                "used": used,
                "never_used": sorted(plugin.grants - set(used)),
                "denied": sorted({r.name for r in plugin.manifest.capabilities} - plugin.grants),
            }
    if args.json:
        _print_json({"action": what, "result": result, "plugins": report})
        return 0
    if what != "loaded":
        print(f"{what} -> {_show(result)}")
    for name, entry in report.items():
        print(f"{name}:")
        for use in entry["uses"]:
            mark = "used" if use["calls"] else "unused"
            print(f"  {use['capability']}.{use['method']:<16} {use['calls']:>5} calls {use['errors']:>3} errors  {mark}")
        print(f"  granted but never used: {', '.join(entry['never_used']) or 'none'}")
        if entry["denied"]:
            print(f"  requested but denied:   {', '.join(entry['denied'])}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    with _make_host(args, inspector=True) as host:
        plugins = _load_all(host, args)
        for plugin in plugins:
            if plugin.isolation == "process" or not isinstance(plugin.isolate, ivmhost.Isolate):
                raise CommandError(f"{plugin.name} runs in a worker process (isolation = \"process\"): the inspector cannot reach it",
                                   "debug it in process: set isolation = \"isolate\" in its plugin.toml (and no PluginHost(isolation=\"process\"))")
        try:
            server = InspectorServer(args.host, args.port)
            server.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {args.host}:{args.port}: {_bind_error(exc)}", _bind_hint(exc)) from exc
        with server:
            targets = []
            for plugin in plugins:
                assert isinstance(plugin.isolate, ivmhost.Isolate)
                title = f"{plugin.name} {plugin.manifest.version}"
                targets.append((plugin, server.add(plugin.isolate, title=title, url=plugin.manifest.entry_path.resolve().as_uri())))
            if args.json:
                _print_json_line({"targets": [{"plugin": p.name, "id": t.id, "title": t.title, "url": t.url,
                                               "webSocketDebuggerUrl": t.websocket_url, "devtoolsFrontendUrl": t.devtools_frontend_url}
                                              for p, t in targets]})
            else:
                for _, target in targets:
                    print(f"{target.title}: open in Chrome {target.devtools_frontend_url}")
                    print(f"{target.title}: WebSocket {target.websocket_url}", flush=True)
            try:
                if not args.no_wait:
                    _progress(args, f"waiting for a debugger: open the URL above in Chrome, or chrome://inspect "
                                    f"(Configure... {server.host}:{server.port}); Ctrl-C to stop")
                    server.wait_for_client()
            except KeyboardInterrupt:
                _progress(args, "interrupted before the action")
                return 130
            try:
                what, result = _act(host, plugins, args)
            except KeyboardInterrupt:  # Ctrl-C, also while the call is paused in the debugger
                _progress(args, "interrupted during the action")
                return 130
            if args.json:
                _print_json_line({"action": what, "result": result})
            elif what != "loaded":
                print(f"{what} -> {_show(result)}", flush=True)
            if not args.exit:
                _progress(args, "serving the inspector until Ctrl-C")
                try:
                    threading.Event().wait()
                except KeyboardInterrupt:
                    _progress(args, "stopped")
    return 0


# socket.create_server() re-raises a host name that does not resolve (a gaierror) as a plain
# OSError with the resolver's error number: these.
_NAME_ERRORS = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA", "EAI_AGAIN", "EAI_FAIL", "EAI_ADDRFAMILY")
                if hasattr(socket, name)}


def _bind_error(error: OSError) -> str:
    """Why `inspect` cannot listen, without the address create_server() appends (the message
    names it already)."""
    reason = error.strerror or str(error)
    return reason.partition(" (while attempting to bind on address")[0]


def _bind_hint(error: OSError) -> str:
    """What to change when `inspect` cannot listen: the port if it is taken, the host if it is
    no address of this machine."""
    if isinstance(error, socket.gaierror) or error.errno in _NAME_ERRORS or error.errno == errno.EADDRNOTAVAIL:
        return "pick an address of this machine for --host (the default, 127.0.0.1, is the safe one)"
    if error.errno == errno.EADDRINUSE:
        return "pick another --port (0 picks a free one), or stop the debugger already there"
    if error.errno == errno.EACCES:
        return "pick a --port above 1023 (0 picks a free one): lower ones need privileges"
    return "check --host and --port"


def cmd_bench(args: argparse.Namespace) -> int:
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "engine.py"
    if not script.is_file():
        raise CommandError("the benchmarks are not installed with this copy of ivmhost",
                           "run it from a source checkout (benchmarks/engine.py)")
    command = [sys.executable, str(script)]
    if args.only:
        command += ["--only", args.only]
    if args.rounds:
        command += ["--rounds", str(args.rounds)]
    if args.json:
        command.append("--json")
    return subprocess.call(command)


# -- output -----------------------------------------------------------------------------------


def _describe(plugin: ivmhost.Plugin) -> dict[str, Any]:
    return {
        "name": plugin.name,
        "version": plugin.manifest.version,
        "folder": str(plugin.manifest.folder),
        "exports": plugin.exports,
        "capabilities": [{"name": r.name, "granted": r.name in plugin.grants, "params": dict(r.params)}
                         for r in plugin.manifest.capabilities],
    }


def _jsonable(value: Any) -> Any:
    if value is ivmhost.undefined:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return repr(value)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_jsonable))


def _print_json_line(data: Any) -> None:
    """`inspect --json` prints one object per line as things happen (the targets come first)."""
    print(json.dumps(data, default=_jsonable), flush=True)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=_jsonable)


def _fail(error: BaseException, status: int, hint: str = "") -> NoReturn:
    print(f"ivmhost: error: {error}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    raise SystemExit(status)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run, "check": cmd_check, "new": cmd_new, "audit": cmd_audit, "inspect": cmd_inspect, "bench": cmd_bench,
}
_HINTS: list[tuple[type[BaseException], str]] = [
    (ivmhost.ManifestError, "fix the manifest as the message says; `ivmhost check` lists every problem"),
    (ivmhost.CapabilityError, "request the capability in plugin.toml and have the application grant it"),
    (ivmhost.PluginError, "the plugin failed; see its message and stack, or run `ivmhost check` on it"),
    (ivmhost.IvmhostError, "see the message"),
]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ivmhost`` command (also ``python -m ivmhost``)."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except CommandError as exc:
        _fail(exc, exc.status, exc.hint)
    except AttributeError as exc:  # an export that does not exist
        _fail(exc, 1, "list a plugin's exports with `ivmhost run PLUGIN`")
    except ivmhost.IvmhostError as exc:
        _fail(exc, 1, next(hint for kind, hint in _HINTS if isinstance(exc, kind)))


_MANIFEST_TEMPLATE = '''\
    name = "{name}"
    version = "0.1.0"
    entry = "index.js"
    api = "1"
    description = "Counts how often its command runs"

    [limits]
    memory_mb = 32
    call_timeout_ms = 500

    [capabilities]
    kv = {{ namespace = "{name}", reason = "remembers how often the command ran" }}
'''

_INDEX_TEMPLATE = '''\
    // {name}: a plugin for the ivmhost demo notes application (ivmhost.demo.NotesHooks).
    import {{ incr }} from "ivmhost:kv";

    export function commands() {{
      return [{{ name: "{name}", help: "say hello and count the calls" }}];
    }}

    export function run_command(name, args, note) {{
      if (name !== "{name}") return undefined; // not ours: another plugin answers
      const n = incr("calls");
      return `hello ${{args || "world"}} (call ${{n}})`;
    }}
'''

_TEST_TEMPLATE = '''\
    """Tests for the {name} plugin: run with `python -m pytest` in this folder."""

    from pathlib import Path

    import ivmhost.demo


    def test_{ident}_answers_its_command(tmp_path: Path) -> None:
        with ivmhost.demo.make_host(tmp_path) as host:
            host.load(Path(__file__).parent)
            assert host.hook.run_command(name="{name}", args="there", note=None) == "hello there (call 1)"
            assert host.hook.run_command(name="{name}", args="", note=None) == "hello world (call 2)"
            assert host.hook.run_command(name="other", args="", note=None) is None
            assert host.check() == []
'''

if __name__ == "__main__":
    sys.exit(main())
