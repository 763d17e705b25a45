"""A process's ``/proc/PID/stat`` (Linux), read in one place: its state and its start time.

The start time is there from the fork on, unlike the command line, which reads empty for
a moment while a new process is exec'ing; so it is what tells a process from a later one
given the same PID (cutout/gcp/emulators.py), and how old a process is
(worker/segmenters/inspyrenet.py).
"""

from __future__ import annotations

from pathlib import Path

#: Fields 3 and 22 of proc(5), counted from the first field after the command name.
STATE, START_TIME = 0, 19


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (``pid`` may be ``"self"``);
    ``None`` if there is no such process, or no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def start_time(pid: int | str) -> int | None:
    """When process ``pid`` started, in clock ticks since boot; ``None`` if there is none."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[START_TIME])
