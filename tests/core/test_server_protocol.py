"""Every row of PROTOCOL.md's message table, against the real server over real sockets."""

from __future__ import annotations

import json

import msgpack
from websockets.asyncio.client import connect

from tests.core.test_server_support import peer, running, url_with_token


async def test_connected_message_names_the_client() -> None:
    async with running() as server, peer(server, "alice") as alice:
        assert alice.name == "alice"
        assert isinstance(alice.client_id, str) and alice.client_id


async def test_ping_pong_with_and_without_request_id() -> None:
    async with running() as server, peer(server) as alice:
        await alice.send(type="ping")
        pong = await alice.recv()
        assert pong["type"] == "pong" and isinstance(pong["timestamp"], int)
        assert "requestId" not in pong
        reply = await alice.request(type="ping", requestId="q1")
        assert reply["type"] == "pong" and reply["requestId"] == "q1"


async def test_join_and_leave_send_presence_to_others_only() -> None:
    async with running() as server, peer(server, "alice") as alice, peer(server, "bob") as bob:
        assert (await alice.request(type="join_room", room="lobby", requestId=1))["type"] == "ack"
        await bob.send(type="join_room", room="lobby")
        presence = await alice.recv()
        assert presence == {
            "type": "presence",
            "room": "lobby",
            "clientId": bob.client_id,
            "name": "bob",
            "event": "join",
        }
        assert await bob.quiet() == []  # The joiner hears no presence of its own.
        await bob.send(type="leave_room", room="lobby")
        leave = await alice.recv()
        assert leave["event"] == "leave" and leave["clientId"] == bob.client_id
        # The last member leaving makes the room disappear.
        await alice.send(type="leave_room", room="lobby")
        rooms = await alice.request(type="list_rooms", requestId=2)
        assert rooms["rooms"] == []


async def test_leave_a_room_one_is_not_in_is_an_error() -> None:
    async with running() as server, peer(server) as alice:
        reply = await alice.request(type="leave_room", room="nowhere", requestId="x")
        assert reply["type"] == "error" and reply["error"] == reply["message"]
        assert "nowhere" in reply["message"]


async def test_broadcast_reaches_other_members_only() -> None:
    async with (
        running() as server,
        peer(server, "alice") as alice,
        peer(server, "bob") as bob,
        peer(server, "carol") as carol,
    ):
        for p in (alice, bob):
            await p.request(type="join_room", room="dev", requestId="j")
        await alice.quiet(0.1)
        data = {"text": "hello", "n": [1, 2.5, None, True]}
        ack = await alice.request(type="broadcast", room="dev", data=data, requestId="b")
        assert ack == {"type": "ack", "requestId": "b"}
        got = await bob.expect("broadcast")
        assert got["room"] == "dev" and got["data"] == data and got["from"] == alice.client_id
        assert isinstance(got["timestamp"], int)
        assert await alice.quiet() == []  # Not echoed to the sender.
        assert await carol.quiet() == []  # Not a member.


async def test_broadcast_requires_membership() -> None:
    async with running() as server, peer(server) as alice:
        await alice.send(type="broadcast", room="dev", data=1)
        err = await alice.recv()
        assert err == {"type": "error", "message": "Not a member of room: dev"}


async def test_private_message_and_unknown_target() -> None:
    async with running() as server, peer(server, "alice") as alice, peer(server, "bob") as bob:
        ack = await alice.request(
            type="private_message", targetId=bob.client_id, data="psst", requestId=7
        )
        assert ack == {"type": "ack", "requestId": 7}
        got = await bob.recv()
        assert got["type"] == "private_message" and got["data"] == "psst"
        assert got["from"] == alice.client_id and isinstance(got["timestamp"], int)
        err = await alice.request(type="private_message", targetId="nobody", requestId=8)
        assert err["type"] == "error" and err["error"] == "Unknown target: nobody"
        await alice.send(type="private_message", targetId="nobody")
        assert (await alice.recv())["message"] == "Unknown target: nobody"


async def test_list_rooms_and_list_clients() -> None:
    async with running() as server, peer(server, "alice") as alice, peer(server, "bob") as bob:
        await alice.request(type="join_room", room="b-room", requestId=1)
        await alice.request(type="join_room", room="a-room", requestId=2)
        await bob.request(type="join_room", room="a-room", requestId=3)
        await alice.send(type="list_rooms")
        rooms = await alice.expect("rooms")
        assert "requestId" not in rooms
        assert rooms["rooms"] == [
            {
                "name": "a-room",
                "members": [
                    {"clientId": alice.client_id, "name": "alice"},
                    {"clientId": bob.client_id, "name": "bob"},
                ],
            },
            {"name": "b-room", "members": [{"clientId": alice.client_id, "name": "alice"}]},
        ]
        clients = await bob.request(type="list_clients", requestId="c")
        assert clients["type"] == "clients"
        by_id = {c["clientId"]: c for c in clients["clients"]}
        assert by_id[alice.client_id] == {
            "clientId": alice.client_id,
            "name": "alice",
            "rooms": ["b-room", "a-room"],
        }
        assert by_id[bob.client_id]["rooms"] == ["a-room"]


