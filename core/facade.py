"""The one door from a UI into the core: every action a widget takes on a connection or on the
manager goes through `Commands`, which runs it on the core's loop (the manager's), whatever
thread calls.

A widget holds a `Commands` and connection ids, never a `Connection`: it learns what happens
from the events (core.events, a MetricsSnapshot a few times a second), and acts here. The GUI
thread may read `ids()` and `config()`: the manager's list changes only through here, and a
connection's settings are replaced whole (`edit()`), never changed in place.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from core.config import ConnectionConfig
from core.states import ConnState

# Cheap to import (no asyncio, numpy or websockets: the window's skeleton imports it to name
# the app's paths); what it lends the UI is imported when first asked for.
if TYPE_CHECKING:
    import asyncio

    from core.backpressure import Backpressure
    from core.connection import Connection, Reply
    from core.events import Event
    from core.manager import ConnectionManager
    from core.schedule import Scheduler

# What the UI may use of the rest of the core, by module. Imported when first asked for (PEP
# 562): the window's skeleton imports this module (for the app's paths) before asyncio, numpy,
# websockets or the server are loaded.
_LENT = {
    "core.atomic_file": "replaced",
    "core.connection": "Connection NotOpen Reply RequestTimeout",
    "core.decoders.guard": "GuardedSession open_session",
    "core.decoders.layer": "decode_frame default_registry is_lazy",
    "core.decoders.pairing": "OTHER Pair Pairer Percentiles Reservoir Unanswered",
    "core.decoders.payloads": "readings",
    "core.decoders.registry": "AUTO RAW Registry",
    "core.load": "LoadPlan ScenarioError find_scenario make_plan",
    "core.load.locust_run": "LocustOptions",
    "core.load.session": "LoadSession",
    "core.load.stats": "LoadStats",
    "core.loopthread": "LoopThread hop",
    "core.manager": "ConnectionManager",
    "core.ndjson": "event_to_json",
    "core.paths": "APP_NAME CONFIG_ENV config_dir data_dir new_recording_path recordings_dir",
    "core.recorder": "Recorder",
    "core.recording": "HarError ImportResult Recording RecordingInfo export_events_har "
                      "export_recording_har import_har list_recordings profile_from_har",
    "core.recording.diff": "IgnoreRules ReplyDiff Status summarize",
    "core.recording.replay": "DEFAULT_MAX_GAP DEFAULT_REPLY_TIMEOUT ReplayError ReplayOptions "
                             "ReplayResult Timing load_sources replay",
    "core.schedule": "MAX_COUNT MAX_INTERVAL MAX_JITTER MIN_INTERVAL Pace Resolve Scheduler",
    "core.server": "EmbeddedServer ServerConfig ServerStartError make_token",
    "core.server.local_cluster": "MAX_INSTANCES LocalCluster",
    "core.workspace": "Collection Environment Resolver SavedMessage SecretStore "
                      "UnresolvedVariable Variable Workspace WorkspaceError "
                      "default_workspace_path load_workspace save_workspace",
    "core.workspace.secrets": "variable_key",
}
_EXPORTS: dict[str, tuple[str, str]] = {
    name: (module, name) for module, names in _LENT.items() for name in names.split()
}
_EXPORTS["ScheduledMessage"] = ("core.schedule", "Message")  # plainer names than the modules'
_EXPORTS["pair_label"] = ("core.decoders.pairing", "label")
_EXPORTS["LOAD_FIGURES"] = ("core.load.stats", "NAMES")
_EXPORTS["load_summary"] = ("core.cli_load", "summary")

__all__ = ["Commands", "decoder_choices", *_EXPORTS]


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value


T = TypeVar("T")


class Commands:
    """Connection and manager actions by connection id. Coroutines return once the core has
    done it; the plain methods hand it over and return at once. KeyError for an id that is not
    (or no longer) the manager's."""

    def __init__(self, manager: ConnectionManager) -> None:
        self._manager = manager
        self._decoders: dict[int, str] = {}  # set_decoder() so far, by connection

    # ----- what the GUI thread may read --------------------------------------------------------

    def ids(self) -> list[int]:
        """The connections' ids, in the order they were added."""
        return [conn.id for conn in self._manager.list()]

    def __len__(self) -> int:
        return len(self._manager)

    def config(self, conn_id: int) -> ConnectionConfig:
        """The connection's settings; replace them with `edit()`, never in place."""
        return self._manager.get(conn_id).config

    @property
    def backpressure(self) -> Backpressure:
        """Whether the recorder holds the reads (any thread may ask)."""
        return self._manager.hub.backpressure

    def publish(self, event: Event) -> None:
        """Publish an event as the core would: a view of a recording replays its frames so."""
        self._manager.hub.publish(event)

    # ----- the manager --------------------------------------------------------------------------

    def add(self, config: ConnectionConfig, connect: bool = False,
            resolve: Callable[[str], str] | None = None, conn_id: int | None = None) -> int:
        """A new connection (connecting at once when `connect`); its id. ConnectionAdded is
        published now; `resolve` fills in {{variables}} at each attempt."""
        conn = self._manager.add(config, conn_id=conn_id, resolve=resolve)
        if connect:
            self.connect(conn.id)
        return conn.id

    async def remove(self, conn_id: int) -> None:
        """Close it for good and forget it (ConnectionRemoved)."""
        conn = self._manager.get(conn_id)
        await self._core(conn.disconnect())
        await self._manager.remove(conn_id)  # closed already: only the bookkeeping is left

    async def close_all(self) -> None:
        """Close every connection for good (at once when there is none)."""
        import asyncio

        await asyncio.gather(*(self.disconnect(conn_id) for conn_id in self.ids()))

    def scheduler(self) -> Scheduler:
        """A new set of repeats on these connections (close() it when done)."""
        from core.schedule import Scheduler

        return Scheduler(self._manager)

    # ----- one connection -----------------------------------------------------------------------

    def connect(self, conn_id: int) -> None:
        self._call(self._manager.get(conn_id).connect)

    async def disconnect(self, conn_id: int, code: int = 1000, reason: str = "") -> None:
        await self._core(self._manager.get(conn_id).disconnect(code, reason))

    def reconnect_now(self, conn_id: int) -> None:
        """Skip the retry delay, reopen an open connection, or start a closed one."""
        self._call(self._manager.get(conn_id).reconnect_now)

    async def send(self, conn_id: int, data: str | bytes, *, text: bool | None = None) -> bool:
        """True when it went out now; False when it waits in the offline queue."""
        return await self._core(self._manager.get(conn_id).send(data, text=text))

    async def request(self, conn_id: int, message: dict[str, Any],
                      timeout: float | None = None) -> Reply:
        """NotOpen or RequestTimeout in words when there is no reply."""
        return await self._core(self._manager.get(conn_id).request(message, timeout))

    async def queued(self, conn_id: int) -> int:
        """How many messages wait in its offline queue now."""
        conn = self._manager.get(conn_id)

        async def count() -> int:
            return len(conn.queue)

        return await self._core(count())

    async def send_acked(self, conn_id: int, message: dict[str, Any]) -> str:
        return await self._core(self._manager.get(conn_id).send_acked(message))

    def set_decoder(self, conn_id: int, name: str) -> None:
        """A decoder's name, "raw" or "auto": ValueError in words for an unknown name (checked
        here, applied on the core's loop, where the connection hops it)."""
        self._manager.get(conn_id).set_decoder(name)
        self._decoders[conn_id] = name

    def decoder(self, conn_id: int) -> str:
        """The decoder a connection is set to: the last set_decoder(), else its config's."""
        return self._decoders.get(conn_id) or self.config(conn_id).decoder or "auto"

    async def edit(self, conn_id: int, config: ConnectionConfig) -> None:
        """Use new settings: an active connection is closed and opened again with them."""
        conn = self._manager.get(conn_id)

        async def apply() -> None:
            active = conn.state is not ConnState.CLOSED
            if active:
                await conn.disconnect()
            conn.config = config
            if active:
                conn.connect()

        await self._core(apply())

    # ----- the thread hop -----------------------------------------------------------------------

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        """The core's loop when the caller runs elsewhere, else None (run here)."""
        import asyncio

        loop = self._manager.loop
        if loop is None:
            return None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        return None if running is loop else loop

    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop()
        if loop is None:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    async def _core(self, coro: Coroutine[Any, Any, T]) -> T:
        from core.loopthread import hop

        loop = self._loop()
        return await (coro if loop is None else hop(loop, coro))

    def connection(self, conn_id: int) -> Connection:
        """For the core's own tools (CLI, tests): a widget never needs it."""
        return self._manager.get(conn_id)


def decoder_choices() -> list[tuple[str, str]]:
    """(name, label) of every choice: Automatic, Raw, then each decoder installed by title."""
    from core.decoders.layer import default_registry
    from core.decoders.registry import AUTO, RAW

    decoders = sorted(default_registry().decoders, key=lambda d: d.title.casefold())
    return [(AUTO, "Automatic"), (RAW, "Raw (no decoder)"),
            *((d.name, d.title) for d in decoders)]
