"""An extension system: a small notes application whose commands come from JavaScript plugins.

It loads every plugin in ``plugins/`` into a host made by :func:`ivmhost.demo.make_host`, asks
them which commands they serve, saves a few notes (``check_note`` before saving, ``note_saved``
after), runs each plugin's command and ends with per-plugin metrics and the audit of what each
plugin did with the capabilities it was granted. ``define`` asks a dictionary service this
example starts on 127.0.0.1; ``remind`` answers later, through a notification.

Run it with ``make run`` (which sets everything up first) or ``python3 examples/notes_app.py``;
``--interactive`` offers a prompt after the scripted session.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import logging
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ivmhost
from ivmhost.demo import make_host

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
# The sample plugins and the command each serves (the session skips the part of a missing one).
SAMPLES = {"markdown": "md", "note-schema": "validate", "http-lookup": "define", "counter": "stats",
           "scheduler": "remind"}
DEFINITIONS = {
    "isolate": "an instance of the V8 engine with its own heap, garbage collector and limits",
    "serendipity": "the luck of finding something good without looking for it",
}
REMINDER_MS = 300


# -- what the application provides -------------------------------------------------------------


class Dictionary(http.server.BaseHTTPRequestHandler):
    """The dictionary service http-lookup asks: ``GET /dict/define?word=<word>`` -> JSON."""

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        word = urllib.parse.parse_qs(url.query).get("word", [""])[0].lower()
        definition = DEFINITIONS.get(word) if url.path == "/dict/define" else None
        body = json.dumps({"word": word, "definition": definition} if definition else {"error": "not found"}).encode()
        self.send_response(200 if definition else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the session prints what the plugin answers."""


@contextlib.contextmanager
def dictionary_service() -> Iterator[str]:
    """Serve :class:`Dictionary` on a free port of 127.0.0.1 in a thread; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Dictionary)
    thread = threading.Thread(target=server.serve_forever, name="dictionary", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/dict"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Notifications:
    """The ``notify`` sink: prints each notification and lets the session wait for one."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self.received: list[tuple[str, str]] = []

    def __call__(self, plugin: str, channel: str, message: Any) -> None:
        print(f"  [notification from {plugin}] {message}", flush=True)
        with self._arrived:
            self.received.append((plugin, str(message)))
            self._arrived.notify_all()

    def wait_for(self, wanted: Callable[[str], bool], timeout: float) -> str | None:
        with self._arrived:
            self._arrived.wait_for(lambda: any(wanted(m) for _, m in self.received), timeout)
            return next((m for _, m in self.received if wanted(m)), None)


def write_shared_files(root: Path) -> None:
    """Files the application shares with plugins (the ``files`` capability reads them)."""
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "contacts.schema.json").write_text(json.dumps({
        "type": "array",
        "items": {
            "type": "object", "required": ["name", "email"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1},
                           "email": {"type": "string", "pattern": "^[^@ ]+@[^@ ]+$"}},
        },
    }, indent=2), encoding="utf-8")
    (root / "contacts.json").write_text(json.dumps([
        {"name": "Ada", "email": "ada@example.org"}, {"name": "Grace", "email": "grace@example.org"},
    ], indent=2), encoding="utf-8")
    (root / "contacts.old.json").write_text(json.dumps([
        {"name": "Ada", "email": "ada at example.org"}, {"name": "", "email": "x@example.org", "phone": "555"},
    ], indent=2), encoding="utf-8")


# -- the application ---------------------------------------------------------------------------


class NotesApp:
    """Notes in memory; the plugins check them, hear of them and serve the commands."""

    def __init__(self, host: ivmhost.PluginHost) -> None:
        self.host = host
        self.notes: dict[int, dict[str, Any]] = {}

    def save(self, title: str, text: str, tags: list[str]) -> dict[str, Any] | None:
        """Save a new note unless a plugin finds problems with it; None when refused."""
        note: dict[str, Any] = {"id": len(self.notes) + 1, "title": title, "text": text, "tags": tags}
        try:
            problems = [problem for answer in self.host.hook.check_note(note=note) for problem in answer]
        except ivmhost.PluginError as error:
            problems = [f"it could not be checked ({error})"]
        if problems:
            print(f"  refused \"{title}\": {'; '.join(problems)}")
            return None
        self.notes[note["id"]] = note
        print(f"  saved #{note['id']} \"{title}\" {tags}")
        try:
            self.host.hook.note_saved(note=note)
        except ivmhost.PluginError as error:  # the note is saved all the same
            print(f"  a plugin failed on note_saved: {error}")
        return note

    def commands(self) -> dict[str, str]:
        """The commands the plugins serve: name -> help."""
        return {c["name"]: c["help"] for answer in self.host.hook.commands() for c in answer}

    def command(self, line: str, note: dict[str, Any] | None) -> str | None:
        """Run a command line (``name args``); the serving plugin's answer, None if none serves it."""
        name, _, args = line.strip().partition(" ")
        answer: str | None = self.host.hook.run_command(name=name, args=args, note=note)
        return answer


def show(app: NotesApp, line: str, note: dict[str, Any] | None, served: dict[str, str]) -> None:
    """Run a command and print its answer (indented); say why when it cannot run."""
    name = line.split(" ", 1)[0]
    on = f"   (on note #{note['id']})" if note is not None else ""
    print(f"\n  > {line}{on}")
    if name not in served:
        sample = next((folder for folder, command in SAMPLES.items() if command == name), None)
        if sample is None:
            print(f"  unknown command '{name}' (commands: {', '.join(sorted(served)) or 'none'})")
        else:
            print(f"  skipped: no plugin serves '{name}' (the {sample} plugin is missing or did not load)")
        return
    try:
        answer = app.command(line, note)
    except ivmhost.PluginError as error:
        print(f"  failed: {error}")
        return
    for text in (answer if answer is not None else "(no answer)").splitlines():
        print(f"    {text}")


