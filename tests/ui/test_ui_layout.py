"""The window on small and common screens: it fits 1024x640 with every dock usable, nothing
important is cut at 1280x800, growing texts do not move the docks, and a layout saved in a small
window is not forced on a larger one."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QWidget

from core.states import ConnState
from tests.helpers_ui import dispose, make_bridge, until
from ui.connections_model import Column
from ui.main_window import MainWindow, embedded_connection_config, join_rooms

LONG_NAME = "a connection with a name far longer than any dock is wide " * 2


def inside(widget: QWidget, window: QWidget) -> bool:
    """The widget is shown whole within the window (not cut by its right or bottom edge)."""
    top_left = widget.mapTo(window, QPoint(0, 0))
    return widget.isVisible() and window.rect().contains(QRect(top_left, widget.size()))


async def busy_window(embedded_server, size: tuple[int, int]) -> MainWindow:
    """The app's window with the demo traffic flowing and a frame selected in the inspector."""
    srv = embedded_server(auth=False, demo_bots=4, demo_rate=5)
    bridge = make_bridge()
    window = MainWindow(bridge, remember_layout=False)
    window.resize(*size)
    window.show()
    conn_id = window.connections.add_connection(embedded_connection_config(srv))
    assert conn_id is not None
    join_rooms(bridge, conn_id)
    long_id = window.connections.add_connection(
        embedded_connection_config(srv, name=LONG_NAME), select=False)
    assert long_id is not None
    conn, long_named = bridge.commands.connection(conn_id), bridge.commands.connection(long_id)
    await until(lambda: conn.state is ConnState.OPEN and long_named.state is ConnState.OPEN, 5)
    inspector = window.panels["inspector"]
    await until(lambda: inspector.model.rowCount() > 5, 5, "frames")
    await until(lambda: window.is_ready and window.has_painted, 5, "painted")
    await asyncio.sleep(0.3)  # default_sizes() after the first paint, and a tick or two
    inspector.select_newest(lambda e: e.conn_id == long_named.id)  # the longest header
    QApplication.processEvents()
    return window


async def close(window: MainWindow) -> None:
    bridge = window.bridge
    await window.shutdown()
    dispose(window, bridge)


async def test_fits_1024x640_with_every_dock_usable(qtbot, embedded_server, no_quit_on_close):
    window = await busy_window(embedded_server, (1024, 640))
    try:
        hint, minimum = window.minimumSizeHint(), window.minimumSize()
        assert hint.width() <= 1024 and hint.height() <= 640, hint
        assert minimum.width() <= 1024 and minimum.height() <= 640, minimum
        assert (window.width(), window.height()) == (1024, 640)
        for key, dock in window.docks.items():
            if key in ("server", "collections", "topics", "pairs", "load"):  # tabbed behind
                continue
            assert dock.isVisible() and dock.width() >= dock.minimumSizeHint().width(), key
            assert dock.width() >= 150 and dock.height() >= 100, (key, dock.size())
            assert window.rect().contains(dock.geometry()), key
        detail = window.panels["inspector"].detail
        assert inside(detail.copy_button, window)  # was cut off at 1024
        charts = window.panels["charts"]
        assert inside(charts.graphics, window)  # the newest data is at its right edge
        assert inside(window.panels["inspector"].clear_button, window)
        assert inside(window.panels["composer"].send_button, window)
        assert inside(window.panels["rooms"].join_button, window)
    finally:
        await close(window)


async def test_nothing_important_cut_at_1280x800(qtbot, embedded_server, no_quit_on_close):
    window = await busy_window(embedded_server, (1280, 800))
    try:
        connections = window.connections
        view, header = connections.view, connections.view.horizontalHeader()
        for column in (Column.STATE, Column.NAME, Column.RTT, Column.RATE_IN, Column.RATE_OUT):
            right = header.sectionViewportPosition(column) + header.sectionSize(column)
            assert right <= view.viewport().width(), f"{column.name} is cut off"
        charts = window.panels["charts"]
        await until(lambda: "RTT" in charts.summary.text(), 3, "the summary")
        fm = charts.summary.fontMetrics()
        assert fm.horizontalAdvance(charts.summary.text()) <= charts.summary.width()
        rooms = window.panels["rooms"]
        assert rooms.title.fontMetrics().horizontalAdvance(rooms.title.text()) <= (
            rooms.title.width())
        for widget in (window.panels["inspector"].detail.copy_button,
                       window.panels["inspector"].clear_button,
                       window.panels["composer"].send_button, rooms.join_button, charts.graphics):
            assert inside(widget, window), widget
        for key, dock in window.docks.items():
            if key not in ("server", "collections"):  # tabbed behind others
                assert dock.width() >= dock.minimumSizeHint().width(), key
    finally:
        await close(window)


