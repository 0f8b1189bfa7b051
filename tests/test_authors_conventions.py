"""The authors' released code (yuhoo0302/Segment-Anything-Model-for-Medical-Images) reproduced
where `cosmos-code` asks for it: its point prompts (utils/get_prompts.py), its 8-bit images
(read as stored, np.uint8 truncation) and the paper's main viewing plane. Each rule is
re-derived here from the source's steps (a meshgrid over the enlarged box, as its code does)
and compared with the project on concrete masks."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from cosmos_bench.core.strategies import make_prompt
from cosmos_bench.harmonize.adapters.case import Case
from cosmos_bench.harmonize.dataset import Settings, case_images
from cosmos_bench.harmonize.normalize import apply
from cosmos_bench.harmonize.orientation import Volume, plane_of, slices


def sources_points(mask: np.ndarray, point_num: int) -> tuple[np.ndarray, np.ndarray]:
    """find_center_from_mask_new + find_all_info's [0:point_num], step by step as the source."""
    m = cv2.moments(mask)
    c_x, c_y = int(m["m10"] / m["m00"]), int(m["m01"] / m["m00"])
    fy, fx = np.where(mask == 1)
    fg = np.column_stack((fx, fy))
    fg = fg[:: int(len(fg) / 5), :]
    # limit_rect(mask, 2)
    height, width = mask.shape
    x0, y0, x1, y1 = fx.min(), fy.min(), fx.max(), fy.max()
    w, h = x1 - x0, y1 - y0
    rx1, ry1 = x0 - w + w / 2, y0 - h + h / 2
    rx2, ry2 = rx1 + 2 * w, ry1 + 2 * h
    rx1, ry1 = max(rx1, 0), max(ry1, 0)
    rx2, ry2 = (width if rx2 >= width else rx2), (height if ry2 >= height else ry2)
    x, y, bw, bh = int(rx1), int(ry1), int(rx2 - rx1), int(ry2 - ry1)
    yy, xx = np.meshgrid(np.arange(x, x + bw), np.arange(y, y + bh))
    empty = mask[y : y + bh, x : x + bw] == 0
    bg = np.column_stack((yy[empty], xx[empty]))
    bg = bg[:: int(len(bg) / 5), :]
    coords = np.concatenate((np.concatenate(([[c_x, c_y]], fg[1:])), bg))
    labels = np.concatenate((np.ones(5), np.zeros(5)))
    return coords[0:point_num], labels[0:point_num]


def _masks() -> list[np.ndarray]:
    """A 52-pixel rectangle (6 strided positives), a C (centre outside), random blobs."""
    rect = np.zeros((40, 40), np.uint8)
    rect[10:14, 5:18] = 1
    c_shape = np.zeros((60, 60), np.uint8)
    c_shape[10:50, 10:50] = 1
    c_shape[20:40, 20:55] = 0
    blobs = []
    rng = np.random.default_rng(3)
    for _ in range(40):
        blob = np.zeros((64, 80), np.uint8)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.integers(8, 56), rng.integers(8, 72)
            cv2.ellipse(blob, (int(cx), int(cy)), tuple(int(v) for v in rng.integers(4, 14, 2)),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)  # fmt: skip
        blobs.append(blob)
    return [rect, c_shape, *blobs]


@pytest.mark.parametrize(("strategy", "point_num"), [("S2", 1), ("S3", 5), ("S4", 10)])
def test_cosmos_code_points_are_the_authors_exactly(strategy: str, point_num: int) -> None:
    for mask in _masks():
        theirs, their_labels = sources_points(mask, point_num)
        ours = make_prompt(strategy, mask.astype(bool), points="cosmos-code")
        np.testing.assert_array_equal(ours.points, theirs.astype(np.float32))
        np.testing.assert_array_equal(ours.point_labels, their_labels.astype(np.int64))


