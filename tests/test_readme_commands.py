"""The documentation's commands work as written, in a shell that knows nothing of the venv.

Every `snakemake` and `cosmos-bench` line of a fenced block in README.md, docs/*.md and
config/README.md runs under `env -i` with PATH=/usr/bin:/bin (no `.venv/bin`), from a fresh
copy of the repository: `cosmos-bench` lines for real, `snakemake` lines as dry runs, except the
lines that name a demo dataset's target, which run for real (download, unpack and harmonize of
the demo). Placeholders (`ID`, `[--all]`, a site profile's name) are filled from PLACEHOLDERS.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, copy_workflow
from s3_server import s3_env, s3_server

pytestmark = pytest.mark.e2e

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "config" / "README.md"]
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+ )*(?:\.venv/bin/)?(?:snakemake|cosmos-bench)\s")
ASSIGNMENT = re.compile(r"^([A-Z_]+)=(\S+)$")
#: what a reader types in place of a placeholder
PLACEHOLDERS = {" ID": " demo-endo", "_ID ": "_demo-endo ", "=[ID]": "=[demo-endo]",
                "[--all]": "--all", "~/my-cards": "my-cards"}  # fmt: skip
#: a shell without the venv: the interpreter must come from the commands themselves
BARE_ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every command line of a fenced block, comments and prompts cut."""
    found = []
    for doc in DOCS:
        blocks = re.findall(r"^ *```[a-z]*\n(.*?)^ *```", doc.read_text(), re.M | re.S)
        for block in blocks:
            for line in block.splitlines():
                command = line.split("  #", 1)[0].strip()
                if COMMAND.match(command):
                    for placeholder, value in PLACEHOLDERS.items():
                        command = command.replace(placeholder, value)
                    found.append((doc.relative_to(ROOT).as_posix(), command))
    return found


def test_every_command_names_the_venv() -> None:
    """A bare `snakemake` or `cosmos-bench` runs whatever PATH holds; the docs say which."""
    bare = [(doc, c) for doc, c in documented_commands()
            if not _split(c)[1][0].startswith(".venv/bin/")]  # fmt: skip
    assert bare == []


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the repository with the test's venv as its `.venv`, and the site
    profile that docs/running.md's worked example creates."""
    work = copy_workflow(tmp_path_factory.mktemp("clone"))
    shutil.copytree(ROOT / "profiles", work / "profiles")
    shutil.copytree(ROOT / "profiles" / "slurm", work / "profiles" / "mysite")
    (work / "my-cards").mkdir()  # the README's folder of your own cards
    shutil.copytree(ROOT / "examples", work / "examples")  # the own-model example
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return work


def _split(command: str) -> tuple[dict[str, str], list[str]]:
    """The command's leading VAR=value assignments (its environment) and its argv."""
    argv = shlex.split(command)
    env = {}
    while argv and ASSIGNMENT.match(argv[0]):
        name, value = ASSIGNMENT.match(argv.pop(0)).groups()
        env[name] = value
    return env, argv


def runs_for_real(command: str) -> bool:
    return command.startswith(".venv/bin/cosmos-bench") or bool(
        re.search(r"\b(harmonize|dataset)_demo-", command)
    )


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """The bucket of docs/running.md's S3 example, on a loopback S3 server."""
    with s3_server("my-bucket") as url:
        yield url


@pytest.mark.parametrize(("doc", "command"), documented_commands())
def test_the_documented_command_runs_without_the_venv_on_path(
    clone: Path, s3: str, doc: str, command: str
) -> None:
    env, argv = _split(command)
    if "profiles/s3" in command:  # what the docs export before it, for the loopback server
        env.update(s3_env(s3))
    if not runs_for_real(command):
        argv.insert(1, "--dry-run")
    run = subprocess.run(argv, cwd=clone, env={**BARE_ENV, **env}, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"{doc}: {command}\n{out[-4000:]}"
    assert "No module named" not in out and "Traceback" not in out, out[-4000:]
    for log in (clone / "logs").rglob("*.log"):
        assert "No module named" not in log.read_text(), log
