"""GPU leases: on a workstation, each inference job takes one free GPU and only that one.

Snakemake counts a `gpu` resource (`--resources gpu=4` lets four infer jobs run at once) but
does not say *which* GPU a job may use, so without help every job would pick GPU 0. A job leases
a device by taking an exclusive `flock` on `{lock_dir}/gpu-{id}.lock` and sets
`CUDA_VISIBLE_DEVICES` to it before CUDA starts; the kernel drops the lock when the process
ends, however it ends (kill -9 included), so a lease can never go stale. When every device is
leased the job waits and says so.

Under a scheduler that assigns devices itself (SLURM sets `SLURM_JOB_ID` and
`CUDA_VISIBLE_DEVICES`), no lease is taken. Devices to lease: `COSMOS_GPUS` (comma-separated
ids, e.g. `0,1,2,3`), else every GPU `nvidia-smi` lists, else none (CPU runs take no lease).
`COSMOS_GPU_LOCK_DIR` moves the lock files (default: a per-user folder in the temp dir; point
several users' runs at one shared folder to share GPUs between them).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEVICES_ENV = "COSMOS_GPUS"
LOCK_DIR_ENV = "COSMOS_GPU_LOCK_DIR"
POLL_SECONDS = 2.0


def needs_gpu(entry: dict) -> bool:
    """Whether a model zoo entry is a neural model (it has weights) that runs on a GPU; the
    weight-free baselines run on the CPU and never take or wait for one."""
    return "weights" in entry


def lease_devices() -> list[str]:
    """The device ids this machine's jobs share: COSMOS_GPUS, else nvidia-smi's list."""
    listed = os.environ.get(DEVICES_ENV)
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return done.stdout.split() if done.returncode == 0 else []


def scheduler_assigned() -> bool:
    """True when a batch scheduler already gave this job its devices."""
    return "SLURM_JOB_ID" in os.environ and "CUDA_VISIBLE_DEVICES" in os.environ


def lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"cosmos-bench-gpus-{os.getuid()}"
    return Path(os.environ.get(LOCK_DIR_ENV, default))


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} since {time.time():.3f}\n".encode())
    return fd


@contextmanager
def gpu_lease(
    devices: list[str], directory: Path, poll: float = POLL_SECONDS
) -> Iterator[str | None]:
    """Hold one of `devices` exclusively (None when there are none) with CUDA_VISIBLE_DEVICES
    set to it; wait, with a message, while all are held by other jobs."""
    if not devices:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for device in devices:
            fd = _try_lock(directory / f"gpu-{device}.lock")
            if fd is None:
                continue
            previous = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = device
            print(f"[gpu] leased GPU {device} at {time.time():.3f}", file=sys.stderr, flush=True)
            try:
                yield device
            finally:
                print(f"[gpu] released GPU {device} at {time.time():.3f}", file=sys.stderr,
                      flush=True)  # fmt: skip
                if previous is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if not waited:
            print(f"[gpu] all {len(devices)} GPUs ({','.join(devices)}) are leased by other "
                  f"jobs (locks in {directory}); waiting", file=sys.stderr, flush=True)  # fmt: skip
            waited = True
        time.sleep(poll)


@contextmanager
def job_gpu(device_arg: str) -> Iterator[str | None]:
    """The lease an inference job needs: none on the CPU or under SLURM, else one device."""
    if scheduler_assigned():
        assigned = os.environ["CUDA_VISIBLE_DEVICES"]
        print(f"[gpu] SLURM job {os.environ['SLURM_JOB_ID']}: CUDA_VISIBLE_DEVICES={assigned}",
              file=sys.stderr, flush=True)  # fmt: skip
        yield assigned
        return
    if device_arg not in ("auto", "cuda"):  # the CPU, or a device the user named
        yield None
        return
    with gpu_lease(lease_devices(), lock_dir()) as device:
        yield device
