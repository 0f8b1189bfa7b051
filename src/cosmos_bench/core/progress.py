"""Progress where the user looks: the console that runs Snakemake, not only the job's log.

A rule sends the job's stdout and stderr to its log and hands it Snakemake's own stderr as file
descriptor 3 (`3>&2 > {log} 2>&1`). `to_console` writes a line there, at most one per
`interval` seconds per job plus the last one, so an hour-long job says how far it is without
flooding the screen; outside a rule (no descriptor 3) it writes nothing. The job's log keeps
every line. `ByteMeter` is the download's meter, `eta` the one clock format of both.
"""

from __future__ import annotations

import functools
import os
import sys
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


class ByteMeter:
    """A download's progress: bytes, rate and ETA, every `interval` seconds in the job's log
    (stderr) and at the console's own pace on the console."""

    def __init__(self, dataset: str, interval: float = 5.0) -> None:
        self.dataset = dataset
        self.interval = interval
        self.console = Console()
        self.start = self.last = time.monotonic()
        self.baseline = 0

    def begin(self, done: int) -> None:
        """Restart the rate clock: bytes resumed from a .part are not this attempt's speed."""
        self.start = time.monotonic()
        self.baseline = done

    def update(self, done: int, total: int | None) -> None:
        if time.monotonic() - self.last >= self.interval:
            self._emit(done, total)

    def finish(self, done: int, total: int | None) -> None:
        self._emit(done, total, final=True)

    def _emit(self, done: int, total: int | None, *, final: bool = False) -> None:
        now = time.monotonic()
        self.last = now
        rate = (done - self.baseline) / max(now - self.start, 1e-6)
        size = f"{human_bytes(done)} / {human_bytes(total)}" if total else human_bytes(done)
        line = f"[{self.dataset}] {size}  {human_bytes(rate)}/s"
        if final:
            line += "  done"
        elif total and rate > 0:
            line += f"  ETA {eta(done, total, rate)}"
        print(line, file=sys.stderr, flush=True)
        self.console.line(line, final=final)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
