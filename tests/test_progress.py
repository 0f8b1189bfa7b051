"""Progress on the console: jobs write throttled lines to descriptor 3, which the rules open on
Snakemake's console; the whole run's console is checked in tests/test_workflow.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cosmos_bench.core.progress import eta


def test_console_progress_is_throttled_and_goes_to_descriptor_3(tmp_path: Path) -> None:
    """A job started by a rule gets Snakemake's console as descriptor 3: at most one line per
    interval, and the final line always; without descriptor 3 nothing is written."""
    script = (
        "from cosmos_bench.core.progress import Console\n"
        "c = Console(interval=3600)\n"
        "for i in range(5): c.line(f'step {i}')\n"
        "c.line('done', final=True)\n"
    )
    log = tmp_path / "job.log"
    rule = 'exec "$0" -c "$1" 3>&2 > "$2" 2>&1'  # as the rules run a job
    run = subprocess.run(["bash", "-c", rule, sys.executable, script, str(log)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0 and run.stderr.splitlines() == ["step 0", "done"]
    alone = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert alone.returncode == 0 and alone.stdout == b"" and alone.stderr == b""


def test_eta_counts_down_and_knows_when_it_cannot_tell() -> None:
    assert eta(30, 90, 2.0) == "0:00:30" and eta(0, 10, 0.0) == "?"
    assert eta(10, 10, 1.0) == "0:00:00" and eta(0, 7200, 1.0) == "2:00:00"
