"""`cosmos-bench datasets list | status | explain` on the real catalog and a tiny one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, TINY_CARD

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.cli import main


def test_list_shows_the_53_cosmos_cards_and_all_shows_every_card(capsys) -> None:
    main(["--root", str(ROOT), "datasets", "list"])
    out = capsys.readouterr().out
    assert out.rstrip().endswith("53 cards") and "demo-ct" not in out
    assert "kvasir-seg" in out and "totalsegmentator" in out
    main(["--root", str(ROOT), "datasets", "list", "--all"])
    out = capsys.readouterr().out
    for card in (ROOT / "config" / "datasets").glob("*.yaml"):
        assert card.stem in out
    assert "generated" in out and "CC0-1.0" in out and "2.8 MB" in out


def test_summary_counts_the_catalog_against_the_paper(capsys) -> None:
    main(["--root", str(ROOT), "datasets", "summary"])
    out = capsys.readouterr().out
    assert "datasets          53      53" in out
    assert "targets per modality:" in out
    assert "unusable cards, counted apart (2: no masks to harmonize):" in out
    assert "  ixi: IXI ships no" in out
    assert "none of COSMOS is harmonized yet" in out


def test_summary_counts_harmonized_images_and_masks_beside_the_paper(
    tiny_root: Path, capsys
) -> None:
    from cosmos_bench.catalog.cards import load_card, load_ontology
    from cosmos_bench.harmonize.dataset import harmonize

    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    out_dir = tiny_root / "results" / "harmonized" / "tiny"
    index = harmonize(card, tiny_root / "raw", out_dir / "index.parquet", out_dir / "shards")
    main(["--root", str(tiny_root), "datasets", "summary", "--all"])
    out = capsys.readouterr().out
    images, masks = index.uid.nunique(), len(index)
    assert images > 1 and masks > images  # the tiny volume has two objects on most slices
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["tiny"] == [str(images), str(masks)]
    assert "COSMOS 1050K (paper)  1,050,311  6,033,198" in out


def test_status_follows_the_results_tree(tmp_path: Path, capsys) -> None:
    for sub in ("config", "resources", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    downloads = tmp_path / "results" / "downloads"
    (downloads / "demo-endo").mkdir(parents=True)
    sha = load_card(ROOT, "demo-endo", load_ontology(ROOT)).source["sha256"]
    (downloads / "demo-endo" / "SHA256SUMS").write_text(f"{sha}  demo-endo.zip\n")
    record = {"sha256": sha, "verified": ["lock", "pin:sha256"]}  # how the download verified it
    (downloads / "demo-endo" / "VERIFIED.json").write_text(
        json.dumps({"files": {"demo-endo.zip": record}})
    )
    (downloads / "demo-ct").mkdir()
    (downloads / "demo-ct" / "SHA256SUMS").write_text(f"{'0' * 64}  demo-ct.tar.gz\n")
    (tmp_path / "results" / "raw" / "demo-endo").mkdir(parents=True)
    main(["--root", str(tmp_path), "datasets", "status"])
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["demo-endo"] == ["-", "yes", "lock+pin:sha256", "yes", "no"]
    assert rows["demo-ct"] == ["-", "yes", "MISMATCH", "no", "no"]
    assert rows["medsam2-recist-ct"] == ["-", "no", "-", "no", "no"]


def test_explain_a_gated_card(tmp_path: Path, capsys) -> None:
    for sub in ("config", "resources", "workflow/schemas"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    (tmp_path / "config" / "datasets" / "btcv.yaml").write_text(
        """id: btcv
name: Multi-Atlas Labeling Beyond the Cranial Vault
homepage: https://www.synapse.org/#!Synapse:syn3193805
licence: Synapse data use terms
citation: Landman et al., MICCAI 2015 workshop
modality: CT
source:
  url: https://www.synapse.org/#!Synapse:syn3193805/files/
  filename: RawData.zip
  access: registration
  instructions: create a Synapse account, accept the terms, download Abdomen/RawData.zip
format:
  adapter: volume-pairs
  images: "Training/img/*.nii.gz"
  labels: "Training/label/{case}.nii.gz"
