"""Where the app remembers things between runs (window layout): one INI file in the config dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

APP_NAME = "SocketScope"
CONFIG_ENV = "SOCKETSCOPE_CONFIG_DIR"  # tests point it at a temporary directory


def config_dir() -> Path:
    """$SOCKETSCOPE_CONFIG_DIR when set, else the platform's user config dir for SocketScope."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "socketscope.ini"


def app_settings() -> QSettings:
    """A QSettings on the INI file (its directory is created on first use)."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)
