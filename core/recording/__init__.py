"""Recordings: reading them back (reader), and moving them in and out of HAR (har, har_import);
replaying one against a server and comparing the replies (replay, diff)."""

from core.recording.har import export_events_har, export_recording_har
from core.recording.har_import import (
    HarError,
    ImportResult,
    import_har,
    profile_from_har,
    read_har,
)
from core.recording.reader import Recording, RecordingInfo, list_recordings

__all__ = [
    "HarError",
    "ImportResult",
    "Recording",
    "RecordingInfo",
    "export_events_har",
    "export_recording_har",
    "import_har",
    "list_recordings",
    "profile_from_har",
    "read_har",
]
