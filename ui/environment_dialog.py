"""Edit the workspace's environments: variables with a "secret" box whose values are masked.

A secret's value is never shown: the field is empty with a note when one is kept (in the keyring
or, without one, in memory for this launch); typing replaces it, leaving it empty keeps it.
Edits are made on a copy, applied by OK."""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.facade import Environment, SecretStore, Variable, variable_key
from ui import theme

KEPT = "•••••• kept; type to replace"
HINT = ("Use {{name}} in URLs, headers, tokens and messages. Values may be ${env:NAME} (read from "
        "the process environment). Secret values go to the OS keyring, never into the file.")


class EnvironmentDialog(QDialog):
    """After accept(), `result_environments` holds the edited environments."""

    def __init__(self, environments: list[Environment], secrets: SecretStore | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Environments")
        self.setObjectName("EnvironmentDialog")
        self.secrets = secrets
        self.environments = copy.deepcopy(environments)
        self.result_environments: list[Environment] | None = None
        self._current = -1
        self.env_list = QListWidget()
        self.env_list.currentRowChanged.connect(self._switch)
        self.env_list.itemChanged.connect(self._renamed)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Variable", "Value", "Secret"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        left = QVBoxLayout()
        left.addWidget(self.env_list, 1)
        left.addLayout(_buttons(("Add", self.add_environment), ("Delete", self.delete_environment)))
        right = QVBoxLayout()
        right.addWidget(self.table, 1)
        right.addLayout(_buttons(("Add variable", lambda: self.add_variable(Variable(""))),
                                 ("Remove", self.remove_variable)))
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 3)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        hint.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label = QLabel()
        self.error_label.setStyleSheet(theme.style("error"))
        self.error_label.setVisible(False)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(hint)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        for env in self.environments:
            self._list_item(env.name)
        if self.environments:
            self.env_list.setCurrentRow(0)
        self.resize(640, 400)

    # ----- environments ------------------------------------------------------------------------

    def _list_item(self, name: str) -> None:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self.env_list.addItem(item)

    def add_environment(self, name: str = "") -> Environment:
        taken = {e.name for e in self.environments}
        n = len(taken) + 1
        while not name or name in taken:
            name, n = f"Environment {n}", n + 1
        env = Environment(name, [])
        self.environments.append(env)
        self._list_item(name)
        self.env_list.setCurrentRow(len(self.environments) - 1)
        return env

    def delete_environment(self) -> None:
        row = self.env_list.currentRow()
        if row < 0:
            return
        self._current = -1  # its table is not kept
        del self.environments[row]
        self.env_list.takeItem(row)

    def _renamed(self, item: QListWidgetItem) -> None:
        row = self.env_list.row(item)
        name = item.text().strip()
        if 0 <= row < len(self.environments):
            taken = {e.name for i, e in enumerate(self.environments) if i != row}
            if name and name not in taken:
                self.environments[row].name = name
            else:
                item.setText(self.environments[row].name)

    def _switch(self, row: int) -> None:
        self._commit()
        self._current = row
        self.table.setRowCount(0)
        if 0 <= row < len(self.environments):
            for variable in self.environments[row].variables:
                self.add_variable(variable)

    # ----- variables ---------------------------------------------------------------------------

    def add_variable(self, variable: Variable) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(variable.name))
        value = QLineEdit(variable.value)
        secret = QCheckBox()
        secret.toggled.connect(lambda on, edit=value: _mask(edit, on, ""))
        secret.setChecked(variable.secret)
        _mask(value, variable.secret, KEPT if self._kept(variable) else "")
        self.table.setCellWidget(row, 1, value)
        self.table.setCellWidget(row, 2, secret)

    def _kept(self, variable: Variable) -> bool:
        if not variable.secret or self.secrets is None or self._current < 0:
            return False
        env = self.environments[self._current].name
        peek = getattr(self.secrets, "peek", self.secrets.get)
        return peek(variable_key(env, variable.name)) is not None

    def remove_variable(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.rowCount():
            rows = [self.table.currentRow() if self.table.currentRow() >= 0
                    else self.table.rowCount() - 1]
        for row in rows:
            self.table.removeRow(row)

    def variables(self) -> list[Variable]:
        out = []
        for row in range(self.table.rowCount()):
            name_item = self.table.item(row, 0)
            value = self.table.cellWidget(row, 1)
            secret = self.table.cellWidget(row, 2)
            name = name_item.text().strip() if name_item else ""
            if name and isinstance(value, QLineEdit) and isinstance(secret, QCheckBox):
                out.append(Variable(name, value.text(), secret.isChecked()))
        return out

    def _commit(self) -> None:
        if 0 <= self._current < len(self.environments):
            self.environments[self._current].variables = self.variables()

    def error(self) -> str | None:
        for env in self.environments:
            names = [v.name for v in env.variables]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                return f"{env.name}: the variable {dupes[0]!r} is defined twice"
            bad = [n for n in names if n.startswith("$") or any(c in n for c in "{} ")]
            if bad:
                return f"{env.name}: {bad[0]!r} is not a usable variable name"
        return None

    def accept(self) -> None:
        self._commit()
        problem = self.error()
        if problem:
            self.error_label.setText(problem)
            self.error_label.setVisible(True)
            return
        self.result_environments = self.environments
        super().accept()


def _mask(edit: QLineEdit, secret: bool, placeholder: str) -> None:
    edit.setEchoMode(QLineEdit.EchoMode.Password if secret else QLineEdit.EchoMode.Normal)
    if placeholder or not secret:
        edit.setPlaceholderText(placeholder)


def _buttons(*specs: tuple[str, object]) -> QHBoxLayout:
    row = QHBoxLayout()
    for text, slot in specs:
        button = QPushButton(text)
        button.clicked.connect(lambda _=False, s=slot: s())
        row.addWidget(button)
    row.addStretch(1)
    return row
