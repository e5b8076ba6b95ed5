"""A strawberry-graphql schema served by uvicorn at /graphql over both graphql-transport-ws and
the legacy graphql-ws, with a short connection_init wait so its 4408 close can be shown.

Schema: `hello(name)` (query), `add(a, b)` (mutation), `counter(n)` (subscription: 1..n).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from tests.servers.common import Endpoint, UvicornThread

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


def make_schema() -> Any:
    import strawberry

    @strawberry.type
    class Query:
        @strawberry.field
        def hello(self, name: str = "world") -> str:
            return f"hello {name}"

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def add(self, a: int, b: int) -> int:
            return a + b

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def counter(self, n: int = 3) -> AsyncGenerator[int, None]:
            for i in range(1, min(n, 1000) + 1):
                yield i
                await asyncio.sleep(0.01)

    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class GraphQLServer:
    def __init__(self, init_wait: float = 2.0, keep_alive: float | None = 1.0) -> None:
        from strawberry.asgi import GraphQL

        self.init_wait = init_wait
        app = GraphQL(make_schema(), graphql_ide=None,
                      subscription_protocols=(TRANSPORT_WS, LEGACY_WS),
                      connection_init_wait_timeout=timedelta(seconds=init_wait),
                      keep_alive=keep_alive is not None, keep_alive_interval=keep_alive or 1.0)
        self.thread = UvicornThread(app, "strawberry-graphql")

    def start(self, subprotocol: str = TRANSPORT_WS) -> Endpoint:
        startup = self.thread.start()
        return self.endpoint(subprotocol, startup)

    def endpoint(self, subprotocol: str, startup: float = 0.0) -> Endpoint:
        """The same server reached with the other dialect."""
        return Endpoint(f"ws://127.0.0.1:{self.thread.port}/graphql", subprotocol,
                        "strawberry-graphql", startup, {"init_wait": self.init_wait})

    def stop(self) -> None:
        self.thread.stop()
