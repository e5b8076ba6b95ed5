"""Where the app remembers things between runs (window layout): one INI file in the config dir."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from core.facade import APP_NAME, CONFIG_ENV, config_dir

__all__ = ["APP_NAME", "CONFIG_ENV", "app_settings", "config_dir", "settings_path"]


def settings_path() -> Path:
    return config_dir() / "socketscope.ini"


def app_settings() -> QSettings:
    """A QSettings on the INI file (its directory is created on first use)."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)
