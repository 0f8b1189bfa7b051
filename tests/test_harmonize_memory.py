"""Harmonization is bounded by the size of one case, not by a float copy of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, write_volume

LIMIT_KB = 2 * 1024 * 1024  # 2 GB
# The harmonize CLI in a fresh interpreter that reports its own peak RSS when done. VmHWM, not
# getrusage: Linux carries the forking parent's high-water mark into ru_maxrss across exec, and
# the parent here is a pytest process that has loaded models.
MEASURED = """
import sys
from cosmos_bench.harmonize.arguments import main
try:
    main(sys.argv[1:])
finally:
    status = open("/proc/self/status").read()
    peak = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")][0]
    print("PEAK_KB=" + peak, file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_512x512x600_ct_harmonizes_under_2_gb_peak_rss(tmp_path: Path) -> None:
    """The volume alone is 315 MB (int16); a float64 normalization copy would be 1.26 GB."""
    z, y, x = 600, 512, 512
    image = np.empty((z, y, x), np.int16)
    image[:] = (np.arange(y * x, dtype=np.int32).reshape(y, x) % 2500 - 1000).astype(np.int16)
    labels = np.zeros((z, y, x), np.uint8)
    labels[100:500, 176:336, 120:280] = 1
    labels[200:400, 216:296, 340:420] = 2
    raw = tmp_path / "raw"
    write_volume(image, raw / "imagesTr" / "big_0000.nii", (0.8, 0.8, 1.0))
    write_volume(labels, raw / "labelsTr" / "big.nii", (0.8, 0.8, 1.0))
    del image, labels
    for sub in ("resources", "workflow/schemas"):
        (tmp_path / sub).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-r", str(ROOT / sub), str(tmp_path / sub)], check=True)
    cards = tmp_path / "config" / "datasets"
    cards.mkdir(parents=True)
    (cards / "big.yaml").write_text(
        "id: big\nname: big\nhomepage: none\nlicence: CC0-1.0\ncitation: none\n"
        "source: {path: raw, access: generated}\nmodality: CT\n"
        "format: {adapter: volume-pairs, images: 'imagesTr/*_0000.nii', "
        "labels: 'labelsTr/{case}.nii', case_suffix: _0000}\nlabels: {1: liver, 2: spleen}\n"
    )
    args = ["--root", str(tmp_path), "--dataset", "big", "--raw", str(raw)]
    args += ["--index", str(tmp_path / "i.parquet"), "--shards", str(tmp_path / "shards")]
    run = subprocess.run([sys.executable, "-c", MEASURED, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "400 images, 600 masks" in run.stderr
    peak = int(run.stderr.rsplit("PEAK_KB=", 1)[1].split()[0])
    assert peak < LIMIT_KB, f"peak RSS {peak / 1024:.0f} MB"
