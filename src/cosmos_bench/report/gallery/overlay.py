"""One case drawn for the gallery: the image, the ground truth's contour, the prediction's
contour and the prompt (box, positive and negative points), as PNG bytes.

Two pictures per case: the whole image (longest side FULL_SIDE px) and a thumbnail zoomed on
the object and its prompt (THUMB_SIDE px), so a small lesion is visible at thumbnail size.
Drawn with OpenCV, no figure machinery: the gallery draws hundreds of cases, and the same
inputs give the same bytes.
"""

from __future__ import annotations

import cv2
import numpy as np

from cosmos_bench.core.prompt import Prompt

FULL_SIDE = 512
THUMB_SIDE = 160
#: colours (RGB): ground truth green and prediction magenta (told apart with any colour
#: vision), box yellow, positive points cyan, negative points red
GT_RGB = (40, 220, 40)
PRED_RGB = (255, 40, 255)
BOX_RGB = (255, 220, 0)
POSITIVE_RGB = (0, 230, 255)
NEGATIVE_RGB = (255, 60, 60)
LEGEND = {
    "ground truth": GT_RGB, "prediction": PRED_RGB, "box": BOX_RGB,
    "positive point": POSITIVE_RGB, "negative point": NEGATIVE_RGB,
}  # fmt: skip
Window = tuple[int, int, int, int]  # x0, y0, x1, y1: a view of the image, end-exclusive


def as_rgb(image: np.ndarray) -> np.ndarray:
    """The stored image (grey or RGB uint8) as RGB uint8."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        image = ((image - low) / max(high - low, 1e-9) * 255).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def object_window(gt: np.ndarray, prompt: Prompt | None, min_side: int = 48) -> Window:
    """A square view around the ground truth and its prompt, half its size again on each side
    (at least `min_side` px), inside the image."""
    h, w = gt.shape
    ys, xs = np.nonzero(gt)
    x = [xs.min(), xs.max() + 1] if len(xs) else [0, w]
    y = [ys.min(), ys.max() + 1] if len(ys) else [0, h]
    if prompt is not None and prompt.box is not None:
        x += [prompt.box[0], prompt.box[2] + 1]
        y += [prompt.box[1], prompt.box[3] + 1]
    if prompt is not None and prompt.points is not None and len(prompt.points):
        x += [prompt.points[:, 0].min(), prompt.points[:, 0].max() + 1]
        y += [prompt.points[:, 1].min(), prompt.points[:, 1].max() + 1]
    cx, cy = (min(x) + max(x)) / 2, (min(y) + max(y)) / 2
    side = min(max(h, w), max(min_side, int(np.ceil(2 * max(max(x) - min(x), max(y) - min(y))))))
    x0 = int(np.clip(round(cx - side / 2), 0, max(0, w - side)))
    y0 = int(np.clip(round(cy - side / 2), 0, max(0, h - side)))
    return x0, y0, min(w, x0 + side), min(h, y0 + side)


def _interpolation(scale: float) -> int:
    """Shrunk: area averaging; enlarged twice or more: nearest (each pixel a visible block);
    in between: bilinear, so pixels do not come out in uneven blocks."""
    if scale < 1:
        return cv2.INTER_AREA
    return cv2.INTER_NEAREST if scale >= 2 else cv2.INTER_LINEAR


def _contours(mask: np.ndarray, window: Window, size: tuple[int, int]) -> list[np.ndarray]:
    """The outlines of a binary mask's view, at display size (nearest neighbour: the outline
    follows the pixels the mask covers)."""
    x0, y0, x1, y1 = window
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    shown = cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST)
    found, _ = cv2.findContours(shown, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    return list(found)


def draw(
    image: np.ndarray,
    gt: np.ndarray,
    pred: np.ndarray | None,
    prompt: Prompt | None,
    window: Window,
    side: int,
) -> np.ndarray:
    """The view `window` of the image with the overlays, RGB, its longest side `side` px."""
    x0, y0, x1, y1 = window
    scale = side / max(x1 - x0, y1 - y0)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    view = np.ascontiguousarray(as_rgb(image)[y0:y1, x0:x1])
    canvas = cv2.resize(view, size, interpolation=_interpolation(scale))
    canvas = np.ascontiguousarray(canvas)
    thick = 2 if max(size) >= 256 else 1
    cv2.drawContours(canvas, _contours(gt, window, size), -1, GT_RGB, thick + 1, cv2.LINE_8)
    if pred is not None:
        cv2.drawContours(canvas, _contours(pred, window, size), -1, PRED_RGB, thick, cv2.LINE_8)
    if prompt is not None:
        _draw_prompt(canvas, prompt, (x0, y0), scale, thick)
    return canvas


def _draw_prompt(
    canvas: np.ndarray, prompt: Prompt, origin: tuple[int, int], scale: float, thick: int
) -> None:
    """The box (its pixel edges) and the points (filled, outlined in black), in place."""
    ox, oy = origin
    if prompt.box is not None:
        bx0, by0, bx1, by1 = (float(v) for v in prompt.box)
        top_left = (round((bx0 - ox) * scale), round((by0 - oy) * scale))
        bottom_right = (round((bx1 + 1 - ox) * scale) - 1, round((by1 + 1 - oy) * scale) - 1)
        cv2.rectangle(canvas, top_left, bottom_right, BOX_RGB, thick, cv2.LINE_8)
    if prompt.points is None:
        return
    radius = 3 + thick
    for (x, y), label in zip(prompt.points, prompt.point_labels, strict=True):
        centre = (round((float(x) + 0.5 - ox) * scale), round((float(y) + 0.5 - oy) * scale))
        colour = POSITIVE_RGB if label == 1 else NEGATIVE_RGB
        cv2.circle(canvas, centre, radius, (0, 0, 0), -1, cv2.LINE_8)
        cv2.circle(canvas, centre, radius - 1, colour, -1, cv2.LINE_8)


def png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB image (no metadata: the same pixels give the same bytes)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_PNG_COMPRESSION, 6])  # fmt: skip
    if not ok:
        raise ValueError("OpenCV could not encode a PNG")
    return data.tobytes()


def pictures(
    image: np.ndarray, gt: np.ndarray, pred: np.ndarray | None, prompt: Prompt | None
) -> tuple[bytes, bytes]:
    """(whole image, zoomed thumbnail) as PNG bytes."""
    h, w = gt.shape
    full = draw(image, gt, pred, prompt, (0, 0, w, h), FULL_SIDE)
    thumb = draw(image, gt, pred, prompt, object_window(gt, prompt), THUMB_SIDE)
    return png(full), png(thumb)
