"""Progress where the user looks: the console that runs Snakemake, not only the job's log.

A rule sends the job's stdout and stderr to its log and hands it Snakemake's own stderr as file
descriptor 3 (`3>&2 > {log} 2>&1`). `to_console` writes a line there, at most one per
`interval` seconds per job plus the last one, so an hour-long job says how far it is without
flooding the screen; outside a rule (no descriptor 3) it writes nothing. The job's log keeps
every line, as before.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TextIO

CONSOLE_FD = 3
INTERVAL = 10.0  # seconds between two console lines of one job


@functools.cache
def _console() -> TextIO | None:
    try:
        return os.fdopen(os.dup(CONSOLE_FD), "w", buffering=1)
    except OSError:  # not run by a rule: the log (stderr) is all there is
        return None


class Console:
    """Throttled progress lines of one job on Snakemake's console."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.last = -float("inf")

    def line(self, text: str, *, final: bool = False) -> None:
        """Write `text` if `interval` seconds have passed since the last line, or if final."""
        now = time.monotonic()
        stream = _console()
        if stream is None or not (final or now - self.last >= self.interval):
            return
        self.last = now
        try:
            stream.write(text + "\n")
        except OSError:  # the console went away (a closed terminal): the log still has it
            pass


def eta(done: float, total: float, rate: float) -> str:
    """Time left as h:mm:ss at `rate` units per second ('?' before the first unit)."""
    if rate <= 0 or done >= total:
        return "0:00:00" if done >= total else "?"
    seconds = int((total - done) / rate)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