async def test_growing_texts_do_not_move_the_docks(qtbot, embedded_server, no_quit_on_close):
    window = await busy_window(embedded_server, (1024, 640))
    try:
        before = {key: dock.geometry() for key, dock in window.docks.items()}
        huge = "a text that grew far beyond what any panel of this window can show " * 4
        inspector = window.panels["inspector"]
        inspector.counter.setText(huge)
        inspector.detail.header.setText(huge)
        window.panels["charts"].summary.setText(huge)
        window.panels["rooms"].title.setText(huge)
        window.panels["composer"].target_label.setText(huge)
        window.status.show_message(huge)
        window.status.rates_label.setText("▼ 99999.9 msg/s  ▲ 99999.9 msg/s")
        await asyncio.sleep(0.2)
        QApplication.processEvents()
        assert window.minimumSizeHint().width() <= 1024
        assert {key: dock.geometry() for key, dock in window.docks.items()} == before
        assert (window.width(), window.height()) == (1024, 640)
    finally:
        await close(window)


async def test_a_layout_saved_small_is_not_forced_on_a_larger_window(
    qtbot, config_dir, no_quit_on_close
):
    bridge = make_bridge()
    windows: list[MainWindow] = []

    async def shown(width: int, height: int) -> MainWindow:
        window = MainWindow(bridge)  # restores the layout saved by the one closed before
        windows.append(window)
        window.resize(width, height)
        window.show()
        await until(lambda: window.has_painted, 5, "painted")
        await asyncio.sleep(0.2)  # the proportions are set just after the first paint
        return window

    try:
        small = await shows_squeezed(shown)
        small.close()  # saves the layout, and the size it was made for
        large = await shown(1600, 1000)
        assert large.layout_restored
        left = large.docks["connections"].width()
        assert abs(left - 0.32 * 1600) < 40, left  # the proportions for 1600 px
        assert abs(large.docks["inspector"].width() - 0.68 * 1600) < 40
        docks = [large.docks["connections"], large.docks["inspector"]]
        large.resizeDocks(docks, [left + 100, 1500 - left], Qt.Orientation.Horizontal)
        await asyncio.sleep(0.1)  # as if the user dragged the separator
        widened = large.docks["connections"].width()
        assert widened > left + 50
        large.close()
        again = await shown(1600, 1000)  # at the size it was saved at, the layout is kept
        assert abs(again.docks["connections"].width() - widened) <= 2
    finally:
        bridge.stop()
        dispose(*windows, bridge)


async def shows_squeezed(shown) -> MainWindow:  # type: ignore[no-untyped-def]
    """A window made as small as it goes: every dock squeezed to its minimum."""
    window = await shown(800, 500)
    assert window.width() < 1024  # held at its minimum width
    assert window.docks["connections"].width() < 0.32 * 1600 - 200
    return window


async def test_the_load_panel_reads_at_both_sizes(qtbot, embedded_server, no_quit_on_close):
    """Raised in its tab (with Charts and Pairs), the load panel's controls, its three charts
    and the summary are whole within the window at 1024x640 and 1280x800."""
    for size in ((1024, 640), (1280, 800)):
        window = await busy_window(embedded_server, size)
        try:
            window.docks["load"].raise_()
            await asyncio.sleep(0.2)
            QApplication.processEvents()
            panel = window.panels["load"]
            charts = panel.charts
            for widget in (panel.scenario, panel.start_button, panel.stop_button, panel.mirror,
                           panel.open_results, panel.summary, charts.rates, charts.latency,
                           charts.rtt):
                assert inside(widget, window), (size, widget)
            for button in (panel.start_button, panel.stop_button, panel.open_results):
                assert button.width() >= button.sizeHint().width(), (size, button.text())
            for plot in (charts.rates, charts.latency, charts.rtt):
                assert plot.width() >= 100 and plot.height() >= 80, (size, plot.size())
            assert window.minimumSizeHint().width() <= size[0]
        finally:
            await close(window)
