"""GPU leases with fake device ids: real flock between real processes, no GPU needed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cosmos_bench.core.gpu import gpu_lease, job_gpu


def _hold(devices: list[str], directory: str, seconds: float, queue) -> None:
    with gpu_lease(devices, Path(directory), poll=0.05) as device:
        start = time.monotonic()
        visible = os.environ["CUDA_VISIBLE_DEVICES"]
        time.sleep(seconds)
        queue.put((device, visible, start, time.monotonic()))


def test_no_two_jobs_ever_hold_one_device(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_hold, args=(["0", "1", "2"], str(tmp_path), 0.4, queue))
        for _ in range(7)
    ]
    for w in workers:
        w.start()
    held = [queue.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert all(device == visible for device, visible, *_ in held)
    assert {device for device, *_ in held} == {"0", "1", "2"}
    for device in "012":
        spans = sorted((s, e) for d, _, s, e in held if d == device)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"GPU {device} held twice at once"


def test_a_killed_job_frees_its_device(tmp_path: Path) -> None:
    """kill -9 while holding: the kernel drops the flock, the next job gets the device."""
    code = (
        "import sys, time; from pathlib import Path; from cosmos_bench.core.gpu import gpu_lease\n"
        f"with gpu_lease(['7'], Path({str(tmp_path)!r})):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    start = time.monotonic()
    with gpu_lease(["7"], tmp_path, poll=0.05) as device:
        assert device == "7"
    assert time.monotonic() - start < 2


def test_waiting_job_says_so_and_gets_the_device_when_freed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with gpu_lease(["0"], tmp_path):
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        waiter = ctx.Process(target=_hold, args=(["0"], str(tmp_path), 0.0, queue))
        waiter.start()
        time.sleep(0.5)
        assert queue.empty()  # still waiting
    device, *_ = queue.get(timeout=10)
    waiter.join(timeout=10)
    assert device == "0"
    assert "[gpu] leased GPU 0" in capsys.readouterr().err


def test_no_lease_on_the_cpu_or_under_slurm(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("COSMOS_GPUS", "0,1")
    monkeypatch.setenv("COSMOS_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with job_gpu("cpu") as device:
        assert device is None
    with job_gpu("auto") as device:
        assert device == "0" and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with job_gpu("auto") as device:
        assert device == "3"
    assert not (tmp_path / "gpu-3.lock").exists()
    monkeypatch.setenv("COSMOS_GPUS", "")
    monkeypatch.delenv("SLURM_JOB_ID")
    with job_gpu("auto") as device:  # no devices: a CPU run
        assert device is None
