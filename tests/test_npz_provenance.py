"""The MedSAM npz adapter and the provenance record, on small files made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, phantom

from cosmos_bench.catalog.cards import Part
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.harmonize.adapters.medsam_npz import read_cases
from cosmos_bench.report.provenance import collect, main

NPZ_PART = Part.from_raw(
    {"modality": "CT", "labels": {"1": "lesion"}, "format": {"images": "*.npz"}}
)


def test_medsam_npz_volumes_keep_their_geometry(tmp_path: Path) -> None:
    image, labels = phantom()
    np.savez(
        tmp_path / "CT_Lesion_1.npz",
        imgs=image.astype(np.uint8),
        gts=(labels == 1).astype(np.uint8),
        spacing=np.array([0.7, 0.7, 5.0]),
        direction=np.eye(3).ravel(),
        origin=np.zeros(3),
    )
    (case,) = read_cases(tmp_path, NPZ_PART, "npz")
    assert case.case_id == "CT_Lesion_1" and case.is_3d
    assert case.image.spacing == pytest.approx((5.0, 0.7, 0.7))
    assert np.array_equal(case.layers[0].array, labels == 1)


def test_medsam_npz_without_spacing_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", imgs=np.zeros((2, 4, 4), np.uint8), gts=np.zeros((2, 4, 4)))
    with pytest.raises(CosmosError, match="spacing") as err:
        list(read_cases(tmp_path, NPZ_PART, "npz"))
    assert "bad.npz" in str(err.value)


def test_provenance_records_hashes_versions_and_untrained_prompts(tmp_path: Path) -> None:
    manifest = tmp_path / "demo-endo" / "SHA256SUMS"
    manifest.parent.mkdir()
    manifest.write_text(f"{'a' * 64}  demo-endo.zip\n")
    verified = manifest.with_name("VERIFIED.json")
    verified.write_text('{"files": {"demo-endo.zip": {"verified": ["lock", "pin:sha256"]}}}')
    weights = tmp_path / "litemedsam.pth"
    weights.write_bytes(b"w")
    config = {"models": ["litemedsam", "otsu-box"], "seed": 3}
    record = collect(config, [manifest], [weights], ROOT, [verified])
    assert record["dataset_sha256"] == {"demo-endo": {"demo-endo.zip": "a" * 64}}
    assert record["dataset_verification"] == {"demo-endo": {"lock+pin:sha256": 1}}
    assert record["weight_sha256"]["litemedsam"].startswith("50e721e4")  # sha256 of b"w"
    assert record["untrained_prompts"] == {"litemedsam": ["mask", "point"], "otsu-box": []}
    assert record["packages"]["torch"].startswith("2.14.1")
    assert record["seed"] == 3 and record["config"] == config
    out = tmp_path / "provenance.json"
    main(
        [
            "--config-json",
            json.dumps(config),
            "--manifests",
            str(manifest),
            "--out",
            str(out),
            "--root",
            str(ROOT),
        ]
    )
    assert json.loads(out.read_text())["dataset_sha256"]["demo-endo"]
