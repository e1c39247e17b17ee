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
threaded server: one thread accepting; per connection one relaying frames to the isolate, one
moving the session's messages to a bounded queue and one sending them), never on a thread that
runs plugin JavaScript, and a session's callbacks only put messages on a queue (they run on the
isolate's thread, under its lock, and never wait: a client that stops reading overflows its
bounded queue and is disconnected instead).

Anyone who can connect can run code in the isolate: bind to 127.0.0.1 (the default) only.
"""

from __future__ import annotations

import http
import ipaddress
import json
import logging
import queue
import socket
import sys
import threading
import time
import uuid
import weakref
from collections import deque
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
# What a connection's queue of messages to send may hold (sys.getsizeof of the strings) before
# its client counts as one that does not read them: its connection is closed then, rather than
# the memory growing without bound or a callback on the isolate's thread waiting for the network.
_MAX_OUTBOX = 64 * 2**20
# How long a closing connection may take to send what was queued (the reply to a last
# Debugger.resume), and its client to answer the close frame, before its socket is shut.
_GRACE_SECONDS = 2.0
# How long close() waits for its connections and threads in all: a client that stopped reading
# must not hang the program that closes the server.
_CLOSE_SECONDS = 10.0
# Node's favicon: chrome://inspect lists these targets as Node ones ("type": "node").
_FAVICON = "https://nodejs.org/static/images/favicons/favicon.ico"
_READY = "Runtime.runIfWaitingForDebugger"
_DISPOSED = "the isolate was disposed"
_REMOVED = "the target was removed from the inspector"
_CLOSING = "the inspector server is closing"
_NOT_READING = "the client does not read its messages"
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
        # The target each upgrade request named, from _process_request to _serve_connection:
        # if it is gone by then, its isolate tells why (disposed, or the target removed).
        self._requested: weakref.WeakKeyDictionary[ServerConnection, InspectorTarget] = weakref.WeakKeyDictionary()
        self._sessions = 0  # connections with an inspector session open
        # A client sent Runtime.runIfWaitingForDebugger. Server-wide (as Node's flag is) and kept:
        # a client that says go and disconnects at once still lets wait_for_client() return.
        self._go = False
        self._added = 0

    def __repr__(self) -> str:
        server = self._server
        if self._closed:
            where = "closed"
        elif server is None:
            where = "not started"
        else:
            where = f"{self.host}:{server.socket.getsockname()[1]}"
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
                close_timeout=_GRACE_SECONDS,
            )
            self._thread = threading.Thread(target=self._server.serve_forever, name="ivmhost-inspector", daemon=True)
            self._thread.start()
        _log.info("inspector listening on %s", self._netloc())

    def close(self) -> None:
        """Close every connection (disposing its session, after sending what it still had to
        send: the reply to a last Debugger.resume), stop listening and forget the targets.

        Returns within about ten seconds whatever the clients do: a connection whose client
        does not read has its socket shut; a thread still stuck after that is logged."""
        deadline = time.monotonic() + _CLOSE_SECONDS
        with self._changed:
            if self._closed:
                return
            self._closed = True  # each relay thread notices within _POLL_SECONDS
            self._changed.notify_all()  # wakes wait_for_client()
            self._changed.wait_for(lambda: not self._connections, timeout=_CLOSE_SECONDS - 2 * _GRACE_SECONDS)
            stuck = list(self._connections)
            server, self._server = self._server, None
            self._targets.clear()
        for connection in stuck:  # their relay thread is still closing them: unblock it
            _log.warning("inspector client %s did not disconnect in time: shutting its socket", _peer(connection))
            _shut(connection)
        threads = [self._thread] if self._thread is not None else []
        if server is not None:
            # websockets' shutdown() waits for every connection's thread with no timeout: give
            # it one of its own, so that close() keeps its deadline.
            threads.insert(0, threading.Thread(target=server.shutdown, daemon=True, name="ivmhost-inspector-shutdown"))
            threads[0].start()
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.5))
        with self._lock:
            alive = [f"client {_peer(c)}" for c in self._connections] + [t.name for t in threads if t.is_alive()]
        if alive:
            _log.warning("InspectorServer.close() gave up waiting for: %s", ", ".join(alive))

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
        if self._closed:
            raise RuntimeError("this InspectorServer is closed; make a new one")
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
        """Block until a debugger is ready: a client sent ``Runtime.runIfWaitingForDebugger``, as
        DevTools does once it has set its breakpoints (Node's ``--inspect-wait`` rule). True, also
        for every later call (the signal is kept, even if that client has left since); False
        after ``timeout`` seconds, or once the server is closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._go or self._closed, timeout)
            return self._go and not self._closed

    # -- HTTP --

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answers /json, /json/list and /json/version; lets WebSocket upgrades to a target
        through; refuses the rest. Runs on the connection's thread."""
        if self._closed:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, f"{_CLOSING}\n")
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
            target = self._targets.get(path[1:])
            if target is not None:
                self._requested[connection] = target
        if target is not None:
            return None  # the WebSocket handshake (websockets answers 426 if this is no upgrade)
        if path.startswith("/json"):
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"unknown endpoint {path}: {_ENDPOINTS}\n")
        return connection.respond(http.HTTPStatus.NOT_FOUND,
                                  f"no inspector target {path[1:]!r} (its isolate was removed or disposed?): {_ENDPOINTS}\n")

    # -- WebSocket --

    def _serve_connection(self, connection: ServerConnection) -> None:
        """One client: a session of its own on the target's isolate, until either side goes."""
        with self._lock:
            target = self._requested.pop(connection, None)
            refusal = self._refusal(target)
            if refusal is None:
                assert target is not None
                self._connections[connection] = target
        if refusal is not None:  # gone between the handshake and now
            connection.close(*refusal)
            return
        assert target is not None
        peer = _peer(connection)
        close: tuple[int, str] | None = None
        try:
            with self._session(target, connection) as (session, outbox):
                _log.info("inspector client %s attached to %s", peer, target.title)
                close = self._relay(target, connection, session, outbox)
        except IvmhostError as exc:  # create_inspector_session() on an isolate disposed meanwhile
            close = _gone(target, exc)
        finally:
            with self._changed:
                del self._connections[connection]
                self._changed.notify_all()
            if close is not None:
                # Bounded: websockets gives a close frame close_timeout (_GRACE_SECONDS) to go out.
                connection.close(*close)
            _log.info("inspector client %s detached from %s", peer, target.title)

    @contextmanager
    def _session(self, target: InspectorTarget, connection: ServerConnection) -> Iterator[tuple[InspectorSession, _Outbox]]:
        """An inspector session whose messages go out through a sender thread: its callbacks run
        on the isolate's thread and must never wait for the network.

        The callbacks put each message on ``inbox``, and a thread moves it to the bounded
        ``outbox``: notifications (most messages, and all while JavaScript is paused) then run no
        Python code on the isolate's thread, where a Ctrl-C meant for the paused call would
        otherwise land in the callback (and be logged as its error)."""
        inbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        outbox = _Outbox(_MAX_OUTBOX)
        session = target.isolate.create_inspector_session()
        session.on_response = lambda call_id, message: inbox.put(message)
        session.on_notification = inbox.put  # SimpleQueue.put is C code
        mover = threading.Thread(target=outbox.fill_from, args=(inbox,), daemon=True,
                                 name=f"ivmhost-inspector-queue-{target.id[:8]}")
        sender = threading.Thread(target=_send_all, args=(connection, outbox), daemon=True,
                                  name=f"ivmhost-inspector-send-{target.id[:8]}")
        mover.start()
        sender.start()
        with self._changed:
            self._sessions += 1
            self._changed.notify_all()
        try:
            yield session, outbox
        finally:
            if not session.is_disposed:
                session.dispose()
            with self._changed:
                self._sessions -= 1
                self._changed.notify_all()
            inbox.put(None)  # the mover closes the outbox once it has moved what came before
            mover.join()  # it never waits for the network
            sender.join(_GRACE_SECONDS)
            if sender.is_alive():
                # Its send() waits for a client that does not read, holding the connection's
                # lock: shutting the socket makes that send fail (and frees the lock for close()).
                _log.warning("inspector client %s does not read its messages: shutting its socket", _peer(connection))
                _shut(connection)
                sender.join(_GRACE_SECONDS)
                if sender.is_alive():
                    _log.warning("inspector sender thread %s did not end", sender.name)

    def _relay(self, target: InspectorTarget, connection: ServerConnection,
               session: InspectorSession, outbox: _Outbox) -> tuple[int, str] | None:
        """Relays the client's frames to the session until the client goes (returns None: no
        close frame to send) or the isolate or target does, or the client stops reading (returns
        the close code and reason)."""
        while True:
            if outbox.overflowed:
                return CloseCode.POLICY_VIOLATION, _NOT_READING
            if session.is_disposed:
                return CloseCode.GOING_AWAY, _DISPOSED
            refusal = self._refusal(target)
            if refusal is not None:
                return refusal
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
                    self._go = True
                    self._changed.notify_all()
            try:
                session.dispatch_protocol_message(message)
            except IvmhostError as exc:  # the isolate went between the check and the dispatch
                return _gone(target, exc)

    # -- helpers --

    def _netloc(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _refusal(self, target: InspectorTarget | None) -> tuple[int, str] | None:
        """Why a connection to ``target`` must close now (code and reason), or None."""
        if self._closed:
            return CloseCode.GOING_AWAY, _CLOSING
        if target is None:
            return CloseCode.GOING_AWAY, _REMOVED
        if target.isolate.is_disposed:  # before the lookup: _drop_disposed() forgets such targets
            return CloseCode.GOING_AWAY, _DISPOSED
        if self._targets.get(target.id) is not target:
            return CloseCode.GOING_AWAY, _REMOVED
        return None

    def _drop_disposed(self) -> None:
        """Under the lock: forget targets whose isolate is gone."""
        for target_id in [i for i, t in self._targets.items() if t.isolate.is_disposed]:
            del self._targets[target_id]


class _Outbox:
    """A session's messages on their way to its client, at most ``limit`` bytes of them.

    ``put`` never waits: past the limit it drops the queue and sets ``overflowed`` (the relay
    thread then closes the connection)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._messages: deque[str] = deque()
        self._size = 0
        self._changed = threading.Condition(threading.Lock())
        self._closed = False
        self.overflowed = False

    def put(self, message: str) -> None:
        size = sys.getsizeof(message)
        with self._changed:
            if self._closed or self.overflowed:
                return
            if self._size + size > self._limit:
                self.overflowed = True
                self._messages.clear()  # its client is disconnected: nothing more goes out
                self._size = 0
            else:
                self._messages.append(message)
                self._size += size
            self._changed.notify()

    def fill_from(self, inbox: queue.SimpleQueue[str | None]) -> None:
        """A thread of its own: puts what arrives in ``inbox`` until None, then closes."""
        while (message := inbox.get()) is not None:
            self.put(message)
        self.close()

    def close(self) -> None:
        """No more messages: get() returns what is queued, then None."""
        with self._changed:
            self._closed = True
            self._changed.notify()

    def get(self) -> str | None:
        """The next message, waiting for it; None once closed and empty, or overflowed."""
        with self._changed:
            self._changed.wait_for(lambda: self._messages or self._closed or self.overflowed)
            if self.overflowed or not self._messages:
                return None
            message = self._messages.popleft()
            self._size -= sys.getsizeof(message)
            return message


def _send_all(connection: ServerConnection, outbox: _Outbox) -> None:
    """The sender thread: the session's messages to the client, in order, until None."""
    while (message := outbox.get()) is not None:
        try:
            connection.send(message)
        except ConnectionClosed:
            pass  # keep draining until None: the relay thread is disposing the session


def _shut(connection: ServerConnection) -> None:
    """Shut a connection's socket both ways: a send() blocked on a client that does not read
    fails at once (on Linux), and so releases the connection's lock for close()."""
    try:
        connection.socket.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already
        pass


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
