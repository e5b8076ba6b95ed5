"""The room browser's context menu: join, leave, broadcast and private messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from ui.room_browser import RoomBrowser


def room_menu(browser: RoomBrowser, index: QModelIndex) -> QMenu:
    """The context menu for a room row, a member row or empty space."""
    room = browser.model.room_at(index)
    member = browser.model.member_at(index)
    info = browser.info()
    protocol = bool(info and info.protocol)
    menu = QMenu(browser)
    if room is not None:
        joined = browser.model.is_member(room.name, info.client_id if info else None)
        shown = room.name.replace("&", "&&")  # not a mnemonic
        join = menu.addAction(f"Join room {shown}")
        join.setEnabled(protocol and not joined)
        join.triggered.connect(lambda: browser.join_room(room.name))
        leave = menu.addAction(f"Leave room {shown}")
        leave.setEnabled(protocol and joined)
        leave.triggered.connect(lambda: browser.leave_room(room.name))
        hint = "" if joined or not protocol else " (join first)"
        cast = menu.addAction(f"Broadcast to room…{hint}")
        cast.setEnabled(protocol and joined)
        cast.triggered.connect(lambda: browser.broadcast_to_room(room.name))
    if member is not None:
        menu.addSeparator()
        pm = menu.addAction(f"Private message to {member.name.replace('&', '&&')}…")
        pm.setEnabled(protocol and member.client_id != (info.client_id if info else None))
        pm.triggered.connect(lambda: browser.private_message(member.client_id))
        copy = QAction("Copy client ID", menu)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(member.client_id))
        menu.addAction(copy)
    if room is None:
        menu.addAction("Join room…").triggered.connect(lambda: browser.join_room())
        menu.actions()[-1].setEnabled(protocol)
    menu.addSeparator()
    menu.addAction("Refresh").triggered.connect(lambda: browser.refresh())
    return menu
