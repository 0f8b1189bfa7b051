"""The point prompts of the authors' released code (utils/get_prompts.py), reproduced exactly.

`infer.points: cosmos-code` uses them for S2, S3, S4 and S6 in place of the paper's rule
(strategies.py). Where they differ, and why the paper's is the default: docs/deviations.md
(row 16) and docs/protocols.md. The facts, from `find_center_from_mask_new` and `find_all_info`:

- the centre of mass from `cv2.moments`, each coordinate truncated by `int()`, never checked
  to lie in the mask;
- foreground pixels in row-major order with a stride of int(N / 5), the first replaced by the
  centre (so 5 points, or 6 when N is not a multiple of 5);
- background pixels (row-major, x-y order) of the tight box scaled 2x about its centre, its
  float corners truncated by `int()`, with the same stride over their count;
- the points concatenated (foreground, background) against 5 ones then 5 zeros, both cut to
  the strategy's count: S2 1, S3 5, S4 10. With 6 foreground points S4's sixth positive carries
  label 0 and only 4 negatives remain.

Where the authors' code crashes (fewer than 5 pixels on a side: a zero stride), the stride is 1.
"""

from __future__ import annotations

import cv2
import numpy as np

N_SIGN = 5  # n_fg = n_bg = 5 in find_center_from_mask_new
COUNT = {"S2": 1, "S3": 5, "S4": 10, "S6": 1}  # point_num per strategy


def _enlarged_region(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of `limit_rect(mask, 2)`, truncated to int as the caller does."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max(), ys.max()
    w, h = bx1 - bx0, by1 - by0
    x1 = bx0 - w * 2 / 2 + w / 2
    y1 = by0 - h * 2 / 2 + h / 2
    x2, y2 = x1 + w * 2, y1 + h * 2
    x1, y1 = max(x1, 0), max(y1, 0)
    x2 = width if x2 >= width else x2
    y2 = height if y2 >= height else y2
    return int(x1), int(y1), int(x2 - x1), int(y2 - y1)


def authors_points(mask: np.ndarray, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 2) as (x, y) and labels (N,) of S2, S3, S4 or S6 as the authors' code takes
    them from one binary mask."""
    mask = np.asarray(mask).astype(np.uint8)
    m = cv2.moments(mask)
    centre = np.array([[int(m["m10"] / m["m00"]), int(m["m01"] / m["m00"])]])
    ys, xs = np.nonzero(mask)
    foreground = np.stack([xs, ys], axis=1)[:: max(1, len(ys) // N_SIGN)]
    x, y, w, h = _enlarged_region(mask)
    bys, bxs = np.nonzero(mask[y : y + h, x : x + w] == 0)
    background = np.stack([bxs + x, bys + y], axis=1)[:: max(1, len(bys) // N_SIGN)]
    points = np.concatenate([centre, foreground[1:], background]).astype(np.float32)
    labels = np.concatenate([np.ones(N_SIGN), np.zeros(N_SIGN)]).astype(np.int64)
    n = min(COUNT[strategy], len(points))
    return points[:n], labels[:n]