async def test_unknown_type_and_invalid_format() -> None:
    async with running() as server, peer(server) as alice:
        await alice.send(type="dance")
        assert await alice.recv() == {"type": "error", "message": "Unknown message type: dance"}
        reply = await alice.request(type="dance", requestId="r")
        assert reply == {
            "type": "error",
            "requestId": "r",
            "message": "Unknown message type: dance",
            "error": "Unknown message type: dance",
        }
        for bad in ("not json", "[1, 2]", '"str"', '{"type": 5}', '{"data": 1}', "NaN", "{"):
            await alice.ws.send(bad)
            assert await alice.recv() == {"type": "error", "message": "Invalid message format"}
        await alice.ws.send(b"\xff\x00 binary junk")
        assert (await alice.recv())["message"] == "Invalid message format"
        # Still connected and answering.
        assert (await alice.request(type="ping", requestId=1))["type"] == "pong"


async def test_request_id_on_every_action_gets_exactly_one_reply() -> None:
    async with running() as server, peer(server, "alice") as alice, peer(server, "bob") as bob:
        replies = [
            await alice.request(type="join_room", room="r", requestId="1"),
            await alice.request(type="broadcast", room="r", data=0, requestId="2"),
            await alice.request(
                type="private_message", targetId=bob.client_id, data=0, requestId="3"
            ),
            await alice.request(type="leave_room", room="r", requestId="4"),
            await alice.request(type="list_rooms", requestId="5"),
            await alice.request(type="list_clients", requestId="6"),
            await alice.request(type="join_room", room="", requestId="7"),
        ]
        assert [r["type"] for r in replies] == [
            "ack", "ack", "ack", "ack", "rooms", "clients", "error",
        ]  # fmt: skip
        assert replies[-1]["error"] == replies[-1]["message"]
        assert await alice.quiet() == []  # Nothing extra.
        # A requestId too long to echo is refused without echoing it.
        await alice.send(type="ping", requestId="x" * 65)
        err = await alice.recv()
        assert err["type"] == "error" and "requestId" not in err and "x" * 65 not in err["message"]


async def test_repeated_id_is_acked_but_delivered_once_across_reconnects() -> None:
    async with running() as server, peer(server, "bob") as bob:
        await bob.request(type="join_room", room="r", requestId=0)
        for attempt in range(2):
            async with peer(server, "alice") as alice:
                await alice.request(type="join_room", room="r", requestId="j")
                ack = await alice.request(
                    type="broadcast", room="r", data="once", id="m-1", requestId=f"b{attempt}"
                )
                assert ack == {"type": "ack", "requestId": f"b{attempt}"}
                # Without requestId a duplicate is silently dropped.
                await alice.send(type="broadcast", room="r", data="once", id="m-1")
                assert await alice.quiet(0.1) == []
        got = [m for m in await bob.quiet(0.3) if m["type"] == "broadcast"]
        assert [m["data"] for m in got] == ["once"]
        # Another client name with the same id is a different message.
        async with peer(server, "carol") as carol:
            await carol.request(type="join_room", room="r", requestId="j")
            await carol.request(type="broadcast", room="r", data="c", id="m-1", requestId="b")
        assert [m["data"] for m in await bob.quiet(0.3) if m["type"] == "broadcast"] == ["c"]


async def test_failed_action_is_not_remembered_as_handled() -> None:
    async with running() as server, peer(server, "alice") as alice, peer(server, "bob") as bob:
        err = await alice.request(type="broadcast", room="r", data=1, id="m", requestId=1)
        assert err["type"] == "error"
        await alice.request(type="join_room", room="r", requestId=2)
        await bob.request(type="join_room", room="r", requestId=3)
        await alice.quiet(0.1)
        assert (await alice.request(type="broadcast", room="r", data=1, id="m", requestId=4))[
            "type"
        ] == "ack"
        assert (await bob.expect("broadcast"))["data"] == 1


async def test_errors_echo_at_most_64_characters() -> None:
    async with running() as server, peer(server) as alice:
        long = "y" * 500
        await alice.send(type=long)
        assert (await alice.recv())["message"] == "Unknown message type: " + "y" * 64
        await alice.send(type="private_message", targetId=long)
        assert (await alice.recv())["message"] == "Unknown target: " + "y" * 64
        await alice.send(type="join_room", room=long)
        assert long[:65] not in (await alice.recv())["message"]


