"""The workflow on an object store: the S3 profile (`--default-storage-provider s3`,
snakemake-storage-plugin-s3) against moto's S3 server on loopback. Every file a job reads or
writes goes through its declared inputs and outputs, so the demo run entirely in the bucket
gives the local demo's tables byte for byte, and a second invocation finds its checkpoints'
shards from the bucket alone."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, check, copy_workflow, snakemake
from s3_server import client, s3_env, s3_server

pytestmark = pytest.mark.e2e

BUCKET, PREFIX = "cosmos", "demo"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


def cloud(work: Path, url: str, *args: str):
    """`snakemake --profile profiles/s3` as docs/running.md has it: the bucket named on the
    command line, credentials and the endpoint in the environment."""
    if not (work / "profiles" / "s3").exists():
        shutil.copytree(ROOT / "profiles" / "s3", work / "profiles" / "s3")
    prefix = f"s3://{BUCKET}/{PREFIX}"
    return snakemake(
        work, "--profile", "profiles/s3", "--default-storage-prefix", prefix, *args, env=s3_env(url)
    )


def bucket(url: str) -> dict[str, bytes]:
    """Every object under the run's prefix, by its path in the run."""
    return {
        item.key.removeprefix(f"{PREFIX}/"): item.get()["Body"].read()
        for item in client(url, "resource").Bucket(BUCKET).objects.filter(Prefix=f"{PREFIX}/")
    }


def test_the_demo_in_a_bucket_gives_the_local_tables(
    demo_run: Path, endpoint: str, tmp_path: Path
) -> None:
    work = copy_workflow(tmp_path)
    check(cloud(work, endpoint))
    stored = bucket(endpoint)
    local = sorted((demo_run / "results" / "tables").glob("*.csv"))
    assert len(local) >= 20
    for table in local:
        assert stored[f"results/tables/{table.name}"] == table.read_bytes(), table.name
    # what the cloud run's jobs handed each other went through the bucket, not this folder
    assert "results/downloads/demo-ct/files/demo-ct.tar.gz" in stored
    assert any(k.startswith("results/harmonized/demo-ct/shards/shard-") for k in stored)
    assert any(k.startswith("benchmarks/runs/infer/litemedsam/") for k in stored)
    assert not (work / "results").exists()
    # the report's stage times come from the jobs' benchmark files, handed over as inputs
    html = stored["results/report/index.html"].decode()
    assert "Wall time per stage" in html and "infer (" in html
    # a second invocation plans nothing: the checkpoints' shards are read from the bucket
    again = cloud(work, endpoint, "-n")
    check(again)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
    # the indexes it read to list the shards were fetched for that and removed; the jobs' logs
    # keep a local copy besides the bucket's
    left = [p for p in (work / ".snakemake" / "storage").rglob("*") if p.is_file()]
    assert left and all("/logs/" in p.as_posix() for p in left), left


def test_a_local_folder_source_is_refused_before_any_job(endpoint: str, tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    (work / "mine").mkdir()
    card = (work / "config" / "datasets" / "demo-endo.yaml").read_text()
    folder = re.sub(r"source:\n(  .*\n)+", "source:\n  path: mine\n  access: generated\n", card)
    (work / "config" / "datasets" / "mine.yaml").write_text(
        folder.replace("id: demo-endo", "id: mine")
    )
    run = cloud(work, endpoint, "-n", "--config", "datasets=[mine]")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "datasets mine read a local folder (source.path)" in out, out[-3000:]
    assert "without --default-storage-provider" in out
