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
import hashlib
import json
import zipfile
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
from cosmos_bench.store.index import read_index

BUILDERS = builders()
ONTOLOGY = load_ontology(ROOT)
COSMOS = cosmos_ids(ROOT)


def with_test_pins(card: Card, served: Path) -> Card:
    """The card with each source file pinned by the sha256 of its mimic (upstream pins and
    `checksum: unpublished` dropped); a listed source is verified by its listing's hashes."""
    if "listings" in card.source:
        return card
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
        if "listings" in card.source:
            files.update(listing_answers(card, served, base))
            mirrors = {"https://api.osf.io/": f"{base}/", "https://api.figshare.com/": f"{base}/"}
        fetching = Fetching(mirrors=mirrors, manual_dir=Path("manual"), strict=True)
        manifest = download(card, tmp / "downloads", tmp, fetching)
    unpack_source(card, manifest, tmp / "raw", tmp)
    return tmp / "raw"


def listing_answers(card: Card, served: Path, base: str) -> dict[str, bytes]:
    """The loopback host of a card's listings, built from its mimic: an OSF folder holds the
    members of the mimic's zips below the listing's `into` (one page per folder); a figshare
    article holds the mimic's files as they are."""
    files: dict[str, bytes] = {}
    members = {}
    for archive in sorted(served.glob("*.zip")):
        with zipfile.ZipFile(archive) as zf:
            members |= {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    for listing in card.source["listings"]:
        if "figshare" in listing:
            items = []
            for k, path in enumerate(sorted(served.iterdir())):
                files[f"/ndownloader/files/{k}"] = data = path.read_bytes()
                url = f"{base}/ndownloader/files/{k}"
                items.append({"id": k, "name": path.name, "download_url": url,
                              "computed_md5": md5(data)})  # fmt: skip
            page = f"/v2/articles/{listing['figshare']}/files?page_size=1000&page=1"
            files[page] = json.dumps(items).encode()
            continue
        node, folder = listing["osf"].split("/")
        into = listing["into"] + "/"
        tree = {name[len(into) :]: data for name, data in members.items() if name.startswith(into)}
        files |= osf_folder(base, node, folder, "", tree)
    return files


def osf_folder(base: str, node: str, folder: str, path: str, tree: dict[str, bytes]) -> dict:
    """OSF's answers for one folder (its files and sub-folders, one page) and those below."""
    files, items, below = {}, [], {}
    for name, data in tree.items():
        head, _, rest = name.partition("/")
        if rest:
            below.setdefault(head, {})[rest] = data
            continue
        file_id = md5(f"{path}/{name}".encode())[:12]
        files[f"/osf/{file_id}"] = data
        items.append({"id": file_id, "attributes": {"kind": "file", "name": name,
                      "extra": {"hashes": {"sha256": hashlib.sha256(data).hexdigest()}}},
                      "links": {"download": f"{base}/osf/{file_id}"}})  # fmt: skip
    for head, subtree in below.items():
        sub = md5(f"{path}/{head}".encode())[:24]
        href = f"https://api.osf.io/v2/nodes/{node}/files/osfstorage/{sub}/"
        related = {"files": {"links": {"related": {"href": href}}}}
        items.append({"id": sub, "attributes": {"kind": "folder", "name": head},
                      "relationships": related})  # fmt: skip
        files |= osf_folder(base, node, sub, f"{path}/{head}", subtree)
    answer = {"data": items, "links": {"next": None}}
    files[f"/v2/nodes/{node}/files/osfstorage/{folder}/"] = json.dumps(answer).encode()
    return files


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


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
    instances = any(part.instances for part in card.parts)
    settings = Settings(images_per_shard=16, instance_masks=instances)
    harmonize(card, raw, tmp_path / "i.parquet", tmp_path / "shards", settings)
    index = read_index(tmp_path / "i.parquet")
    assert set(index.target) == set(card.targets)
    assert (index.area_px > 50).all()
    # mimic objects are discs, never the whole image: catches inverted masks (ADAM, PALM)
    assert (index.area_px < 0.8 * index.height * index.width).all()
    if instances:  # the paper's default: one mask per category and image
        merged = harmonize(card, raw, tmp_path / "m.parquet", tmp_path / "merged", Settings())
        assert not merged.duplicated(["uid", "object"]).any()
        assert set(merged.uid) == set(index.uid)


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


#: TotalSegmentator's class maps, copied in order from wasserth/TotalSegmentator
#: totalsegmentator/map_to_binary.py at commit 0e65a448d557382b1e925276212b3bec7f5aff83:
#: `total` (117 classes: the structure files of the CT dataset v2.0.1, the same list as
#: torch_em's totalsegmentator.py CLASS_NAMES) and `total_mr` (50 classes: the structure files of
#: the MRI dataset v3.0.0, the same list as torch_em's totalsegmentator_mri.py CLASS_NAMES)
TOTALSEGMENTATOR_TOTAL = (
    "spleen kidney_right kidney_left gallbladder liver stomach pancreas adrenal_gland_right "
    "adrenal_gland_left lung_upper_lobe_left lung_lower_lobe_left lung_upper_lobe_right "
    "lung_middle_lobe_right lung_lower_lobe_right esophagus trachea thyroid_gland small_bowel "
    "duodenum colon urinary_bladder prostate kidney_cyst_left kidney_cyst_right sacrum "
    "vertebrae_S1 vertebrae_L5 vertebrae_L4 vertebrae_L3 vertebrae_L2 vertebrae_L1 vertebrae_T12 "
    "vertebrae_T11 vertebrae_T10 vertebrae_T9 vertebrae_T8 vertebrae_T7 vertebrae_T6 vertebrae_T5 "
    "vertebrae_T4 vertebrae_T3 vertebrae_T2 vertebrae_T1 vertebrae_C7 vertebrae_C6 vertebrae_C5 "
    "vertebrae_C4 vertebrae_C3 vertebrae_C2 vertebrae_C1 heart aorta pulmonary_vein "
    "brachiocephalic_trunk subclavian_artery_right subclavian_artery_left "
    "common_carotid_artery_right common_carotid_artery_left brachiocephalic_vein_left "
    "brachiocephalic_vein_right atrial_appendage_left superior_vena_cava inferior_vena_cava "
    "portal_vein_and_splenic_vein iliac_artery_left iliac_artery_right iliac_vena_left "
    "iliac_vena_right humerus_left humerus_right scapula_left scapula_right clavicula_left "
    "clavicula_right femur_left femur_right hip_left hip_right spinal_cord gluteus_maximus_left "
    "gluteus_maximus_right gluteus_medius_left gluteus_medius_right gluteus_minimus_left "
    "gluteus_minimus_right autochthon_left autochthon_right iliopsoas_left iliopsoas_right brain "
    "skull rib_left_1 rib_left_2 rib_left_3 rib_left_4 rib_left_5 rib_left_6 rib_left_7 "
    "rib_left_8 rib_left_9 rib_left_10 rib_left_11 rib_left_12 rib_right_1 rib_right_2 "
    "rib_right_3 rib_right_4 rib_right_5 rib_right_6 rib_right_7 rib_right_8 rib_right_9 "
    "rib_right_10 rib_right_11 rib_right_12 sternum costal_cartilages"
).split()

TOTALSEGMENTATOR_TOTAL_MR = (
    "spleen kidney_right kidney_left gallbladder liver stomach pancreas adrenal_gland_right "
    "adrenal_gland_left lung_left lung_right esophagus small_bowel duodenum colon urinary_bladder "
    "prostate sacrum vertebrae intervertebral_discs spinal_cord heart aorta inferior_vena_cava "
    "portal_vein_and_splenic_vein iliac_artery_left iliac_artery_right iliac_vena_left "
    "iliac_vena_right humerus_left humerus_right scapula_left scapula_right clavicula_left "
    "clavicula_right femur_left femur_right hip_left hip_right gluteus_maximus_left "
    "gluteus_maximus_right gluteus_medius_left gluteus_medius_right gluteus_minimus_left "
    "gluteus_minimus_right autochthon_left autochthon_right iliopsoas_left iliopsoas_right brain"
).split()


def test_totalsegmentator_reads_every_structure_of_both_releases(tmp_path: Path) -> None:
    """The card names every structure file of CT v2.0.1 and MRI v3.0.0, in the real layout
    (CT subjects at the top of their zip, MR under Totalsegmentator_dataset_v300/): no
    structure file is left out, and each one gives masks."""
    import json

    import pyarrow.parquet as pq

    from cosmos_bench.contracts import SUMMARY_KEY

    card = load_card(ROOT, "totalsegmentator", ONTOLOGY)
    ct, mr = card.parts
    assert (ct.name, ct.modality, mr.name, mr.modality) == ("ct", "CT", "mr", "MR")
    assert len(ct.structures) == 117 and list(ct.structures) == list(TOTALSEGMENTATOR_TOTAL)
    assert len(mr.structures) == 50 and list(mr.structures) == list(TOTALSEGMENTATOR_TOTAL_MR)
    raw = fetch_mimic(card, tmp_path)
    assert (raw / "Totalsegmentator_dataset_v201" / "meta.csv").is_file()
    assert (raw / "Totalsegmentator_dataset_v201" / "s0000" / "ct.nii.gz").is_file()
    mr_top = raw / "TotalsegmentatorMRI_dataset_v300" / "Totalsegmentator_dataset_v300"
    assert (mr_top / "meta.csv").is_file() and (mr_top / "s0000" / "mri.nii.gz").is_file()
    index_path = tmp_path / "i.parquet"
    harmonize(card, raw, index_path, tmp_path / "shards", Settings(images_per_shard=64))
    index = read_index(index_path)
    assert set(index.target) == set(card.targets)
    for part, n in (("ct", 117), ("mr", 50)):  # structure k has label value k + 1
        assert set(index.label[index.part == part]) == set(range(1, n + 1)), part
    summary = json.loads(pq.read_schema(index_path).metadata[SUMMARY_KEY.encode()])
    assert summary["unmapped_structures"] == {}
