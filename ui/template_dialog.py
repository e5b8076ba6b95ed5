"""The composer's protocol templates: each decoder's `templates()` in the Templates menu (the
target connection's own protocol first), a form with one field per {{placeholder}}, and the
frames `encode()` makes from it: a text frame is loaded into the editor, a binary one as hex;
several frames (or text the editor cannot hold, like STOMP's NUL) are sent at once. So nobody
types `421[…]` or MQTT bytes by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QWidget,
)

from core.decoders.api import Decoder, Outgoing
from core.facade import Commands
from ui import theme
from ui.decoded_feed import registry
from ui.templates import DEFAULTS, placeholders

if TYPE_CHECKING:
    from ui.composer_panel import ComposerPanel


class TemplateDialog(QDialog):
    """One field per placeholder; OK encodes, and a value the decoder refuses is said here
    (the dialog stays open, nothing typed is lost)."""

    def __init__(self, decoder: Decoder, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decoder, self.template = decoder, title
        self.frames: Sequence[Outgoing] = ()
        self.setWindowTitle(f"{decoder.title}: {title}")
        form = QFormLayout(self)
        self.fields: dict[str, QLineEdit] = {}
        for name in placeholders(decoder.templates()[title]):
            edit = self.fields[name] = QLineEdit(DEFAULTS.get(name, ""))
            edit.setMinimumWidth(260)
            form.addRow(f"{name}:", edit)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(theme.style("error_plain"))
        self.error.hide()
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, Any]:
        return {name: edit.text() for name, edit in self.fields.items()}

    def accept(self) -> None:
        try:
            self.frames = self.decoder.encode(self.template, self.values())
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        super().accept()


class ProtocolTemplates(QObject):
    """Adds the decoders' templates to the composer's Templates menu each time it opens (a child
    of the composer: its tick connection goes with it)."""

    def __init__(self, composer: ComposerPanel) -> None:
        super().__init__(composer)
        self.menu: QMenu = composer.template_menu
        self.added: list[Any] = []  # the menu entries added at the last opening
        self.others: QMenu | None = None
        self.menu.aboutToShow.connect(self.rebuild)

    @property
    def composer(self) -> ComposerPanel:
        """The parent (not held: a Python reference would keep its wrapper alive after it is
        deleted)."""
        return self.parent()  # type: ignore[return-value]

    def target_decoder(self) -> Decoder | None:
        """The decoder of the first target as its protocol layer has it now (detected or chosen
        by the user; kept after a close), asked when the menu opens."""
        targets = self.composer.targets()
        name = self.composer.bridge.protocol_of(targets[0]) if targets else None
        return registry().get(name) if name else None

    def rebuild(self) -> None:
        for entry in self.added:
            self.menu.removeAction(entry)
        self.added = []
        if self.others is not None:
            self.others.deleteLater()
        own = self.target_decoder()
        if own is not None and own.templates():
            self.added.append(self.menu.addSection(own.title))
            for title in own.templates():
                self.added.append(self._action(self.menu, own, title))
        others = self.others = QMenu("Other protocols", self.menu)
        for decoder in registry().decoders:
            if decoder is own or not decoder.templates():
                continue
            sub = others.addMenu(decoder.title)
            for title in decoder.templates():
                self._action(sub, decoder, title)
        self.added.append(self.menu.addSeparator())
        self.added.append(self.menu.addMenu(others))

    def _action(self, menu: QMenu, decoder: Decoder, title: str) -> Any:
        action = menu.addAction(title)
        action.setToolTip(decoder.templates()[title])
        action.triggered.connect(lambda _=False, d=decoder, t=title: self.open(d, t))
        return action

    def open(self, decoder: Decoder, title: str, values: Mapping[str, str] | None = None) -> bool:
        """Asks for the placeholders (or takes `values`: no dialog), then loads or sends."""
        dialog = TemplateDialog(decoder, title, self.composer)
        try:
            for name, value in (values or {}).items():
                dialog.fields[name].setText(value)
            if values is not None:
                dialog.accept()
            else:
                dialog.exec()
            if dialog.result() != QDialog.DialogCode.Accepted:
                if dialog.error.text():
                    self.composer.status.setText(f"{title}: {dialog.error.text()}")
                    self.composer.status.show()
                return False
            self.use(dialog.frames)
            return True
        finally:
            dialog.deleteLater()

    def use(self, frames: Sequence[Outgoing]) -> None:
        from ui.composer_text import MODE_HEX, MODE_TEXT

        if len(frames) == 1 and frames[0].text and b"\x00" not in frames[0].payload:
            self.composer.load(frames[0].payload.decode("utf-8"), MODE_TEXT)
        elif len(frames) == 1 and not frames[0].text:
            self.composer.load(frames[0].payload.hex(" "), MODE_HEX)
        else:
            targets = self.composer.targets()
            commands = self.composer.bridge.commands
            self.composer.bridge.run(send_all(commands, targets, frames), "send template")


async def send_all(commands: Commands, targets: Sequence[int],
                   frames: Sequence[Outgoing]) -> None:
    """Each frame to each target, in order."""
    for conn_id in targets:
        for out in frames:
            await commands.send(conn_id, out.payload, text=out.text)
