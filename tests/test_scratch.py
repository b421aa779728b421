"""Where the throwaway clusters' folders go (tests/scratch.py): in memory when it has room, else the
usual temporary folder."""

from __future__ import annotations

import tempfile

from tests import scratch


def test_a_folder_with_room_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "MEMORY", tmp_path)
    monkeypatch.setattr(scratch, "MEMORY_ROOM_NEEDED", 1)
    made = scratch.scratch_dir("x-")
    assert made.parent == tmp_path and made.is_dir() and not any(made.iterdir())


def test_without_room_or_without_the_folder_the_usual_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "MEMORY", tmp_path)
    monkeypatch.setattr(scratch, "MEMORY_ROOM_NEEDED", 1 << 62)
    assert scratch.memory_root() is None
    monkeypatch.setattr(scratch, "MEMORY", tmp_path / "missing")
    monkeypatch.setattr(scratch, "MEMORY_ROOM_NEEDED", 1)
    assert scratch.memory_root() is None
    made = scratch.scratch_dir("x-")
    try:
        assert str(made.parent) == tempfile.gettempdir()
    finally:
        made.rmdir()
