"""Shared fixtures: a workflow folder with one tiny NIfTI dataset, and the end-to-end runs that
the e2e tests share (docs/testing.md says which test reads which run).

The shared runs are made once per session (once for both pytest-xdist workers), when the first
test that needs one asks for it. Tests read them; a test that adds jobs works on its own copy
(`helpers.copy_run`), so no test sees another's changes.
"""

from __future__ import annotations

import os

# The tests' own OpenMP threads (torch in the model and engine tests) sleep while they wait
# instead of spinning: the suite's two workers share two cores, and a spinning thread takes its
# core from the other worker (two LiteMedSAM encoders side by side: 33 s spinning, 21 s
# sleeping). libgomp reads this when torch loads it, so it is set before any test imports torch,
# and the workers inherit it. The workflow's jobs get the same (helpers.user_env).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock
from helpers import (
    ROOT,
    TINY_CARD,
    check,
    copy_workflow,
    phantom,
    realdata_workflow,
    snakemake,
    write_volume,
)
from hypothesis import settings

#: the tiers in the order `make test`'s workers take them: the module that makes the shared
#: demo run first (the longest chain: demo, then the studies on it), then the other long ones
# property tests are checked on their answers, not their speed: on two shared cores under the
# end-to-end tests' load, Hypothesis' 200 ms deadline fails examples that take 0.1 ms alone
settings.register_profile("shared-cores", deadline=None)
settings.load_profile("shared-cores")

TIER_ORDER = ("demo_run", "slurm", "realdata", "e2e", "slow")


def tier(item: pytest.Item) -> int:
    """Where an item's module goes in the queue (TIER_ORDER, fast tests last)."""
    if "demo_run" in item.fixturenames:
        return 0
    marks = {mark.name for mark in item.iter_markers()}
    return next((k for k, name in enumerate(TIER_ORDER) if name in marks), len(TIER_ORDER))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two workers (pytest-xdist, `--dist loadscope`): each module runs on one,
    so its module fixtures (a real network, a SLURM cluster, a study run) are built once. The
    modules are queued longest first (`--no-loadscope-reorder` keeps this order), so the shared
    demo run and the studies on it start at once instead of after hundreds of unit tests."""
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        rank[module] = min(rank.get(module, len(TIER_ORDER)), tier(item))
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


def shared_run(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A run made once for the whole session: under xdist the first worker to ask builds it in
    the session's common temporary folder while the others wait on its lock, then read it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        work = factory.mktemp(name)
        build(work)
        return work
    common = factory.getbasetemp().parent  # this session's folder, above the workers' own
    work = common / name
    failed = common / f"{name}.failed"
    with FileLock(common / f"{name}.lock"):
        if failed.exists():
            pytest.fail(f"the shared {name} run failed in another worker:\n{failed.read_text()}")
        if not (common / f"{name}.built").exists():
            shutil.rmtree(work, ignore_errors=True)  # a worker that died mid-build
            work.mkdir()
            try:
                build(work)
            except BaseException as exc:
                failed.write_text(str(exc)[-4000:])
                raise
            (common / f"{name}.built").touch()
    return work


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A workflow folder with the real ontology, models and schemas and one tiny NIfTI card."""
    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    image, labels = phantom()
    raw = tmp_path / "raw"
    write_volume(image, raw / "imagesTr" / "c1_0000.nii.gz", (0.8, 0.8, 3.0))
    write_volume(labels, raw / "labelsTr" / "c1.nii.gz", (0.8, 0.8, 3.0))
    (tmp_path / "config" / "datasets" / "tiny.yaml").write_text(TINY_CARD)
    return tmp_path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make demo`'s run (both demo datasets, every default model and strategy, the report):
    the one full demo of the suite, whose numbers the README quotes, and the reference that the
    kill and SLURM runs must equal (helpers.same_scores)."""

    def build(work: Path) -> None:
        copy_workflow(work)
        run = snakemake(work)
        check(run)
        (work / "console.txt").write_text(run.stdout + run.stderr)  # what the user saw

    return shared_run(tmp_path_factory, "demo", build)


@pytest.fixture(scope="session")
def realct_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LiteMedSAM with the tight box (S5) through the workflow on the real CT lesions
    (../shared/realdata/medsam2-recist-ct): the acceptance run and the project's side of the
    comparison with LiteMedSAM's official inference."""

    def build(work: Path) -> None:
        realdata_workflow(work, "medsam2-recist-ct")
        check(snakemake(work, "--config", "datasets=[medsam2-recist-ct]", "models=[litemedsam]",
                        "strategies=[S5]"))  # fmt: skip

    return shared_run(tmp_path_factory, "realct", build)


@pytest.fixture(scope="module")
def two_threads():
    """Torch on two threads for a module of model tests (the suite's two workers share the
    cores), restored after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)
