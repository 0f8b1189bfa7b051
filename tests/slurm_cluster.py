"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd on this machine.

The config goes to SLURM's default path (/etc/slurm/slurm.conf): the plugin's inner `srun`
drops SLURM_CONF, so a config elsewhere would not be found. Any file found there is moved
aside and put back on stop; state, spool and logs live in a temporary folder. Two fake GPUs
(`gres/gpu` backed by /dev/null and /dev/zero) let GPU jobs request and receive devices.
Needs root and Debian's slurm-wlm and munge (`make system-deps`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONF_DIR = Path("/etc/slurm")
PLACED = ("slurm.conf", "gres.conf")
SBIN = ("/usr/sbin", "/usr/bin")
PARTITION = "debug"


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([*SBIN, os.environ.get("PATH", "")]))


def missing() -> list[str]:
    """What this machine lacks to run the cluster (empty: it can)."""
    needs = [n for n in ("munged", "slurmctld", "slurmd", "sbatch", "squeue") if not _which(n)]
    if os.geteuid() != 0:
        needs.append("root (slurmd runs jobs as their users)")
    return needs


def _slurm_conf(host: str, state: Path, cpus: int, memory_mb: int) -> str:
    return f"""# written by cosmos-bench tests/slurm_cluster.py; removed when the test ends
ClusterName=cosmostest
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={state}/state
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=300
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={memory_mb} Gres=gpu:2 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """Start with `start()`, always `stop()` (a context manager does both)."""

    def __init__(self, state: Path, memory_mb: int = 16000) -> None:
        self.state = state
        self.memory_mb = memory_mb
        self.host = socket.gethostname().split(".")[0]
        self.backup = state / "backup"
        self.daemons: list[subprocess.Popen] = []
        self.munged: subprocess.Popen | None = None

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _place_config(self) -> None:
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        self.backup.mkdir(parents=True, exist_ok=True)
        for name in PLACED:
            if (CONF_DIR / name).exists():
                shutil.move(CONF_DIR / name, self.backup / name)
        cpus = os.cpu_count() or 1
        (CONF_DIR / "slurm.conf").write_text(
            _slurm_conf(self.host, self.state, cpus, self.memory_mb)
        )
        (CONF_DIR / "gres.conf").write_text(
            f"NodeName={self.host} Name=gpu File=/dev/null\n"
            f"NodeName={self.host} Name=gpu File=/dev/zero\n"
        )

    def _start_munge(self) -> None:
        if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
            return  # the machine's own munged serves us
        run = Path("/run/munge")
        run.mkdir(parents=True, exist_ok=True)
        shutil.chown(run, "munge", "munge")
        log = open(self.state / "munged.out", "wb")  # noqa: SIM115 - lives with the daemon
        self.munged = subprocess.Popen(
            ["runuser", "-u", "munge", "--", _which("munged"), "-F"], stdout=log, stderr=log
        )
        for _ in range(50):
            if (run / "munge.socket.2").exists():
                return
            time.sleep(0.1)
        raise RuntimeError("munged did not start (no /run/munge/munge.socket.2)")

    def start(self) -> None:
        (self.state / "state").mkdir(parents=True, exist_ok=True)
        (self.state / "spool").mkdir(parents=True, exist_ok=True)
        self._place_config()
        self._start_munge()
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.state / f"{daemon}.out", "wb")  # noqa: SIM115 - lives with the daemon
            self.daemons.append(
                subprocess.Popen([_which(daemon), "-D"], stdout=log, stderr=subprocess.STDOUT)
            )
            time.sleep(1.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.sinfo()
            if state.startswith("idle"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle (sinfo: {self.sinfo()!r}); "
                           f"see {self.state}/slurmctld.log and slurmd.log")  # fmt: skip

    def sinfo(self) -> str:
        done = subprocess.run(
            [_which("sinfo"), "-h", "-o", "%T"], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    def squeue(self) -> list[dict[str, str]]:
        """Jobs in the queue: id, name, state, comment (the plugin puts the rule there)."""
        done = subprocess.run(
            [_which("squeue"), "-h", "-o", "%i|%j|%T|%k"], capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        rows = [line.split("|", 3) for line in done.stdout.splitlines() if line.strip()]
        return [dict(zip(("id", "name", "state", "comment"), r, strict=True)) for r in rows]

    def scancel(self, job_id: str) -> None:
        subprocess.run([_which("scancel"), job_id], check=True)

    def stop(self) -> None:
        subprocess.run([_which("scancel"), "--user", "root"], capture_output=True, check=False)
        for proc in reversed(self.daemons):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self.munged:
            self.munged.terminate()
            self.munged.wait(timeout=10)
        for name in PLACED:
            (CONF_DIR / name).unlink(missing_ok=True)
            if (self.backup / name).exists():
                shutil.move(self.backup / name, CONF_DIR / name)
