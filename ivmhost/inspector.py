"""The V8 inspector over WebSocket: debug isolates with Chrome DevTools, VS Code or any DevTools
protocol client, as ``node --inspect`` does.

::

    isolate = ivmhost.Isolate(inspector=True)
    context = isolate.create_context_sync(inspector=True)
    with InspectorServer(port=9229) as server:
        target = server.add(isolate, title="my isolate")
        print(target.devtools_frontend_url)          # open it in Chrome
        server.wait_for_client()
        context.eval_sync("debugger; 6 * 7")          # pauses until DevTools resumes

The server speaks Node's discovery protocol (``GET /json``, ``/json/list``, ``/json/version``) and
opens one :class:`~ivmhost.InspectorSession` per WebSocket connection to ``/<target id>``.

Threading: while JavaScript is paused at a breakpoint, the thread running it sits in the
inspector's message loop until a resume. So the server runs on threads of its own (websockets'
threaded server: one thread accepting, one per connection relaying frames to the isolate, one per
connection sending), never on a thread that runs plugin JavaScript, and a session's callbacks
only put messages on a queue (they run on the isolate's thread, under its lock).

Anyone who can connect can run code in the isolate: bind to 127.0.0.1 (the default) only.
"""

from __future__ import annotations

import http
import ipaddress
import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from ivmhost._engine import Isolate
from ivmhost._errors import IvmhostError

if TYPE_CHECKING:
    from ivmhost._engine import InspectorSession

__all__ = ["InspectorServer", "InspectorTarget"]

_log = logging.getLogger("ivmhost.inspector")

# How often a connection's relay thread looks whether its isolate was disposed or its target
# removed while no message arrives (the engine has no dispose callback to wake it).
_POLL_SECONDS = 0.1
# DevTools sends whole scripts (live edit) and large evaluations; websockets' default is 1 MiB.
_MAX_MESSAGE = 64 * 2**20
# Node's favicon: chrome://inspect lists these targets as Node ones ("type": "node").
_FAVICON = "https://nodejs.org/static/images/favicons/favicon.ico"
_READY = "Runtime.runIfWaitingForDebugger"
_DISPOSED = "the isolate was disposed"
_ENDPOINTS = "GET /json (or /json/list) lists the targets, GET /json/version names the server, ws://HOST:PORT/<id> debugs one"


@attrs.frozen
class InspectorTarget:
    """An isolate served by an :class:`InspectorServer`, as a DevTools client finds it in /json.

    ``websocket_url`` is what protocol clients connect to; ``devtools_frontend_url`` opens Chrome's
    DevTools on it (paste it in Chrome's address bar)."""

    id: str
    title: str
    url: str
    websocket_url: str
    devtools_frontend_url: str
    isolate: Isolate = attrs.field(repr=False, eq=False)

    def _listing(self, netloc: str) -> dict[str, str]:
        """Node's /json entry, with URLs for the address the client reached the server at."""
        where = f"{netloc}/{self.id}"
        return {
            "description": f"ivmhost isolate: {self.title}",
            "devtoolsFrontendUrl": _frontend_url("js_app.html", where),
            "devtoolsFrontendUrlCompat": _frontend_url("inspector.html", where),
            "faviconUrl": _FAVICON,
            "id": self.id,
            "title": self.title,
            "type": "node",
            "url": self.url,
            "webSocketDebuggerUrl": f"ws://{where}",
        }


