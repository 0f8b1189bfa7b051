"""Resume after kill -9: twenty kills of the whole local run (snakemake and its jobs) at random
moments inside download, unpack, harmonize, infer and score jobs; each rerun continues where
the last stopped, and the final score tables equal the uninterrupted demo run's (conftest.demo_run)
byte for byte."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from base64 import urlsafe_b64decode
from pathlib import Path

import pytest
from helpers import SNAKEMAKE, check, copy_workflow, same_scores, snakemake, user_env

pytestmark = pytest.mark.e2e

# weight-free models keep each attempt short; four images per shard give three infer and
# three score jobs per model to land in
SELECTION_YAML = """datasets: [demo-endo]
models: [otsu-box, grabcut]
harmonize: {images_per_shard: 4}
"""
SELECTION = ("--configfile", "resume.yaml")
STAGES = {  # output folder -> stage
    "results/downloads/": "download",
    "results/raw/": "unpack",
    "results/harmonized/": "harmonize",
    "results/predictions/": "infer",
    "results/scores/": "score",
}
# kills per stage (20 in all); the moment inside the running job is random. A stage that has
# finished cannot be struck again, so its unused kills pass to the next stage.
PLAN = {"download": 4, "unpack": 2, "harmonize": 4, "infer": 5, "score": 5}
ORDER = list(PLAN)


def running_stages(work: Path) -> set[str]:
    """Stages of the jobs Snakemake has marked incomplete, i.e. running now."""
    stages = set()
    for marker in (work / ".snakemake" / "incomplete").glob("*"):
        try:
            output = urlsafe_b64decode(marker.name.encode()).decode()
        except ValueError:
            continue
        stages |= {stage for prefix, stage in STAGES.items() if output.startswith(prefix)}
    return stages


def test_twenty_kills_then_the_run_completes_byte_identical(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The reference demo run is asked for at the end, so the kills run while another worker
    may still be making it."""
    work = copy_workflow(tmp_path)
    (work / "resume.yaml").write_text(SELECTION_YAML)
    rng = random.Random(20)
    struck, quota = [], dict(PLAN)
    while sum(quota.values()):
        target = next(stage for stage in ORDER if quota[stage])
        ahead = set(ORDER[ORDER.index(target) :])
        # a lock the killed run may have left: removed as `snakemake --unlock` removes it,
        # without parsing the workflow twenty times
        shutil.rmtree(work / ".snakemake" / "locks", ignore_errors=True)
        proc = subprocess.Popen(
            [SNAKEMAKE, "--cores", "2", *SELECTION],
            cwd=work, env=user_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 240
        while not (running := running_stages(work) & ahead) and proc.poll() is None:
            assert time.monotonic() < deadline, f"no {target} job started"
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before kill {len(struck) + 1} ({target})"
        stage = min(running, key=ORDER.index)
        for skipped in ORDER[ORDER.index(target) : ORDER.index(stage)]:  # finished before
            quota[ORDER[ORDER.index(skipped) + 1]] += quota[skipped]
            quota[skipped] = 0
        time.sleep(rng.uniform(0.0, 0.8))  # a random moment of the job (or of the next one)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        quota[stage] -= 1
        struck.append(stage)

    check(snakemake(work, "--unlock"))  # as a user would after a kill, if locks were left

    assert len(struck) == 20
    assert {"download", "harmonize", "infer", "score"} <= set(struck), struck
    print("kills by stage:", {stage: struck.count(stage) for stage in ORDER})
    check(snakemake(work, *SELECTION))
    leftovers = [p for p in (work / "results").rglob("*") if p.name.endswith((".tmp", ".partial"))]
    assert leftovers == []
    assert len(same_scores(work, request.getfixturevalue("demo_run"), "demo-endo")) == 2
    assert (work / "results" / "report" / "index.html").exists()
