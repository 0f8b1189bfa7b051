"""Per-dataset targets: `harmonize_<id>` stops after harmonization, a target of a dataset outside
`datasets` says how to add it (the printed fix plans when typed), and a local source folder is
read again when its files change."""

from __future__ import annotations

import re
import shlex
import zipfile

import cv2
import pandas as pd
import pytest
from helpers import TINY_CARD, check, copy_workflow, phantom, snakemake, write_volume

pytestmark = pytest.mark.e2e


def _rules(run) -> set[str]:
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\S+):$", run.stdout, re.M))


def test_harmonize_target_plans_download_unpack_and_harmonize_only(tmp_path) -> None:
    work = copy_workflow(tmp_path)
    rules = _rules(snakemake(work, "--dry-run", "harmonize_demo-endo"))
    assert rules == {"download", "unpack", "harmonize", "harmonize_demo-endo"}


def test_a_target_outside_the_datasets_prints_the_fix_that_plans_it(tmp_path) -> None:
    work = copy_workflow(tmp_path)
    for target in ("harmonize_kvasir-seg", "results/harmonized/kvasir-seg/index.parquet"):
        run = snakemake(work, "--dry-run", target)
        out = run.stdout + run.stderr
        assert run.returncode != 0 and "KeyError" not in out
        assert "'kvasir-seg' is not in this run's datasets" in out, out[-2000:]
        fix = re.search(r"add it: (--config \S+)", out).group(1)
        assert fix == "--config datasets=[demo-ct,demo-endo,kvasir-seg]"
        assert "download" in _rules(snakemake(work, "--dry-run", target, *shlex.split(fix)))


def test_a_local_source_folder_is_read_again_when_its_files_change(tmp_path) -> None:
    """Your own data in a folder, its card in your own cards folder (`cards_dirs`, outside the
    workflow): a case added, a file changed or a case removed reruns the download (the mirror)
    and harmonization; nothing else about the folder does."""
    (tmp_path / "work").mkdir()
    work = copy_workflow(tmp_path / "work")
    folder, cards = tmp_path / "mydata", tmp_path / "mycards"
    card = TINY_CARD.replace('source: {url: "file:tiny.tar.gz", access: generated}',
                             f"source: {{path: {folder}, access: generated}}")  # fmt: skip
    cards.mkdir()
    (cards / "tiny.yaml").write_text(card)

    def add_case(name: str, seed: int) -> None:
        image, labels = phantom(seed=seed)
        write_volume(image, folder / "imagesTr" / f"{name}_0000.nii.gz", (0.8, 0.8, 3.0))
        write_volume(labels, folder / "labelsTr" / f"{name}.nii.gz", (0.8, 0.8, 3.0))

    def cases() -> set[str]:
        import pandas as pd

        index = pd.read_parquet(work / "results" / "harmonized" / "tiny" / "index.parquet")
        return set(index.case)

    run = ("harmonize_tiny", "--config", "datasets=[tiny]", f"cards_dirs=[{cards}]")
    add_case("c1", 0)
    check(snakemake(work, *run))
    assert cases() == {"c1"}
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(work, "-n", *run))
    add_case("c2", 1)
    check(snakemake(work, *run))
    assert cases() == {"c1", "c2"}
    for path in folder.rglob("c1*"):
        path.unlink()
    check(snakemake(work, *run))
    assert cases() == {"c2"}


def _corrupt_member(archive: bytes) -> bytes:
    """The archive at full length with one member's compressed bytes damaged."""
    damaged = bytearray(archive)
    at = damaged.find(b"demo_endo_003.jpg") + 200  # inside that member's data
    damaged[at : at + 2] = bytes(b ^ 0xFF for b in damaged[at : at + 2])
    return bytes(damaged)