class InspectorServer:
    """A DevTools endpoint for isolates made with ``inspector=True``, on ``host:port``
    (``port=0`` picks a free port; :attr:`port` tells which).

    ``start()``/``close()`` or ``with``; ``add(isolate)`` serves an isolate and returns its
    :class:`InspectorTarget`. Each WebSocket connection gets an inspector session of its own,
    disposed when the client disconnects; a disposed isolate's connections close with a reason."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9229) -> None:
        self.host = host
        self._requested_port = port
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a client came, went or became ready
        self._targets: dict[str, InspectorTarget] = {}
        self._connections: dict[ServerConnection, InspectorTarget] = {}
        self._sessions = 0  # connections with an inspector session open
        self._ready: set[ServerConnection] = set()  # those whose client sent Runtime.runIfWaitingForDebugger
        self._added = 0

    def __repr__(self) -> str:
        where = f"{self.host}:{self._server.socket.getsockname()[1]}" if self._server else "not started"
        return f"<ivmhost.InspectorServer {where} targets={len(self.targets)} clients={self.clients}>"

    # -- lifetime --

    def start(self) -> None:
        """Listen (OSError if the address is taken) and serve on a thread of the server's own."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this InspectorServer is closed; make a new one")
            if self._server is not None:
                return
            self._server = serve(
                self._serve_connection, self.host, self._requested_port,
                process_request=self._process_request, server_header=None, max_size=_MAX_MESSAGE,
            )
            self._thread = threading.Thread(target=self._server.serve_forever, name="ivmhost-inspector", daemon=True)
            self._thread.start()
        _log.info("inspector listening on %s", self._netloc())

    def close(self) -> None:
        """Close every connection (disposing its session, after sending what it still had to
        send: the reply to a last Debugger.resume), stop listening and forget the targets."""
        with self._changed:
            if self._closed:
                return
            self._closed = True  # each relay thread notices within _POLL_SECONDS
            self._changed.wait_for(lambda: not self._connections, timeout=10)
            server, self._server = self._server, None
            self._targets.clear()
        if server is not None:
            server.shutdown()  # closes what did not close in time
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> InspectorServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- what the application reads --

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (the port chosen when ``port=0``)."""
        server = self._server
        if server is None:
            raise RuntimeError("the InspectorServer is not listening: call start() or use `with`")
        host, port = server.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.address[1]

    @property
    def targets(self) -> list[InspectorTarget]:
        """The targets served now (a disposed isolate's target is dropped)."""
        with self._lock:
            self._drop_disposed()
            return list(self._targets.values())

    @property
    def clients(self) -> int:
        """How many WebSocket clients have an inspector session open now (one each)."""
        with self._lock:
            return self._sessions

    # -- targets --

    def add(self, isolate: Isolate, *, title: str | None = None, url: str = "") -> InspectorTarget:
        """Serve ``isolate`` (made with ``Isolate(inspector=True)``; only its contexts made with
        ``inspector=True`` are visible). ``title`` and ``url`` are what DevTools lists."""
        if self._server is None:
            raise RuntimeError("start the InspectorServer (start() or `with`) before adding isolates")
        if isolate.is_disposed:
            raise IvmhostError("Isolate is disposed: there is nothing to inspect")
        if not isolate.inspector:
            raise IvmhostError("Inspector is not enabled for this isolate: create it with Isolate(inspector=True) "
                               "(PluginHost(inspector=True) for plugins)")
        with self._lock:
            self._added += 1
            target_id = str(uuid.uuid4())
            where = f"{self._netloc()}/{target_id}"
            target = InspectorTarget(
                id=target_id, title=title or f"ivmhost isolate {self._added}", url=url,
                websocket_url=f"ws://{where}", devtools_frontend_url=_frontend_url("js_app.html", where),
                isolate=isolate,
            )
            self._targets[target_id] = target
        return target

    def remove(self, target: InspectorTarget) -> None:
        """Stop serving ``target``: it leaves /json and its clients are disconnected (by their
        relay threads, once they sent what was queued)."""
        with self._lock:
            self._targets.pop(target.id, None)

    def wait_for_client(self, timeout: float | None = None) -> bool:
        """Block until a debugger is attached and ready: it sent ``Runtime.runIfWaitingForDebugger``,
        as DevTools does once it has set its breakpoints (Node's ``--inspect-wait``
        rule). True, or False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: bool(self._ready), timeout)

    # -- HTTP --

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answers /json, /json/list and /json/version; lets WebSocket upgrades to a target
        through; refuses the rest. Runs on the connection's thread."""
        if self._closed:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "the inspector server is closing\n")
        host = request.headers.get("Host")
        if not _allowed_host(host):
            # Node's DNS rebinding guard: a web page whose name resolves to 127.0.0.1 must not
            # learn the targets' ids (an id is what lets a client in).
            return connection.respond(http.HTTPStatus.FORBIDDEN,
                                      f"Host header {host!r} is neither an IP address nor localhost: "
                                      f"connect to {self._netloc()} by address\n")
        assert host is not None
        path = request.path.partition("?")[0].rstrip("/")
        if path in ("/json", "/json/list"):
            netloc = host if _port_of(host) else f"{host}:{self.port}"
            with self._lock:
                self._drop_disposed()
                listing = [t._listing(netloc) for t in self._targets.values()]
            return _json_response(connection, listing)
        if path == "/json/version":
            from ivmhost import __version__

            return _json_response(connection, {"Browser": f"ivmhost/{__version__}", "Protocol-Version": "1.1"})
        with self._lock:
            self._drop_disposed()
            known = path[1:] in self._targets
        if known:
            return None  # the WebSocket handshake (websockets answers 426 if this is no upgrade)
        if path.startswith("/json"):
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"unknown endpoint {path}: {_ENDPOINTS}\n")
        return connection.respond(http.HTTPStatus.NOT_FOUND,
                                  f"no inspector target {path[1:]!r} (its isolate was removed or disposed?): {_ENDPOINTS}\n")

    # -- WebSocket --

    def _serve_connection(self, connection: ServerConnection) -> None:
        """One client: a session of its own on the target's isolate, until either side goes."""
        with self._lock:
            target = self._targets.get(connection.request.path.partition("?")[0].strip("/")) if connection.request else None
            if target is not None:
                self._connections[connection] = target
        if target is None:  # removed between the handshake and now
            connection.close(CloseCode.GOING_AWAY, "the target was removed from the inspector")
            return
        peer = _peer(connection)
        close: tuple[int, str] | None = None
        try:
            with self._session(target, connection) as session:
                _log.info("inspector client %s attached to %s", peer, target.title)
                close = self._relay(target, connection, session)
        except IvmhostError as exc:  # create_inspector_session() on an isolate disposed meanwhile
            close = _gone(target, exc)
        finally:
            with self._changed:
                del self._connections[connection]
                self._ready.discard(connection)
                self._changed.notify_all()
            if close is not None:
                connection.close(*close)
            _log.info("inspector client %s detached from %s", peer, target.title)

    @contextmanager
    def _session(self, target: InspectorTarget, connection: ServerConnection) -> Iterator[InspectorSession]:
        """An inspector session whose messages go out through a sender thread: its callbacks run
        on the isolate's thread and must never wait for the network."""
        outbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        session = target.isolate.create_inspector_session()
        session.on_response = lambda call_id, message: outbox.put(message)
        session.on_notification = outbox.put
        sender = threading.Thread(target=_send_all, args=(connection, outbox), daemon=True,
                                  name=f"ivmhost-inspector-send-{target.id[:8]}")
        sender.start()
        with self._changed:
            self._sessions += 1
            self._changed.notify_all()
        try:
            yield session
        finally:
            if not session.is_disposed:
                session.dispose()
            with self._changed:
                self._sessions -= 1
                self._changed.notify_all()
            outbox.put(None)
            sender.join(timeout=5)

    def _relay(self, target: InspectorTarget, connection: ServerConnection,
               session: InspectorSession) -> tuple[int, str] | None:
        """Relays the client's frames to the session until the client goes (returns None: no
        close frame to send) or the isolate or target does (returns the close code and reason)."""
        while True:
            if self._closed:
                return CloseCode.GOING_AWAY, "the inspector server is closing"
            if target.isolate.is_disposed or session.is_disposed:
                return CloseCode.GOING_AWAY, _DISPOSED
            if self._targets.get(target.id) is not target:
                return CloseCode.GOING_AWAY, "the target was removed from the inspector"
            try:
                message = connection.recv(timeout=_POLL_SECONDS)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return None
            if not isinstance(message, str):
                return CloseCode.UNSUPPORTED_DATA, "DevTools protocol messages are text frames"
            if _READY in message and _method(message) == _READY:
                with self._changed:
                    self._ready.add(connection)
                    self._changed.notify_all()
            try:
                session.dispatch_protocol_message(message)
            except IvmhostError as exc:  # the isolate went between the check and the dispatch
                return _gone(target, exc)

    # -- helpers --

    def _netloc(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _drop_disposed(self) -> None:
        """Under the lock: forget targets whose isolate is gone."""
        for target_id in [i for i, t in self._targets.items() if t.isolate.is_disposed]:
            del self._targets[target_id]


def _send_all(connection: ServerConnection, outbox: queue.SimpleQueue[str | None]) -> None:
    """The sender thread: the session's messages to the client, in order, until None."""
    while (message := outbox.get()) is not None:
        try:
            connection.send(message)
        except ConnectionClosed:
            pass  # keep draining until None: the relay thread is disposing the session


def _peer(connection: ServerConnection) -> str:
    try:
        return ":".join(str(part) for part in connection.remote_address[:2])
    except OSError:  # the client is gone already
        return "a client"


def _frontend_url(page: str, where: str) -> str:
    return f"devtools://devtools/bundled/{page}?experiments=true&v8only=true&ws={where}"


def _json_response(connection: ServerConnection, data: Any) -> Response:
    response = connection.respond(http.HTTPStatus.OK, json.dumps(data, indent=2) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    return response


def _split_host(host: str) -> tuple[str, str]:
    """A Host header's name and port ("" when it has none): "[::1]:9229" -> ("::1", "9229")."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest.partition(":")[2]
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        return name, port
    return host, ""


def _port_of(host: str) -> str:
    return _split_host(host)[1]


def _allowed_host(host: str | None) -> bool:
    """Whether a Host header names an IP address or localhost (Node's rule)."""
    if not host:
        return False
    name = _split_host(host)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _method(message: str) -> Any:
    try:
        return json.loads(message).get("method")
    except (ValueError, AttributeError):
        return None


def _gone(target: InspectorTarget, error: IvmhostError) -> tuple[int, str]:
    """The close frame for a connection whose isolate refused a session or a message."""
    if target.isolate.is_disposed:
        return CloseCode.GOING_AWAY, _DISPOSED
    # Any other refusal: its message, cut to the 123 bytes of UTF-8 a close reason holds.
    return CloseCode.INTERNAL_ERROR, str(error).encode()[:123].decode(errors="ignore")