async def test_output_escapes_html_and_control_characters() -> None:
    async with running() as server, peer(server, "alice") as alice, peer(server, "bob") as bob:
        evil = "<script>alert(1)</script>&\x1b[31m\x9b\u2028"
        await alice.ws.send(json.dumps({"type": evil}))
        raw = await alice.ws.recv()
        assert isinstance(raw, str)
        assert "<" not in raw and ">" not in raw and "&" not in raw and "\x1b" not in raw
        assert "\\u003cscript\\u003e" in raw and "\\u0026" in raw and "\\u001b" in raw
        assert "\\u009b" in raw and "\\u2028" in raw
        assert json.loads(raw)["message"] == "Unknown message type: " + evil
        # Relayed data is escaped too, and unchanged once parsed.
        await alice.request(type="join_room", room="r", requestId=1)
        await bob.request(type="join_room", room="r", requestId=2)
        await alice.quiet(0.1)
        await alice.send(type="broadcast", room="r", data={"<b>": evil})
        relayed = await bob.ws.recv()
        assert isinstance(relayed, str) and "<" not in relayed
        assert json.loads(relayed)["data"] == {"<b>": evil}


async def test_disconnect_leaves_every_room_with_presence() -> None:
    async with running() as server, peer(server, "alice") as alice:
        for room in ("a", "b"):
            await alice.request(type="join_room", room=room, requestId=room)
        async with peer(server, "bob") as bob:
            for room in ("a", "b"):
                await bob.request(type="join_room", room=room, requestId=room)
            bob_id = bob.client_id
        leaves = [m for m in await alice.quiet(0.4) if m.get("event") == "leave"]
        assert sorted(m["room"] for m in leaves) == ["a", "b"]
        assert all(m["clientId"] == bob_id for m in leaves)
        clients = await alice.request(type="list_clients", requestId=1)
        assert [c["clientId"] for c in clients["clients"]] == [alice.client_id]


async def test_room_names_must_be_1_to_64_printable_characters() -> None:
    async with running() as server, peer(server) as alice:
        for bad in ("", "x" * 65, "a\nb", "tab\there", 42, None, ["r"]):
            reply = await alice.request(type="join_room", room=bad, requestId="q")
            assert reply["type"] == "error", bad
            assert reply["message"].startswith("Invalid room name")
        for good in ("x" * 64, "with space", "日本", "🙂"):
            assert (await alice.request(type="join_room", room=good, requestId="q"))[
                "type"
            ] == "ack"


async def test_max_rooms_per_client() -> None:
    async with running(max_rooms_per_client=2) as server, peer(server) as alice:
        for room in ("a", "b", "a"):  # Re-joining is not a new room.
            assert (await alice.request(type="join_room", room=room, requestId=1))["type"] == "ack"
        reply = await alice.request(type="join_room", room="c", requestId=2)
        assert reply["type"] == "error" and "Room limit" in reply["message"]


async def test_msgpack_subprotocol_round_trip_and_mixed_rooms() -> None:
    async with (
        running() as server,
        peer(server, "mp", msgpack_=True) as mp,
        peer(server, "js") as js,
    ):
        assert mp.ws.subprotocol == "msgpack" and mp.binary
        assert js.ws.subprotocol is None
        assert (await mp.request(type="ping", requestId=1))["type"] == "pong"
        await mp.request(type="join_room", room="mix", requestId=2)
        await js.request(type="join_room", room="mix", requestId=3)
        assert (await mp.expect("presence"))["clientId"] == js.client_id
        await mp.send(type="broadcast", room="mix", data={"k": [1, "two", 3.5]})
        assert (await js.expect("broadcast"))["data"] == {"k": [1, "two", 3.5]}
        await js.send(type="broadcast", room="mix", data={"<": "&"})
        raw = await mp.ws.recv()
        assert isinstance(raw, bytes)
        assert msgpack.unpackb(raw)["data"] == {"<": "&"}
        # Binary bytes cannot travel as JSON: the sender gets an error, nobody gets half.
        await mp.ws.send(msgpack.packb({"type": "broadcast", "room": "mix", "data": b"\x00"}))
        assert (await mp.recv())["type"] == "error"
        assert await js.quiet(0.1) == []
        await mp.ws.send(b"\xc1 not msgpack")
        assert (await mp.recv())["message"] == "Invalid message format"


async def test_auth_off_gives_guest_names_and_per_connection_dedup() -> None:
    async with running(auth=False) as server, peer(server) as watcher:
        assert watcher.name.startswith("guest-")
        await watcher.request(type="join_room", room="r", requestId=0)
        for attempt in range(2):  # Without a token every connection is its own sender.
            async with connect(url_with_token(server)) as ws:  # A token is simply ignored.
                assert json.loads(await ws.recv())["type"] == "connected"
                await ws.send(json.dumps({"type": "join_room", "room": "r", "requestId": 1}))
                await ws.send(
                    json.dumps({"type": "broadcast", "room": "r", "data": attempt, "id": "m"})
                )
                await ws.send(json.dumps({"type": "ping", "requestId": 2}))
                for _ in range(5):
                    if json.loads(await ws.recv())["type"] == "pong":
                        break
        got = [m["data"] for m in await watcher.quiet(0.3) if m["type"] == "broadcast"]
        assert got == [0, 1]
