"""Real protocol servers from registry packages, started on 127.0.0.1 for the protocol stories.

One module per server; each fixture (tests/servers/conftest.py, re-exported by tests/conftest.py)
yields an `Endpoint`: the WebSocket URL and the subprotocol a client must offer. Every server is
started on a free port, waited for with a bounded start-up time (skip or fail with a clear
message), and always stopped when its fixture ends.
"""
