"""pytest fixtures for the real protocol servers (re-exported by tests/conftest.py).

Each yields `Endpoint`s (url, subprotocol). The in-process servers (Socket.IO, GraphQL,
JSON-RPC) start in well under a second and are per test, as factories taking the server's
settings; the brokers (RabbitMQ, amqtt, mosquitto) take seconds and are one per test module.
A broker whose package is missing is a skip saying what to install; one that is installed but
does not start is a failure with its output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.servers.common import Endpoint


@pytest.fixture
def socketio_server() -> Iterator[Callable[..., Endpoint]]:
    """socketio_server(ping_interval=25, ping_timeout=20) -> Endpoint (EIO=4 websocket URL)."""
    from tests.servers.socketio_server import SocketIOServer

    started: list[Any] = []

    def start(**settings: float) -> Endpoint:
        server = SocketIOServer(**settings)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def graphql_server() -> Iterator[Callable[..., Endpoint]]:
    """graphql_server(subprotocol="graphql-transport-ws", init_wait=2.0, keep_alive=1.0)."""
    from tests.servers.graphql_server import TRANSPORT_WS, GraphQLServer

    started: list[Any] = []

    def start(subprotocol: str = TRANSPORT_WS, **settings: Any) -> Endpoint:
        server = GraphQLServer(**settings)
        started.append(server)
        return server.start(subprotocol)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def jsonrpc_server() -> Iterator[Endpoint]:
    from tests.servers.jsonrpc_server import JsonRpcServer

    server = JsonRpcServer()
    try:
        yield server.start()
    finally:
        server.stop()


def _broker(make: Callable[[], Any], missing: str | None) -> Iterator[Endpoint]:
    if missing:
        pytest.skip(missing)
    broker = make()
    try:
        endpoint = broker.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield endpoint
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def stomp_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """A private RabbitMQ node with Web-STOMP, one per test module."""
    from tests.servers.rabbitmq_stomp import RabbitStomp, missing

    base = tmp_path_factory.mktemp("rabbitmq")
    yield from _broker(lambda: RabbitStomp(base), missing())


@pytest.fixture(scope="module")
def amqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """amqtt (MQTT 3.1.1 over WebSocket), one per test module."""
    from tests.servers.mqtt_broker import Amqtt, amqtt_missing

    base = tmp_path_factory.mktemp("amqtt")
    yield from _broker(lambda: Amqtt(base), amqtt_missing())


@pytest.fixture(scope="module")
def mosquitto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """mosquitto (MQTT 3.1.1 and 5 over WebSocket), one per test module."""
    from tests.servers.mqtt_broker import Mosquitto, mosquitto_missing

    base = tmp_path_factory.mktemp("mosquitto")
    yield from _broker(lambda: Mosquitto(base), mosquitto_missing())
