"""kill -9 in the middle of a download: the rerun must resume with Range, verify and clean up.

The real CLI (`python -m cosmos_bench.acquire.http`) runs in a subprocess against a slow loopback
host; it is SIGKILLed once its .part holds a seeded-random 10-80 % of the archive, so no Python
cleanup can run, exactly like an OOM kill or a pulled plug.
"""

from __future__ import annotations

import hashlib
import io
import random
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from loopback import Behaviour, serve

pytestmark = pytest.mark.slow  # kill -9 of real processes

SEEDS = (3, 11)
PAUSE = 0.015  # per 64 KiB chunk: 4 MiB takes ~1 s, so the kill lands mid-file
WAIT = 10.0  # bound on every wait, far above the ~1 s a transfer takes
PAYLOAD = random.Random(0).randbytes(4 << 20)  # incompressible, so the archive stays ~4 MiB


def _tgz(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVE = _tgz("case_001/image.raw", PAYLOAD)
SHA = hashlib.sha256(ARCHIVE).hexdigest()


def _cli(url: str, dest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cosmos_bench.acquire.http",
        url,
        str(dest),
        "--dataset",
        "toy",
        "--sha256",
        SHA,
        "--timeout",
        "5",
    ]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wait(condition: Callable[[], bool], limit: float) -> bool:
    """Poll `condition` every 2 ms for at most `limit` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_then_rerun_resumes(tmp_path: Path, seed: int) -> None:
    dest = tmp_path / "toy.tar.gz"
    part = dest.with_name(dest.name + ".part")
    target = int(len(ARCHIVE) * random.Random(seed).uniform(0.1, 0.8))
    with serve({"/toy.tar.gz": ARCHIVE}, behaviour=Behaviour(throttle=PAUSE)) as (url, log):
        proc = subprocess.Popen(
            _cli(f"{url}/toy.tar.gz", dest), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            reached = _wait(lambda: _size(part) >= target or proc.poll() is not None, WAIT)
            proc.send_signal(signal.SIGKILL)
            _out, err = proc.communicate(timeout=WAIT)
        finally:
            proc.kill()  # a no-op once it is dead; never leaves a child behind on failure
        assert reached and proc.returncode == -signal.SIGKILL, err.decode()
        killed_at = _size(part)
        assert not dest.exists()
        assert target <= killed_at < len(ARCHIVE)
        assert ARCHIVE.startswith(part.read_bytes())
        rerun = subprocess.run(
            _cli(f"{url}/toy.tar.gz", dest), capture_output=True, text=True, timeout=WAIT
        )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == SHA
    assert dest.read_bytes() == ARCHIVE
    assert not part.exists()
    assert [(entry.range, entry.status) for entry in log] == [
        (None, 200),
        (f"bytes={killed_at}-", 206),
    ]
    resumed_at = int(log[1].range.removeprefix("bytes=").removesuffix("-"))
    print(
        f"seed {seed}: target {target}, killed at {killed_at} of {len(ARCHIVE)} bytes, "
        f"rerun resumed at {resumed_at}"
    )