def test_the_authors_s4_labels_a_foreground_point_negative_and_the_papers_does_not() -> None:
    rect = _masks()[0]  # 52 pixels: a stride of 10 gives 6 foreground points
    authors = make_prompt("S4", rect.astype(bool), points="cosmos-code")
    assert authors.point_labels.tolist() == [1] * 5 + [0] * 5
    wrong = [rect[int(y), int(x)] == 1 for (x, y), lab in
             zip(authors.points, authors.point_labels, strict=True) if lab == 0]  # fmt: skip
    assert wrong == [True, False, False, False, False]  # the sixth positive, labelled 0
    paper = make_prompt("S4", rect.astype(bool))
    for (x, y), label in zip(paper.points, paper.point_labels, strict=True):
        assert rect[int(round(y)), int(round(x))] == label
    # the C's centre of mass lies in its opening: the authors prompt it as positive anyway
    c_shape = _masks()[1]
    ((x, y),) = make_prompt("S2", c_shape.astype(bool), points="cosmos-code").points
    assert c_shape[int(y), int(x)] == 0
    ((x, y),) = make_prompt("S2", c_shape.astype(bool)).points
    assert c_shape[int(round(y)), int(round(x))] == 1
    # S6: S5's box and the authors' S2 point
    s6 = make_prompt("S6", c_shape.astype(bool), points="cosmos-code")
    assert s6.box.tolist() == [10, 10, 49, 49] and s6.points.tolist() == [[x_, y_] for x_, y_ in
        make_prompt("S2", c_shape.astype(bool), points="cosmos-code").points.tolist()]  # fmt: skip


def test_truncation_is_the_authors_np_uint8_cast_and_rounding_the_nearest_level() -> None:
    ramp = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0]])
    levels = (ramp - 0) / 10 * 255.0  # 25.5, 51, 76.5, ...
    assert apply(ramp, (0.0, 10.0, False), "truncate").tolist() == [np.uint8(levels)[0].tolist()]
    assert apply(ramp, (0.0, 10.0, False)).tolist() == [[0, 26, 51, 76, 102, 128, 153, 255]]
    assert apply(ramp, (0.0, 10.0, False), "truncate").tolist() == [
        [0, 25, 51, 76, 102, 127, 153, 255]
    ]


def test_grey_2d_images_are_stretched_or_kept_as_stored() -> None:
    image = np.array([[40, 60], [80, 120]], np.uint8)
    case = Case("x", image, [np.array([[1, 1], [0, 0]], np.uint8)])
    part = SimpleNamespace(modality="X-ray", slice_axis="axial")
    [(stretched, _)] = case_images(case, part, Settings(), (40.0, 400.0))
    assert stretched.pixels.tolist() == [[0, 64], [128, 255]]
    [(kept, mapping)] = case_images(case, part, Settings(grey_2d="keep"), (40.0, 400.0))
    assert kept.pixels is image and mapping is None
    wide = case.__class__("x", image.astype(np.uint16) * 100, case.layers)  # 16 bits: stretched
    [(still, _)] = case_images(wide, part, Settings(grey_2d="keep"), (40.0, 400.0))
    assert still.pixels.tolist() == [[0, 64], [128, 255]]


def test_the_acquisition_plane_is_the_finest_in_plane_one() -> None:
    array = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    # a sagittal knee MR: 1 mm across x, 0.4 mm in its plane (z, y)
    sagittal = Volume(array, (0.4, 0.4, 1.0))
    assert plane_of(sagittal, "acquisition") == "sagittal"
    assert [s for s, _, _ in slices(sagittal, "acquisition")] == [f"x{k:04d}" for k in range(6)]
    [(_, first, spacing)] = list(slices(sagittal, "acquisition"))[:1]
    assert first.shape == (4, 5) and spacing == (0.4, 0.4)
    assert plane_of(Volume(array, (0.8, 2.5, 0.8)), "acquisition") == "coronal"
    assert plane_of(Volume(array, (3.0, 0.7, 0.7)), "acquisition") == "axial"
    assert plane_of(Volume(array, (1.0, 1.0, 1.0)), "acquisition") == "axial"  # ties: axial
    assert plane_of(sagittal, "axial") == "axial"  # a named plane is kept