def load_plugins(host: ivmhost.PluginHost, directory: Path) -> None:
    """Load each plugin folder on its own, so that one broken plugin does not stop the others."""
    folders = sorted(p for p in directory.iterdir() if (p / "plugin.toml").is_file()) if directory.is_dir() else []
    for folder in folders:
        try:
            plugin = host.load(folder)
        except (ivmhost.ManifestError, ivmhost.CapabilityError, ivmhost.PluginError) as error:
            print(f"  {folder.name:<12} could not load: {error}")
            continue
        grants = ", ".join(sorted(plugin.grants)) or "nothing"
        print(f"  {plugin.name:<12} {plugin.manifest.version:<6} granted {grants:<20} {plugin.manifest.description}")
    for sample in SAMPLES:
        if not (directory / sample / "plugin.toml").is_file():
            print(f"  {sample:<12} missing: {directory / sample} does not exist; its part of the session is skipped")


def session(app: NotesApp, notifications: Notifications, interactive: bool) -> None:
    host = app.host
    print("\n== Commands the plugins serve (the commands hook)")
    served = app.commands()
    for name, help_text in sorted(served.items()):
        print(f"  {name:<9} {help_text}")

    print("\n== Notes (check_note before saving, note_saved after)")
    app.save("Groceries", "Buy *green tea*, oat milk and two lemons.", ["home", "errands"])
    plans = app.save("Plugin ideas", "# Plugin ideas\n\n- a **markdown** preview\n- word `stats`\n"
                     "- reminders", ["work", "ivmhost"])
    app.save("", "A note without a title", ["Work", "work"])
    app.save("Reading list", "Structure and Interpretation of Computer Programs", ["home", "books"])

    print("\n== Running each plugin's command")
    show(app, "md", plans, served)
    show(app, "stats", None, served)
    show(app, "validate contacts.json", None, served)
    show(app, "validate contacts.old.json", None, served)
    show(app, "define serendipity", None, served)
    show(app, "define xyzzy", None, served)
    show(app, f"remind {REMINDER_MS} stretch your legs", None, served)
    if "remind" in served:
        started = time.monotonic()
        reminder = notifications.wait_for(lambda m: m.startswith("reminder:"), timeout=5)
        waited = (time.monotonic() - started) * 1000
        print(f"  the reminder arrived {waited:.0f} ms later" if reminder else "  no reminder arrived within 5 s")

    if interactive:
        prompt(app)

    print("\n== Plugins: metrics")
    print(f"  {'plugin':<12} {'calls':>5} {'errors':>6} {'timeouts':>8} {'CPU ms':>7} {'heap KB':>8} {'cap calls':>9}")
    for plugin in host.plugins.values():
        m = plugin.metrics
        print(f"  {plugin.name:<12} {m.calls:>5} {m.errors:>6} {m.timeouts:>8} {m.cpu_time_ns / 1e6:>7.1f} "
              f"{m.heap_used_bytes / 1024:>8.0f} {m.capability_calls:>9}")

    print("\n== Capability audit (what each plugin really used of what it was granted)")
    for plugin in host.plugins.values():
        entries = host.audit(plugin.name)
        used = [f"{e.capability}.{e.method} x{e.calls}" + (f" ({e.errors} failed)" if e.errors else "")
                for e in entries if e.calls]
        unused = [f"{e.capability}.{e.method}" for e in entries if not e.calls]
        print(f"  {plugin.name:<12} used: {', '.join(used) or 'nothing'}")
        if unused:
            print(f"  {'':<12} unused: {', '.join(unused)}")
    problems = host.check()
    print(f"\n  host.check(): {'; '.join(map(str, problems)) if problems else 'no problems'}")


def prompt(app: NotesApp) -> None:
    """A small prompt: ``new <title>: <text>`` saves a note, anything else is a command run on
    the last note; an empty line or end of input leaves."""
    print("\n== Your turn: 'new <title>: <text>' saves a note, other lines are commands; empty line quits")
    note = list(app.notes.values())[-1] if app.notes else None
    served = app.commands()
    while True:
        try:
            line = input("notes> ").strip()
        except EOFError:
            break
        if not line:
            break
        if line.startswith("new "):
            title, _, text = line[4:].partition(":")
            note = app.save(title.strip(), text.strip(), []) or note
        else:
            show(app, line, note, served)


def main() -> None:
    parser = argparse.ArgumentParser(description="The notes application with its JavaScript plugins.")
    parser.add_argument("--interactive", action="store_true", help="offer a prompt after the scripted session")
    parser.add_argument("--plugins", type=Path, default=PLUGINS, help=f"the plugin folders' folder (default: {PLUGINS})")
    options = parser.parse_args()
    # The session prints each failure itself; the host's own log lines would repeat them.
    logging.getLogger("ivmhost").addHandler(logging.NullHandler())

    print(f"ivmhost {ivmhost.__version__} on V8 {ivmhost.v8_version}: the notes application, plugins from {options.plugins}")
    notifications = Notifications()
    with tempfile.TemporaryDirectory(prefix="ivmhost-notes-") as data, dictionary_service() as url:
        files = Path(data) / "shared"
        write_shared_files(files)
        settings = {"lookup.url": url, "markdown.gfm": True}
        print(f"  data in {data}, shared files in {files}, dictionary service at {url}")
        with make_host(data_dir=data, settings=settings, files_root=files, notify_sink=notifications) as host:
            print("\n== Loading plugins")
            load_plugins(host, options.plugins)
            session(NotesApp(host), notifications, options.interactive)


if __name__ == "__main__":
    main()
