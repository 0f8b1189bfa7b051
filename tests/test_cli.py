"""`cosmos-bench datasets list | status | explain` on the real catalog and a tiny one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

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
    assert "no dataset harmonized yet" in out


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
    (downloads / "demo-ct").mkdir()
    (downloads / "demo-ct" / "SHA256SUMS").write_text(f"{'0' * 64}  demo-ct.tar.gz\n")
    (tmp_path / "results" / "raw" / "demo-endo").mkdir(parents=True)
    main(["--root", str(tmp_path), "datasets", "status"])
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["demo-endo"] == ["yes", "yes", "yes", "no"]
    assert rows["demo-ct"] == ["yes", "MISMATCH", "no", "no"]
    assert rows["medsam2-recist-ct"] == ["no", "-", "no", "no"]


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
