"""Fixtures for the inspector tests: a started InspectorServer, DevTools protocol clients that
disconnect at the end, an isolate and context made with the inspector on. Clients go first, then
the server, then the isolates (fixture teardown runs in reverse)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import ivmhost
from cdp_client import Attach, CdpClient
from ivmhost.inspector import InspectorServer, InspectorTarget


@pytest.fixture
def server(make_isolate: Callable[..., ivmhost.Isolate]) -> Iterator[InspectorServer]:
    """An InspectorServer on a free port of 127.0.0.1, closed at the end."""
    with InspectorServer(port=0) as server:
        yield server


@pytest.fixture
def attach(server: InspectorServer) -> Iterator[Attach]:
    """attach(target) -> a chrome-remote-interface client connected to it by id."""
    clients: list[CdpClient] = []

    def factory(target: InspectorTarget) -> CdpClient:
        client = CdpClient(server.port, target.id)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def inspected(make_isolate: Callable[..., ivmhost.Isolate]) -> tuple[ivmhost.Isolate, ivmhost.Context]:
    """An isolate and a context both made with inspector=True."""
    isolate = make_isolate(inspector=True)
    return isolate, isolate.create_context_sync(inspector=True)
