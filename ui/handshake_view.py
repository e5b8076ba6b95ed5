"""A connection event in full: what the opening handshake sent and got back (status, headers,
the negotiated subprotocol and extensions, TLS version and peer certificate), or how the
connection closed, failed or is retried. Shown as plain text: headers come from the server."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from core.closecodes import describe_close
from core.events import HandshakeInfo
from ui.conn_rows import ConnectionRow
from ui.hex_view import monospace
from ui.inspector_model import clock

NO_HANDSHAKE = "The handshake's details were not published for this connection."


def handshake_text(hs: HandshakeInfo) -> str:
    lines = [
        f"URL:           {hs.url}",
        f"Status:        {hs.status if hs.status is not None else 'unknown'}",
        f"Subprotocol:   {hs.subprotocol or '(none)'}",
        f"Extensions:    {', '.join(hs.extensions) if hs.extensions else '(none)'}",
        f"TLS:           {hs.tls_version or '(none: ws://)'}",
    ]
    if hs.peer_certificate:
        lines.append(f"Certificate:   {hs.peer_certificate}")
    for title, headers in (("Request headers", hs.request_headers),
                           ("Response headers", hs.response_headers)):
        lines += ["", f"{title}:"]
        lines += [f"  {name}: {value}" for name, value in headers] or ["  (none)"]
    return "\n".join(lines)


def row_text(row: ConnectionRow) -> str:
    """Everything known about a connection event, one fact a line."""
    lines = [row.summary]
    state = row.state
    if state is not None:
        lines.append(f"State:         {state.old} → {state.new} (attempt {state.attempt})")
        if state.close_code is not None:
            lines.append(f"Close code:    {describe_close(state.close_code)}")
            lines.append(f"Close reason:  {state.close_reason or '(none)'}")
        if state.error:
            lines.append(f"Error:         {state.error}")
        if state.retry_in is not None:
            lines.append(f"Next attempt:  in {state.retry_in:.1f} s")
    if row.error is not None:
        lines.append(f"Error ({row.error.kind}): {row.error.message}")
    if row.handshake is not None:
        lines += ["", handshake_text(row.handshake)]
    elif row.kind == "open":
        lines += ["", NO_HANDSHAKE]
    return "\n".join(lines)


class HandshakeView(QWidget):
    """`show_row(row, conn_name)` shows a ConnectionRow; None clears it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current: ConnectionRow | None = None
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(monospace())
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.text, 1)

    def show_row(self, row: ConnectionRow | None, conn_name: str = "") -> None:
        self.current = row
        if row is None:
            self.header.setText("")
            self.text.setPlainText("")
            return
        title = "Handshake" if row.handshake is not None else "Connection event"
        name = conn_name or f"#{row.conn_id}"
        self.header.setText(f"{title}  ·  {name}  ·  {clock(row.time)}  ·  {row.kind}")
        self.text.setPlainText(row_text(row))