labels: {1: spleen}
"""
    )
    main(["--root", str(tmp_path), "datasets", "explain", "btcv"])
    out = capsys.readouterr().out
    assert "needs registration at https://www.synapse.org/#!Synapse:syn3193805" in out
    assert "then place in resources/manual/btcv/:" in out
    assert "RawData.zip  (from https://www.synapse.org/#!Synapse:syn3193805/files/;" in out
    assert "not known yet" in out


def test_unknown_dataset_is_a_message_not_a_traceback() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosmos_bench.cli",
            "--root",
            str(ROOT),
            "datasets",
            "explain",
            "nope",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "no dataset card for 'nope'" in run.stderr and "Traceback" not in run.stderr


def _catalog_copy(tmp_path: Path) -> Path:
    for sub in ("config", "resources", "workflow"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    return tmp_path


def test_every_line_fits_100_columns_and_json_says_the_same(capsys) -> None:
    """URLs are the one exception: a cut URL cannot be copied."""
    for command in (["list", "--all"], ["status", "--all"], ["summary", "--all"],
                    ["explain", "btcv"], ["explain", "ixi"]):  # fmt: skip
        main(["--root", str(ROOT), "datasets", *command])
        out = capsys.readouterr().out
        assert all(len(line) <= 100 or "://" in line for line in out.splitlines()), command
    main(["--root", str(ROOT), "datasets", "list", "--json"])
    cards = json.loads(capsys.readouterr().out)["cards"]
    assert len(cards) == 53 and {c["dataset"] for c in cards} >= {"kvasir-seg", "kits19"}
    main(["--root", str(ROOT), "datasets", "explain", "ixi"])
    assert "unresolved, left out of every run" in capsys.readouterr().out


def test_filters_keep_the_cards_they_name(capsys) -> None:
    main(["--root", str(ROOT), "datasets", "list", "--json", "--modality", "CT", "--verified"])
    cards = json.loads(capsys.readouterr().out)["cards"]
    assert cards and all("CT" in c["modalities"] and c["checksum"] in ("sha256", "md5", "publisher")
                         for c in cards)  # fmt: skip
    main(["--root", str(ROOT), "datasets", "status", "--json", "--all", "--access", "request"])
    rows = json.loads(capsys.readouterr().out)["datasets"]
    assert rows and all(load_card(ROOT, r["dataset"], load_ontology(ROOT)).source["access"]
                        == "request" for r in rows)  # fmt: skip


def test_one_malformed_card_is_one_row_and_the_rest_are_listed(tmp_path: Path, capsys) -> None:
    root = _catalog_copy(tmp_path)
    card = root / "config" / "datasets" / "kvasir-seg.yaml"
    card.write_text(card.read_text().replace("access: open", "access: maybe"))
    (root / "config" / "datasets" / "broken.yaml").write_text("id: [unclosed\n")
    main(["--root", str(root), "datasets", "list", "--all"])
    out = capsys.readouterr().out
    assert "kvasir-seg" in out and "broken" in out and "error: not valid YAML" in out
    assert out.rstrip().endswith("2 unreadable") and "kits19" in out
    main(["--root", str(root), "datasets", "status", "--all", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert set(answer["errors"]) == {"kvasir-seg", "broken"} and len(answer["datasets"]) > 50
    main(["--root", str(root), "datasets", "summary", "--all"])
    assert "! kvasir-seg: error: invalid" in capsys.readouterr().out


def test_status_sees_a_placed_manual_archive(tmp_path: Path, capsys) -> None:
    root = _catalog_copy(tmp_path)
    card = load_card(root, "btcv", load_ontology(root))
    main(["--root", str(root), "datasets", "status", "--json", "--all"])
    rows = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["btcv"]["manual"] == "0/1" and rows["kvasir-seg"]["manual"] == "-"
    manual = root / "resources" / "manual" / "btcv"
    manual.mkdir(parents=True)
    (manual / card.source_files[0]["filename"]).write_bytes(b"placed")
    main(["--root", str(root), "datasets", "status", "--json", "--all"])
    rows = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["btcv"]["manual"] == "placed"


def test_commands_work_from_a_subfolder_and_name_root_outside(tmp_path: Path) -> None:
    cli = [str(Path(sys.executable).parent / "cosmos-bench"), "datasets", "list"]
    inside = subprocess.run(cli, cwd=ROOT / "docs", capture_output=True, text=True)
    assert inside.returncode == 0 and inside.stdout.rstrip().endswith("53 cards")
    outside = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True)
    assert outside.returncode == 1 and "Traceback" not in outside.stderr
    assert "not inside a cosmos-bench repository" in outside.stderr
    assert "cosmos-bench --root PATH" in outside.stderr


def test_cards_outside_the_repository_are_listed_and_explained(tmp_path: Path, capsys) -> None:
    """`--cards-dir` (beside config.yaml's `cards_dirs`) shows a lab's own cards."""
    (tmp_path / "tiny.yaml").write_text(TINY_CARD)
    main(["--root", str(ROOT), "--cards-dir", str(tmp_path), "datasets", "list", "--all"])
    assert "tiny" in capsys.readouterr().out
    main(["--root", str(ROOT), "--cards-dir", str(tmp_path), "datasets", "explain", "tiny"])
    assert capsys.readouterr().out.startswith("tiny")