def test_a_damaged_archive_is_never_kept_and_the_printed_fix_recovers(tmp_path) -> None:
    """An unpinned archive truncated, then one with a corrupt member: unpacking fails, the
    archive and its download record are removed, and the message says to run the same command
    again. Typed as printed, it fetches anew: the same failure while the source is damaged (the
    message names it), success once the source is good."""
    (tmp_path / "work").mkdir()
    work = copy_workflow(tmp_path / "work")
    good = (work / "resources" / "demo" / "demo-endo.zip").read_bytes()
    source = tmp_path / "mine.zip"
    card = (work / "config" / "datasets" / "demo-endo.yaml").read_text()
    card = card.replace("id: demo-endo", "id: mine").replace(
        "  url: file:resources/demo/demo-endo.zip\n  sha256: ", f"  url: file:{source}\n  #: "
    )
    (work / "config" / "datasets" / "mine.yaml").write_text(card)
    command = ("harmonize_mine", "--config", "datasets=[mine]")
    for damaged in (good[: len(good) // 2], _corrupt_member(good)):  # the fix typed while damaged
        source.write_bytes(damaged)
        run = snakemake(work, *command)
        out = run.stdout + run.stderr
        assert run.returncode != 0 and "corrupt or truncated" in out, out[-3000:]
        assert "run the same command again" in out and str(source) in out
        assert not (work / "results" / "downloads" / "mine" / "SHA256SUMS").exists()
        assert not (work / "results" / "downloads" / "mine" / "files" / "mine.zip").exists()
    source.write_bytes(good)
    check(snakemake(work, *command))
    assert (work / "results" / "harmonized" / "mine" / "index.parquet").exists()


def test_a_bad_file_in_your_folder_stops_with_the_card_fix_that_works(tmp_path) -> None:
    """Your own folder with a text file named .jpg and a mask of the wrong size: each stops
    harmonize naming the source file and `format.exclude`; written into the card as printed,
    the next run goes on, and the last one succeeds."""
    (tmp_path / "work").mkdir()
    work = copy_workflow(tmp_path / "work")
    folder = tmp_path / "mydata"
    with zipfile.ZipFile(work / "resources" / "demo" / "demo-endo.zip") as archive:
        archive.extractall(folder)
    images = folder / "Kvasir-SEG-demo" / "images"
    (images / "demo_endo_001.jpg").write_text("<html>Sign in to download</html>")
    mask = folder / "Kvasir-SEG-demo" / "masks" / "demo_endo_002.jpg"
    small = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)[::2, ::2]
    cv2.imwrite(str(mask), small)
    card_path = work / "config" / "datasets" / "mine.yaml"
    card = (work / "config" / "datasets" / "demo-endo.yaml").read_text()
    card = card.replace("id: demo-endo", "id: mine").replace(
        "  url: file:resources/demo/demo-endo.zip\n  sha256: ", f"  path: {folder}\n  #: "
    )
    card_path.write_text(card)
    command = ("harmonize_mine", "--config", "datasets=[mine]")
    for bad in ("demo_endo_001", "demo_endo_002"):
        run = snakemake(work, *command)
        log = (work / "logs" / "harmonize" / "mine.log").read_text()
        assert run.returncode != 0 and "format.exclude" in log, log[-3000:]
        assert str(folder / "Kvasir-SEG-demo") in log  # the source file, not results/raw
        assert f"case {bad}" in log or f"{bad}.jpg" in log, log[-3000:]
        card = card_path.read_text()
        threshold = "  mask_threshold: 128\n"
        card = (card.replace("exclude: [", f"exclude: [{bad}, ") if "exclude:" in card
                else card.replace(threshold, f"{threshold}  exclude: [{bad}]\n"))  # fmt: skip
        card_path.write_text(card)
    check(snakemake(work, *command))
    index = pd.read_parquet(work / "results" / "harmonized" / "mine" / "index.parquet")
    assert not {"demo_endo_001", "demo_endo_002"} & set(index.case) and len(set(index.case)) > 1


def test_case_jobs_split_a_dataset_over_share_jobs_whose_merge_equals_one_job(tmp_path) -> None:
    """harmonize.case_jobs: three share jobs, planned without listing a case, merged into the
    same masks, images and index rows as one job's (shard and row numbers aside); the shares'
    own files are temporary, and the merged output is complete for a rerun."""
    from cosmos_bench.store.index import read_index
    from cosmos_bench.store.shards import ShardReader

    split = ["--config", "harmonize={case_jobs: {demo-ct: 3}}"]
    runs = {}
    for name, extra in (("one", []), ("split", split)):
        (tmp_path / name).mkdir()
        work = copy_workflow(tmp_path / name)
        planned = _rules(snakemake(work, "--dry-run", "harmonize_demo-ct", *extra))
        assert ("harmonize_share" in planned) == bool(extra)
        check(snakemake(work, "harmonize_demo-ct", *extra))
        runs[name] = work / "results" / "harmonized" / "demo-ct"
    assert not (runs["split"] / "shares").exists()
    timings = tmp_path / "split" / "benchmarks" / "runs" / "harmonize" / "demo-ct"
    assert len(list(timings.glob("share-*.tsv"))) == 3
    again = snakemake(tmp_path / "split", "--dry-run", "harmonize_demo-ct", *split)
    assert "Nothing to be done" in again.stdout + again.stderr
    indexes = {name: read_index(folder / "index.parquet") for name, folder in runs.items()}

    def keyed(index: pd.DataFrame) -> pd.DataFrame:
        return index.drop(columns=["shard", "row"]).sort_values("mask_id", ignore_index=True)

    assert keyed(indexes["split"]).equals(keyed(indexes["one"]))
    images = {}
    for name, index in indexes.items():
        for (shard, row), rows in index.groupby(["shard", "row"]):
            with ShardReader(runs[name] / "shards" / f"shard-{shard:05d}.h5") as reader:
                images.setdefault(rows.uid.iloc[0], []).append(reader.image(int(row)))
    assert all(len(pair) == 2 and (pair[0] == pair[1]).all() for pair in images.values())
