"""Every COSMOS card, end to end offline: mimic source -> download -> unpack -> harmonize.

Each mimic is a tiny archive in the dataset's real layout (tests/mimics). It is served by the
loopback HTTP server under the card's real URL (through `mirrors`) or placed in the manual
folder of a gated dataset, so the card's URLs, file names, patterns, label values and adapter
are all exercised; harmonization must produce exactly the card's targets.

The mimics carry their own test pins: a card's real pins (sha256 or md5 of the upstream file)
are swapped for the mimic files' sha256, and the download runs with strict_checksums on, so
the pinned path is the one exercised; the real pins stay in the cards.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from helpers import ROOT
from loopback import serve
from mimics import builders

from cosmos_bench.acquire.download import download
from cosmos_bench.acquire.sources import GATED, Fetching, archive_name
from cosmos_bench.acquire.unpack import unpack_source
from cosmos_bench.catalog.cards import Card, cosmos_ids, load_card, load_ontology
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.core.hashing import sha256_file
from cosmos_bench.harmonize.dataset import Settings, harmonize
from cosmos_bench.harmonize.index import read_index

BUILDERS = builders()
ONTOLOGY = load_ontology(ROOT)
COSMOS = cosmos_ids(ROOT)


def with_test_pins(card: Card, served: Path) -> Card:
    """The card with each source file pinned by the sha256 of its mimic (upstream pins and
    `checksum: unpublished` dropped)."""
    raw = copy.deepcopy(card.raw)
    source = raw["source"]
    for key in ("md5", "checksum", "checksum_note"):
        source.pop(key, None)
    for entry in source.get("files", [source]):
        entry.pop("md5", None)
        entry["sha256"] = sha256_file(served / archive_name(entry))
    return Card(raw)


def fetch_mimic(card: Card, tmp: Path) -> Path:
    """Build, serve, download (strict, with the mimic's pins) and unpack one card's mimic;
    return the unpacked folder."""
    dataset = card.id
    served = tmp / "served"
    served.mkdir()
    BUILDERS[dataset](served)
    card = with_test_pins(card, served)
    entries = card.source_files
    files = {
        f"/{dataset}/{archive_name(e)}": (served / archive_name(e)).read_bytes() for e in entries
    }
    gated = card.source["access"] in GATED
    if gated:
        manual = tmp / "manual" / dataset
        manual.mkdir(parents=True)
        for e in entries:
            (manual / archive_name(e)).write_bytes(files[f"/{dataset}/{archive_name(e)}"])
    with serve(files) as (base, _log):
        mirrors = {e["url"]: f"{base}/{dataset}/{archive_name(e)}" for e in entries}
        fetching = Fetching(mirrors=mirrors, manual_dir=Path("manual"), strict=True)
        manifest = download(card, tmp / "downloads", tmp, fetching)
    unpack_source(card, manifest, tmp / "raw", tmp)
    return tmp / "raw"


@pytest.mark.parametrize("dataset", COSMOS)
def test_mimic_harmonizes_to_exactly_the_card_targets(dataset: str, tmp_path: Path) -> None:
    card = load_card(ROOT, dataset, ONTOLOGY)
    unresolved = "unresolved" in card.raw
    if unresolved and dataset not in BUILDERS:  # not even a file name is known (4C2021)
        raw = tmp_path / "raw"
    else:
        assert dataset in BUILDERS, f"no mimic builder for {dataset} (tests/mimics)"
        raw = fetch_mimic(card, tmp_path)
    if unresolved:  # no label source: the source downloads, harmonization refuses, saying why
        with pytest.raises(CosmosError, match="no label source"):
            harmonize(card, raw, tmp_path / "i.parquet", tmp_path / "s")
        return
    harmonize(card, raw, tmp_path / "i.parquet", tmp_path / "shards", Settings(images_per_shard=16))
    index = read_index(tmp_path / "i.parquet")
    assert set(index.target) == set(card.targets)
    assert (index.area_px > 50).all()
    # mimic objects are discs, never the whole image: catches inverted masks (ADAM, PALM)
    assert (index.area_px < 0.8 * index.height * index.width).all()


def test_every_builder_has_a_cosmos_card() -> None:
    assert set(BUILDERS) <= set(COSMOS)


def test_the_catalog_has_53_numbered_cards() -> None:
    numbers = sorted(load_card(ROOT, d, ONTOLOGY).raw["cosmos"] for d in COSMOS)
    assert numbers == list(range(1, 54))


def test_the_mimics_cover_every_adapter_and_native_format() -> None:
    """Each format the catalog promises is read by at least one card whose mimic runs above."""
    parts = [p for d in COSMOS for p in load_card(ROOT, d, ONTOLOGY).parts]
    adapters = {p.format["adapter"] for p in parts}
    assert adapters >= {
        "volume-pairs",
        "image-mask-pairs",
        "dicom-series",
        "tiff-stack",
        "structure-files",
    }  # medsam-npz: the real-data test (tests/test_realdata.py)
    patterns = " ".join(f"{p.format['images']} {p.format.get('labels', '')}" for p in parts)
    for suffix in (".nii.gz", ".mhd", ".nrrd", ".seg.nrrd", ".hdr", ".png", ".jpg", ".tif"):
        assert suffix in patterns, suffix
    for suffix in (".bmp", ".gif", ".ppm.gz"):
        assert suffix in patterns, suffix
    assert any(p.instances for p in parts) and any(p.structures for p in parts)
    assert any(p.format.get("split") == "components" for p in parts)
    assert any(p.format.get("mask_threshold") for p in parts)  # Kvasir's JPEG masks
    assert any("channel" in p.format for p in parts)  # MSD multi-channel volumes
    assert any(p.modality == "Cine-MRI" and "_sa" in p.format["images"] for p in parts)  # M&Ms 4D
