"""Recordings: reading them back (reader), and moving them in and out of other formats."""

from core.recording.reader import Recording, RecordingInfo, list_recordings

__all__ = ["Recording", "RecordingInfo", "list_recordings"]
