"""Demo bots: simulated clients inside the server that real clients can see and talk to."""

from __future__ import annotations

from tests.core.test_server_support import peer, running, wait_for


async def test_bots_appear_in_rooms_and_clients_and_chat() -> None:
    async with running(demo_bots=3, demo_rate=20.0) as server, peer(server) as alice:
        rooms = await alice.request(type="list_rooms", requestId=1)
        lobby = next(r for r in rooms["rooms"] if r["name"] == "lobby")
        assert len(lobby["members"]) >= 3  # Every bot starts in the lobby ...
        names = {m["name"] for m in lobby["members"]}
        assert all(name.endswith("-bot") for name in names)
        clients = await alice.request(type="list_clients", requestId=2)
        assert len(clients["clients"]) == 4  # ... and is listed like any client.
        await alice.request(type="join_room", room="lobby", requestId=3)
        said = await alice.expect("broadcast", timeout=3.0)
        assert said["room"] == "lobby" and said["from"].startswith("bot-")
        assert said["data"] is not None


async def test_bots_answer_private_messages() -> None:
    async with running(demo_bots=1, demo_rate=0.0) as server, peer(server) as alice:
        clients = await alice.request(type="list_clients", requestId=1)
        bot = next(c for c in clients["clients"] if c["clientId"] != alice.client_id)
        target = bot["clientId"]
        await alice.request(type="private_message", targetId=target, data="hi", requestId=2)
        reply = await alice.expect("private_message")
        assert reply["from"] == bot["clientId"] and "alice" in reply["data"]["text"]


async def test_set_demo_at_runtime_grows_and_shrinks_the_crowd() -> None:
    async with running(demo_bots=0) as server, peer(server) as alice:
        await alice.request(type="join_room", room="lobby", requestId=1)
        server.set_demo(2, 0.0)
        joins = [await alice.expect("presence") for _ in range(2)]
        assert {j["event"] for j in joins} == {"join"}
        server.set_demo(0, 0.0)
        leaves = [await alice.expect("presence") for _ in range(2)]
        assert {j["event"] for j in leaves} == {"leave"}
        await wait_for(lambda: server.snapshot().bots == 0)
        rooms = await alice.request(type="list_rooms", requestId=2)
        assert rooms["rooms"] == [
            {"name": "lobby", "members": [{"clientId": alice.client_id, "name": alice.name}]}
        ]


async def test_bot_traffic_is_varied() -> None:
    async with running(demo_bots=4, demo_rate=50.0) as server, peer(server) as alice:
        for room in ("lobby", "dev", "random"):
            await alice.request(type="join_room", room=room, requestId=room)
        seen = await alice.quiet(0.8, limit=2000)
        payloads = [m["data"] for m in seen if m["type"] == "broadcast"]
        assert len(payloads) >= 10
        shapes = {tuple(sorted(p)) if isinstance(p, dict) else type(p).__name__ for p in payloads}
        assert len(shapes) >= 2  # Chat lines, metrics, deploys, series ...
        assert server.stats.messages_out >= len(payloads)
