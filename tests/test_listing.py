"""Sources listed by their host's API at download time (acquire.listing): an OSF folder walked
through its sub-folders and pages, a figshare article page by page, each file verified by the
hash the listing gives, against loopback servers answering in each API's documented shape."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from loopback import serve

from cosmos_bench.acquire import listing
from cosmos_bench.acquire.download import download
from cosmos_bench.acquire.lock import read_verification
from cosmos_bench.acquire.sources import Fetching
from cosmos_bench.acquire.unpack import unpack_source
from cosmos_bench.catalog.cards import Card
from cosmos_bench.core.errors import ChecksumError, CosmosError

CT, MASK = b"a CT volume, gzipped NIfTI bytes\n" * 50, b"its vertebra mask\n" * 40
NODE, FOLDER = "abcde", "5ffca086e80d370320a594cc"
OSF = {"https://api.osf.io/": "{base}/"}  # the real API's prefix, mirrored to the loopback


def card(listings: list[dict]) -> Card:
    source = {"access": "open", "checksum": "publisher", "listings": listings}
    return Card({"id": "toy", "homepage": "https://toy.example", "source": source})


def osf_file(base: str, file_id: str, name: str, data: bytes) -> dict:
    """A file item as /v2/nodes/{node}/files/osfstorage/{folder}/ lists it."""
    hashes = {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
    return {"id": file_id, "type": "files",
            "attributes": {"kind": "file", "name": name, "size": len(data),
                           "extra": {"hashes": hashes}},
            "links": {"download": f"{base}/download/{file_id}/"}}  # fmt: skip


def osf_folder(base: str, folder_id: str, name: str) -> dict:
    href = f"https://api.osf.io/v2/nodes/{NODE}/files/osfstorage/{folder_id}/"
    return {"id": folder_id, "type": "files", "attributes": {"kind": "folder", "name": name},
            "relationships": {"files": {"links": {"related": {"href": href}}}}}  # fmt: skip


def osf_server(base: str) -> dict[str, bytes]:
    """A folder holding `rawdata/sub-1/` (the CT), `derivatives/sub-1/` (the mask) and a
    preview, listed over two pages; the files' own download links."""
    root = f"/v2/nodes/{NODE}/files/osfstorage/{FOLDER}/"
    page = lambda data, following=None: json.dumps(  # noqa: E731
        {"data": data, "links": {"next": following}}).encode()  # fmt: skip
    sub = "0" * 23 + "{}"
    return {
        root: page([osf_folder(base, sub.format(1), "rawdata")],
                   f"https://api.osf.io{root}?page=2"),
        root + "?page=2": page([osf_folder(base, sub.format(2), "derivatives"),
                                osf_file(base, "prev1", "sub-1_snp.png", b"png")]),
        f"/v2/nodes/{NODE}/files/osfstorage/{sub.format(1)}/":
            page([osf_folder(base, sub.format(3), "sub-1")]),
        f"/v2/nodes/{NODE}/files/osfstorage/{sub.format(3)}/":
            page([osf_file(base, "ct001", "sub-1_ct.nii.gz", CT)]),
        f"/v2/nodes/{NODE}/files/osfstorage/{sub.format(2)}/":
            page([osf_folder(base, sub.format(4), "sub-1")]),
        f"/v2/nodes/{NODE}/files/osfstorage/{sub.format(4)}/":
            page([osf_file(base, "msk01", "sub-1_seg-vert_msk.nii.gz", MASK)]),
        "/download/ct001/": CT,
        "/download/msk01/": MASK,
        "/download/prev1/": b"png",
    }  # fmt: skip


OSF_LISTING = {"osf": f"{NODE}/{FOLDER}", "into": "dataset-19training",
               "include": ["*_ct.nii.gz", "*_seg-vert_msk.nii.gz"]}  # fmt: skip


def test_an_osf_folder_is_walked_and_every_file_verified_by_its_listed_sha256(
    tmp_path: Path,
) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, log):
        files.update(osf_server(base))
        mirrors = {k: v.format(base=base) for k, v in OSF.items()}
        toy = card([OSF_LISTING])
        download(toy, tmp_path / "d", tmp_path, Fetching(mirrors, strict=True))
    assert toy.verified and toy.checksum == "publisher"
    record = read_verification(tmp_path / "d")
    ct = "dataset-19training/rawdata/sub-1/sub-1_ct.nii.gz"
    mask = "dataset-19training/derivatives/sub-1/sub-1_seg-vert_msk.nii.gz"
    assert sorted(record) == sorted([ct, mask])  # the preview left out by `include`
    assert all(r["verified"] == ["publisher:osf"] for r in record.values())
    assert record[ct]["sha256"] == hashlib.sha256(CT).hexdigest()
    assert not any("/v2/files/" in r.path for r in log)  # the listing's hashes, no call per file
    unpack_source(toy, tmp_path / "d" / "SHA256SUMS", tmp_path / "raw", tmp_path)
    assert (tmp_path / "raw" / ct).read_bytes() == CT  # a .nii.gz is copied, not gunzipped
    assert (tmp_path / "raw" / mask).read_bytes() == MASK


