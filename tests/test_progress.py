"""Progress on the console: jobs write throttled lines to descriptor 3, which the rules open on
Snakemake's console; the whole run's console is checked in tests/test_workflow.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import phantom, write_volume

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


def test_harmonize_says_case_k_of_n_with_slices_per_second(tiny_root: Path) -> None:
    """The harmonize job's console line counts source cases against the number the card's
    pattern lists, before any file is read; the last line says how many slices were kept."""
    image, labels = phantom(seed=1)
    write_volume(image, tiny_root / "raw" / "imagesTr" / "c2_0000.nii.gz", (0.8, 0.8, 3.0))
    write_volume(labels, tiny_root / "raw" / "labelsTr" / "c2.nii.gz", (0.8, 0.8, 3.0))
    job = ('exec "$0" -m cosmos_bench.harmonize --root "$1" --dataset tiny --raw "$1/raw" '
           '--index "$1/index.parquet" --shards "$1/shards" 3>&2 > "$1/job.log" 2>&1')  # fmt: skip
    run = subprocess.run(["bash", "-c", job, sys.executable, str(tiny_root)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, (tiny_root / "job.log").read_text()[-2000:]
    first, *_, last = run.stderr.splitlines()
    assert re.fullmatch(r"\[tiny\] harmonize: case 1/2 \(c1\), \d+ slices, [\d.]+ slices/s, "
                        r"ETA \d:\d\d:\d\d", first), first  # fmt: skip
    assert re.fullmatch(r"\[tiny\] harmonize: 2 cases, \d+ slices, done", last), last
