"""kill -9 at any moment of harmonization leaves nothing a rerun could take for a result, and
the rerun gives byte-identical shards and index."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, phantom, write_volume

pytestmark = pytest.mark.slow  # kill -9 of real processes

CARD = """id: killme
name: kill test
homepage: none
licence: CC0-1.0
citation: none
modality: CT
source: {path: raw, access: generated}
format: {adapter: volume-pairs, images: "imagesTr/*_0000.nii.gz", labels: "labelsTr/{case}.nii.gz",
         case_suffix: _0000}
labels: {1: liver, 2: lesion}
"""


def digests(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def command(root: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "cosmos_bench.harmonize", "--dataset", "killme",
        "--raw", str(root / "raw"), "--index", str(out / "index.parquet"),
        "--shards", str(out / "shards"), "--images-per-shard", "4", "--root", str(root),
    ]  # fmt: skip


def test_kill_at_any_moment_then_rerun_is_byte_identical(tmp_path: Path) -> None:
    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    (tmp_path / "config" / "datasets" / "killme.yaml").write_text(CARD)
    for k in range(6):
        image, labels = phantom((24, 160, 160), seed=k)
        write_volume(image, tmp_path / "raw" / "imagesTr" / f"c{k}_0000.nii.gz", (0.8, 0.8, 3.0))
        write_volume(labels, tmp_path / "raw" / "labelsTr" / f"c{k}.nii.gz", (0.8, 0.8, 3.0))
    reference = tmp_path / "reference"
    start = time.perf_counter()
    subprocess.run(command(tmp_path, reference), check=True, capture_output=True)
    duration = time.perf_counter() - start
    expected = digests(reference)
    assert "index.parquet" in expected and len(expected) > 8

    out = tmp_path / "killed"
    partial_states = 0
    # kill right after the k-th case was reported (mid-shard, mid-dataset, before the index),
    # then at fixed delays past the start (imports, late cases, the final renames)
    for when in ("case 1", "case 3", "case 5", 0.7 * duration, 0.97 * duration):
        proc = subprocess.Popen(command(tmp_path, out), stderr=subprocess.PIPE, text=True)
        if isinstance(when, str):
            seen = 0
            for line in proc.stderr:
                seen += " case " in line
                if seen == int(when.split()[1]):
                    break
        else:
            time.sleep(when)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        left = digests(out) if out.exists() else {}
        # either the run had finished (everything identical) or there is no index at all
        assert left == expected or "index.parquet" not in left, when
        partial_states += any(name.startswith("shards.partial/") for name in left)
    assert partial_states >= 3
    subprocess.run(command(tmp_path, out), check=True, capture_output=True)
    assert digests(out) == expected