def test_a_listed_file_that_differs_from_its_listed_hash_is_refused(tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        files.update(osf_server(base))
        files["/download/msk01/"] = MASK + b"x"
        mirrors = {k: v.format(base=base) for k, v in OSF.items()}
        with pytest.raises(ChecksumError, match=hashlib.sha256(MASK).hexdigest()):
            download(card([OSF_LISTING]), tmp_path / "d", tmp_path, Fetching(mirrors))
    assert not (tmp_path / "d" / "SHA256SUMS").exists()


def test_a_figshare_article_is_read_page_by_page_and_its_zip_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "FIGSHARE_PAGE", 1)  # one file per page: three pages
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("human/p01/lge.nrrd", b"nrrd")
    zipped = archive.getvalue()

    def item(base: str, file_id: int, name: str, data: bytes) -> dict:
        return {"id": file_id, "name": name, "size": len(data), "supplied_md5": "",
                "computed_md5": hashlib.md5(data).hexdigest(),
                "download_url": f"{base}/ndownloader/files/{file_id}"}  # fmt: skip

    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        pages = [[item(base, 6875637, "LVscar.zip", zipped)], [item(base, 8, "notes.csv", b"a")]]
        for k, answer in enumerate([*pages, []], 1):
            files[f"/v2/articles/4214622/files?page_size=1&page={k}"] = json.dumps(answer).encode()
        files["/ndownloader/files/6875637"], files["/ndownloader/files/8"] = zipped, b"a"
        toy = card([{"figshare": 4214622}])
        mirrors = {"https://api.figshare.com/": f"{base}/"}
        download(toy, tmp_path / "d", tmp_path, Fetching(mirrors, strict=True))
    record = read_verification(tmp_path / "d")
    assert sorted(record) == ["LVscar.zip", "notes.csv"]
    assert all(r["verified"] == ["publisher:figshare"] for r in record.values())
    unpack_source(toy, tmp_path / "d" / "SHA256SUMS", tmp_path / "raw", tmp_path)
    assert (tmp_path / "raw" / "human" / "p01" / "lge.nrrd").read_bytes() == b"nrrd"


def test_a_listed_name_that_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        bad = [{"id": 1, "name": "../escape.zip", "computed_md5": "0" * 32,
                "download_url": f"{base}/ndownloader/files/1"}]  # fmt: skip
        files["/v2/articles/5/files?page_size=1000&page=1"] = json.dumps(bad).encode()
        mirrors = {"https://api.figshare.com/": f"{base}/"}
        with pytest.raises(CosmosError, match="would leave the download folder"):
            download(card([{"figshare": 5}]), tmp_path / "d", tmp_path, Fetching(mirrors))
    assert not (tmp_path / "escape.zip").exists()


def test_a_listed_file_unpacks_into_its_own_folder_even_a_hidden_one() -> None:
    from cosmos_bench.acquire.unpack import sub_folder

    assert sub_folder("LVscar.zip") == ""
    assert (
        sub_folder("dataset-19training/rawdata/sub-1/x.nii.gz")
        == "dataset-19training/rawdata/sub-1"
    )
    assert sub_folder(".meta/x.csv") == ".meta"  # not "meta"


def test_a_listing_answer_of_another_shape_is_an_error_that_names_it(tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        files[f"/v2/nodes/{NODE}/files/osfstorage/{FOLDER}/"] = b'{"errors": [{"detail": "x"}]}'
        mirrors = {k: v.format(base=base) for k, v in OSF.items()}
        with pytest.raises(CosmosError, match="listing failed.*lacks 'data'"):
            download(card([OSF_LISTING]), tmp_path / "d", tmp_path, Fetching(mirrors))


@pytest.mark.e2e
def test_the_workflow_harmonizes_a_dataset_its_host_lists(tmp_path: Path) -> None:
    """The real `snakemake`: a card whose source is a figshare item (the demo endoscopy zip
    as its one file), the API mirrored to the loopback host by the config's `mirrors`, strict
    checksums: listed, downloaded, verified by the listed md5, unpacked and harmonized."""
    import yaml
    from helpers import ROOT, check, copy_workflow, snakemake

    work = copy_workflow(tmp_path)
    data = (ROOT / "resources" / "demo" / "demo-endo.zip").read_bytes()
    files: dict[str, bytes] = {}
    with serve(files) as (base, _):
        item = {"id": 77, "name": "demo-endo.zip", "computed_md5": hashlib.md5(data).hexdigest(),
                "download_url": f"{base}/ndownloader/files/77"}  # fmt: skip
        files["/v2/articles/99/files?page_size=1000&page=1"] = json.dumps([item]).encode()
        files["/ndownloader/files/77"] = data
        card = yaml.safe_load((ROOT / "config" / "datasets" / "demo-endo.yaml").read_text())
        card["id"] = "fig-endo"
        card["source"] = {"listings": [{"figshare": 99}], "access": "open"}
        (work / "my-cards").mkdir()
        (work / "my-cards" / "fig-endo.yaml").write_text(yaml.safe_dump(card))
        config = {"datasets": ["fig-endo"], "cards_dirs": ["my-cards"], "strict_checksums": True,
                  "mirrors": {"https://api.figshare.com/": f"{base}/"}}  # fmt: skip
        (work / "mine.yaml").write_text(yaml.safe_dump(config))
        check(snakemake(work, "harmonize_fig-endo", "--configfile", "mine.yaml"))
    record = read_verification(work / "results" / "downloads" / "fig-endo")
    assert record["demo-endo.zip"]["verified"] == ["publisher:figshare"]
    assert (work / "results" / "harmonized" / "fig-endo" / "index.parquet").exists()
