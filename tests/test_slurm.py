"""The demo through profiles/slurm on a real single-node SLURM cluster (slurm_cluster.py).

Every job but the local `all` goes through sbatch; the LiteMedSAM infer job requests a GPU
(--gpus=1 on the fake gres) and receives it; a job killed once is retried by the profile's
`retries`; a job cancelled with scancel reruns on the next invocation; and the results equal a
local run's byte for byte (the shared demo run's scores of the same dataset, conftest.demo_run,
asked for at the end so that the cluster runs while another worker may still be making it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import ROOT, SNAKEMAKE, copy_workflow, same_scores, user_env
from slurm_cluster import Cluster, missing

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]

SELECTION = ("--config", "datasets=[demo-endo]", "models=[litemedsam,otsu-box]")
# this cluster has no accounting database: squeue for job states, quick first status check
LOCAL_CLUSTER = (
    "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
    "--slurm-keep-successful-logs", "--latency-wait", "5",
)  # fmt: skip


def _slurm_run(work: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [SNAKEMAKE, "--profile", "profiles/slurm", *LOCAL_CLUSTER,
         *SELECTION, *extra],
        cwd=work, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _same_results(work: Path, reference: Path) -> None:
    """The cluster's scores of the demo's endoscopy set equal the local demo run's, per shard
    (the same sharding) and gathered."""
    assert len(same_scores(work, reference, "demo-endo")) == 2
    shards = sorted((work / "results" / "scores").glob("*/demo-endo/shard-*.parquet"))
    assert len(shards) == 2
    for shard in shards:
        assert shard.read_bytes() == (reference / shard.relative_to(work)).read_bytes(), shard


def _runs_in(pid: int, work: Path) -> bool:
    """Whether a process works in `work` (another test's job with the same command line, on
    the other test worker, is not this test's to kill)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(work)
    except OSError:  # it ended meanwhile
        return False


def _kill_once(pattern: str, work: Path, stop: threading.Event, killed: list[int]) -> None:
    """The transient fault: SIGKILL the first process of this run matching `pattern`, once."""
    while not stop.is_set() and not killed:
        done = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        pids = [int(p) for p in done.stdout.split() if _runs_in(int(p), work)]
        if pids:
            time.sleep(1.0)  # let it load the model: the failure comes mid-job
            subprocess.run(["kill", "-9", *map(str, pids)], check=False)
            killed.extend(pids)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    lacking = missing()
    if lacking:
        pytest.fail(f"the SLURM tests need {', '.join(lacking)}: run `make system-deps` as root")
    with Cluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running
    assert not (Path("/etc/slurm") / "slurm.conf").exists() or (
        "cosmos-bench tests" not in (Path("/etc/slurm") / "slurm.conf").read_text()
    )


@pytest.fixture(scope="module")
def slurm_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("cluster"))
    shutil.copytree(ROOT / "profiles", work / "profiles")
    return work


def test_the_demo_runs_through_the_slurm_profile(
    cluster: Cluster, slurm_work: Path, request: pytest.FixtureRequest
) -> None:
    stop, killed = threading.Event(), []
    fault = threading.Thread(
        target=_kill_once,
        args=("cosmos_bench.infer --model litemedsam", slurm_work, stop, killed),
    )
    fault.start()
    proc = _slurm_run(slurm_work)
    out, _ = proc.communicate(timeout=1500)
    stop.set()
    fault.join()
    assert proc.returncode == 0, out[-8000:]
    assert killed, "the infer job was never seen running"

    # every job but the local `all` was submitted with sbatch, the killed one twice
    logs = slurm_work / "logs" / "slurm"
    rules = {p.name.removeprefix("rule_") for p in logs.iterdir()}
    assert rules == {"download", "unpack", "harmonize", "weights", "infer", "score",
                     "gather_scores", "gallery", "provenance",
                     "report"}  # fmt: skip
    submitted = out.count("has been submitted with SLURM jobid")
    assert submitted == len(list(logs.rglob("*.log")))
    lite = list((logs / "rule_infer").glob("litemedsam*/*.log"))
    assert len(lite) == 2, "the killed infer job was not retried"
    assert "Trying to restart job" in out or "retry" in out.lower()

    # the GPU rule asked for and got a device; the weight-free baseline asked for none
    infer_logs = slurm_work / "logs" / "infer"
    assert "[gpu] SLURM job" in (infer_logs / "litemedsam/demo-endo/shard-00000.log").read_text()
    assert "[gpu]" not in (infer_logs / "otsu-box/demo-endo/shard-00000.log").read_text()

    _same_results(slurm_work, request.getfixturevalue("demo_run"))


def test_a_job_cancelled_with_scancel_reruns_next_time(
    cluster: Cluster, slurm_work: Path, request: pytest.FixtureRequest
) -> None:
    proc = _slurm_run(slurm_work, "--forcerun", "report", "--retries", "0")
    cancelled = None
    deadline = time.monotonic() + 300
    while cancelled is None and time.monotonic() < deadline and proc.poll() is None:
        for job in cluster.squeue():
            if "rule_report" in job["comment"] and job["state"] in ("RUNNING", "PENDING"):
                cluster.scancel(job["id"])
                cancelled = job["id"]
        time.sleep(0.3)
    out, _ = proc.communicate(timeout=600)
    assert cancelled, "the report job was never seen in the queue"
    assert proc.returncode != 0, "snakemake did not notice the cancelled job"

    rerun = _slurm_run(slurm_work)
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out[-8000:]
    assert "rule report:" in out
    _same_results(slurm_work, request.getfixturevalue("demo_run"))
