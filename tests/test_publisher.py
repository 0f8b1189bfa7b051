"""Downloads verified by their host's published checksum (acquire.publisher) and by the lab's
lock (acquire.lock), against loopback servers that answer with each API's documented JSON."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, SNAKEMAKE, check, copy_workflow, snakemake, user_env
from loopback import serve

from cosmos_bench.acquire.download import Locked, download
from cosmos_bench.acquire.lock import LOCKFILE, read_lock, read_verification, write_lock
from cosmos_bench.acquire.publisher import api_url, git_blob_id, host_of
from cosmos_bench.acquire.sources import Fetching
from cosmos_bench.catalog.cards import Card
from cosmos_bench.core.errors import ChecksumError, ConfigError, CosmosError

DATA = b"a dataset archive, as its host serves it\n" * 100
COMMIT = "456b293435b25303bbc7995f094f83a0afdff0eb"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def toy(entry: dict) -> Card:
    source = {"access": "open", "checksum": "publisher", "files": [entry]}
    return Card({"id": "toy", "homepage": "https://toy.example", "source": source})


def host(name: str, data: bytes, base: str = "") -> tuple[dict, dict[str, bytes]]:
    """(card entry, served files) for one host: the file, and its API's answer in the shape
    the host documents."""
    if name == "zenodo":  # GET /api/records/{id}: files[] with key and "md5:..." checksum
        answer = {"id": 77, "files": [
            {"key": "other.zip", "size": 3, "checksum": "md5:" + md5(b"abc")},
            {"key": "a.zip", "size": len(data), "checksum": "md5:" + md5(data)}]}  # fmt: skip
        return ({"url": f"{base}/records/77/files/a.zip", "publisher": "zenodo"},
                {"/records/77/files/a.zip": data, "/api/records/77": _j(answer)})  # fmt: skip
    if name == "figshare":  # GET /v2/articles/{id}/files: [{id, name, computed_md5, ...}]
        answer = [{"id": 123, "name": "a.zip", "size": len(data), "computed_md5": md5(data),
                   "supplied_md5": "", "download_url": f"{base}/ndownloader/files/123"}]
        return ({"url": f"{base}/ndownloader/files/123", "filename": "a.zip",
                 "publisher": "figshare", "api": f"{base}/v2/articles/9/files"},
                {"/ndownloader/files/123": data, "/v2/articles/9/files": _j(answer)})  # fmt: skip
    if name == "huggingface":  # GET /api/datasets/{repo}/tree/{rev}/{folder}: lfs.oid = sha256
        answer = [{"type": "file", "path": "images/a.nii.gz", "size": len(data),
                   "oid": git_blob_id(b"pointer"),
                   "lfs": {"oid": sha256(data), "size": len(data), "pointerSize": 134}}]
        url = f"{base}/datasets/org/imaging/resolve/main/images/a.nii.gz"
        return ({"url": url, "publisher": "huggingface"},
                {"/datasets/org/imaging/resolve/main/images/a.nii.gz": data,
                 "/api/datasets/org/imaging/tree/main/images": _j(answer)})  # fmt: skip
    if name == "github":  # GET /repos/{o}/{r}/releases/tags/{tag}: assets[].digest
        answer = {"tag_name": "v1", "assets": [
            {"name": "a.zip", "size": len(data), "digest": "sha256:" + sha256(data)}]}  # fmt: skip
        return ({"url": f"{base}/o/r/releases/download/v1/a.zip", "publisher": "github"},
                {"/o/r/releases/download/v1/a.zip": data,
                 "/repos/o/r/releases/tags/v1": _j(answer)})  # fmt: skip
    if name == "osf":  # GET /v2/files/{id}/: data.attributes.extra.hashes
        answer = {"data": {"id": "abc12", "attributes": {"name": "a.zip", "size": len(data),
                  "extra": {"hashes": {"md5": md5(data), "sha256": sha256(data)}}}}}  # fmt: skip
        return ({"url": f"{base}/abc12/download", "filename": "a.zip", "publisher": "osf",
                 "api": f"{base}/v2/files/abc12/"},
                {"/abc12/download": data, "/v2/files/abc12/": _j(answer)})  # fmt: skip
    raise ValueError(name)


def _j(answer: object) -> bytes:
    return json.dumps(answer).encode()


HOSTS = ("zenodo", "figshare", "huggingface", "github", "osf")


@pytest.mark.parametrize("name", HOSTS)
def test_each_host_verifies_the_file_by_its_published_checksum(tmp_path: Path, name: str) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, log):
        entry, served = host(name, DATA, base)
        files.update(served)
        manifest = download(toy(entry), tmp_path / "d", tmp_path, Fetching(strict=True))
    record = read_verification(tmp_path / "d")
    [(file, got)] = record.items()
    assert got["sha256"] == sha256(DATA) and got["verified"] == [f"publisher:{name}"]
    assert manifest.read_text() == f"{sha256(DATA)}  {file}\n"
    assert log[0].path != log[1].path  # the API asked first, then the file


@pytest.mark.parametrize("name", HOSTS)
def test_a_file_that_differs_from_its_published_checksum_is_refused(
    tmp_path: Path, name: str
) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        entry, served = host(name, DATA, base)
        files.update(served)
        files[next(p for p in served if not p.startswith(("/api", "/v2", "/repos")))] = b"x" + DATA
        with pytest.raises(ChecksumError) as err:
            download(toy(entry), tmp_path / "d", tmp_path)
    assert (md5(DATA) in str(err.value)) or (sha256(DATA) in str(err.value))
    assert not (tmp_path / "d" / "SHA256SUMS").exists()
    assert [p.name for p in (tmp_path / "d").rglob("*") if p.is_file()] == []


def test_an_unreachable_api_fails_under_strict_and_warns_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        entry, served = host("zenodo", DATA, base)
        files["/records/77/files/a.zip"] = DATA  # the file, but no API answer (404)
        with pytest.raises(CosmosError, match="checksum API did not answer") as err:
            download(toy(entry), tmp_path / "d", tmp_path, Fetching(strict=True))
        assert "strict_checksums" in err.value.fix
        download(toy(entry), tmp_path / "d", tmp_path)
    assert "not verified" in capsys.readouterr().err
    assert read_verification(tmp_path / "d")["a.zip"]["verified"] == ["none"]


def test_a_commit_archive_is_checked_member_by_member_against_the_commit_tree(
    tmp_path: Path,
) -> None:
    members = {"README.md": b"kits\n", "data/case_00000/segmentation.nii.gz": DATA}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path, data in members.items():
            zf.writestr(f"kits19-{COMMIT}/{path}", data)
    tree = {"sha": COMMIT, "truncated": False, "tree": [
        {"path": "README.md", "type": "blob", "sha": git_blob_id(members["README.md"])},
        {"path": "data", "type": "tree", "sha": "0" * 40},
        {"path": "data/case_00000", "type": "tree", "sha": "1" * 40},
        {"path": "data/case_00000/segmentation.nii.gz", "type": "blob",
         "sha": git_blob_id(DATA)}]}  # fmt: skip
    files = {f"/neheller/kits19/archive/{COMMIT}.zip": buffer.getvalue(),
             f"/repos/neheller/kits19/git/trees/{COMMIT}?recursive=1": _j(tree)}  # fmt: skip
    with serve(files) as (base, _):
        entry = {"url": f"{base}/neheller/kits19/archive/{COMMIT}.zip", "publisher": "github"}
        download(toy(entry), tmp_path / "d", tmp_path, Fetching(strict=True))
        assert read_verification(tmp_path / "d")[f"{COMMIT}.zip"]["verified"] == [
            "publisher:github"]  # fmt: skip
        tree["tree"][-1]["sha"] = git_blob_id(b"another annotation")
        files[f"/repos/neheller/kits19/git/trees/{COMMIT}?recursive=1"] = _j(tree)
        with pytest.raises(ChecksumError, match="segmentation.nii.gz"):
            download(toy(entry), tmp_path / "e", tmp_path)
    assert not (tmp_path / "e" / f"{COMMIT}.zip").exists()


def test_the_lockfile_default_is_the_config_schemas() -> None:
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    assert schema["properties"]["lockfile"]["default"] == LOCKFILE


def test_git_blob_ids_are_gits() -> None:
    assert git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # `git hash-object`
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_api_urls_are_derived_from_the_real_hosts_download_urls() -> None:
    cases = {
        "https://zenodo.org/records/4662239/files/crossmoda_training.zip":
            "https://zenodo.org/api/records/4662239",
        "https://huggingface.co/datasets/neheller/KiTS-Challenge-Imaging/resolve/main/images/"
        "case_00000.nii.gz":
            "https://huggingface.co/api/datasets/neheller/KiTS-Challenge-Imaging/tree/main/images",
        "https://huggingface.co/wanglab/medsam-vit-base/resolve/main/medsam_vit_b.pth":
            "https://huggingface.co/api/models/wanglab/medsam-vit-base/tree/main",
        "https://github.com/o/r/releases/download/v1.0/w.pt":
            "https://api.github.com/repos/o/r/releases/tags/v1.0",
        f"https://github.com/neheller/kits19/archive/{COMMIT}.zip":
            f"https://api.github.com/repos/neheller/kits19/git/trees/{COMMIT}?recursive=1",
        "https://osf.io/download/t98fz/": "https://api.osf.io/v2/files/t98fz/",
    }  # fmt: skip
    for url, api in cases.items():
        entry = {"url": url}
        assert api_url(entry, host_of(entry)) == api
    with pytest.raises(CosmosError, match="api:"):  # a branch archive is no fixed commit
        api_url({"url": "https://github.com/o/r/archive/refs/heads/master.zip"}, "github")


def test_a_lock_catches_a_publisher_that_changed_the_file_after_it(tmp_path: Path) -> None:
    """The host replaces the file and its published md5 together: publisher verification
    passes, the lock does not, and the error names the file and both hashes."""
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        entry, served = host("zenodo", DATA, base)
        files.update(served)
        download(toy(entry), tmp_path / "results" / "downloads" / "toy", tmp_path)
        lockfile = tmp_path / "datasets.lock"
        assert write_lock(lockfile, tmp_path / "results") == {"toy": 1}
        locked = read_lock(lockfile)["toy"]
        assert locked["a.zip"]["sha256"] == sha256(DATA)
        _, changed = host("zenodo", b"v2 " + DATA, base)
        files.update(changed)
        again = Locked(locked, str(lockfile))
        with pytest.raises(ChecksumError) as err:
            download(toy(entry), tmp_path / "later", tmp_path, Fetching(strict=True), again)
    message = str(err.value)
    assert "a.zip" in message and sha256(DATA) in message and sha256(b"v2 " + DATA) in message
    assert "datasets.lock" in message and "datasets lock" in err.value.fix
    assert not (tmp_path / "later" / "a.zip").exists()


def test_strict_accepts_a_locked_file_and_refuses_an_unverified_one(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(DATA)
    plain = Card({"id": "toy", "homepage": "https://toy.example",
                  "source": {"access": "open", "url": "file:a.zip"}})  # fmt: skip
    with pytest.raises(ConfigError, match="no pin, publisher checksum or lock covers a.zip"):
        download(plain, tmp_path / "d", tmp_path, Fetching(strict=True))
    lock = Locked({"a.zip": {"sha256": sha256(DATA), "date": "2026-12-07"}})
    download(plain, tmp_path / "d", tmp_path, Fetching(strict=True), lock)
    assert read_verification(tmp_path / "d")["a.zip"]["verified"] == ["lock"]


def test_the_lockfile_keeps_other_datasets_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    lockfile = tmp_path / "datasets.lock"
    lockfile.write_text(yaml.safe_dump({"version": 1, "datasets": {"other": {"b.zip": {}}}}))
    (tmp_path / "a.zip").write_bytes(DATA)
    plain = Card({"id": "toy", "homepage": "https://toy.example",
                  "source": {"access": "open", "url": "file:a.zip"}})  # fmt: skip
    download(plain, tmp_path / "results" / "downloads" / "toy", tmp_path)
    write_lock(lockfile, tmp_path / "results")
    assert set(read_lock(lockfile)) == {"other", "toy"}
    with pytest.raises(ConfigError, match="no verified download of nothing-here"):
        write_lock(lockfile, tmp_path / "results", ["nothing-here"])
    lockfile.write_text("datasets: []\n")
    with pytest.raises(ConfigError, match="not a cosmos-bench datasets lock"):
        read_lock(lockfile)


@pytest.mark.e2e
def test_the_workflow_downloads_locks_and_refuses_a_changed_source(tmp_path: Path) -> None:
    """The real `snakemake` and `cosmos-bench` on a card served by a loopback Zenodo: the
    download verifies by the record's md5 under strict_checksums; `datasets lock` locks it;
    locking reruns nothing; the host then replaces the file and its md5, and the forced rerun
    stops, naming the file, both hashes and the lock."""
    work = copy_workflow(tmp_path)
    data = (ROOT / "resources" / "demo" / "demo-endo.zip").read_bytes()
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        entry, served = host("zenodo", data, base)
        files.update(served)
        card = yaml.safe_load((ROOT / "config" / "datasets" / "demo-endo.yaml").read_text())
        card["id"] = "zen-endo"
        card["source"] = {"url": entry["url"], "publisher": "zenodo", "checksum": "publisher",
                          "access": "open"}  # fmt: skip
        (work / "my-cards").mkdir()
        (work / "my-cards" / "zen-endo.yaml").write_text(yaml.safe_dump(card))
        target = "results/downloads/zen-endo/SHA256SUMS"
        config = ("--config", "datasets=[zen-endo]", "cards_dirs=[my-cards]",
                  "strict_checksums=True")  # fmt: skip
        check(snakemake(work, target, *config))
        record = json.loads((work / "results/downloads/zen-endo/VERIFIED.json").read_text())
        assert record["files"]["a.zip"]["verified"] == ["publisher:zenodo"]
        locking = subprocess.run([str(Path(SNAKEMAKE).with_name("cosmos-bench")), "datasets",
                                  "lock"], cwd=work, env=user_env(), capture_output=True,
                                 text=True)  # fmt: skip
        assert locking.returncode == 0, locking.stderr
        assert "1 files of 1 datasets locked" in locking.stdout
        assert read_lock(work / "datasets.lock")["zen-endo"]["a.zip"]["sha256"] == sha256(data)
        dry = snakemake(work, target, *config, "--dry-run")
        assert "Nothing to be done" in dry.stdout + dry.stderr
        _, changed = host("zenodo", b"v2 " + data, base)
        files.update(changed)
        run = snakemake(work, target, *config, "--forcerun", "download")
    assert run.returncode != 0
    log = (work / "logs" / "download" / "zen-endo.log").read_text()
    assert "a.zip" in log and sha256(data) in log and sha256(b"v2 " + data) in log
    assert "datasets.lock" in log
