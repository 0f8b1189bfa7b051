"""What counts as a mask: dust removal, connected-component instances, the size rule.

Filters (`harmonize.mask_filter`), each a published protocol:

- `paper` (COSMOS): an object with at most `min_mask_pixels` pixels in an image is dropped.
- `medsam` (MedSAM's pre_CT_MR.py): in each label of a volume, 3D components of fewer than
  1000 voxels (26-connected) are removed, then in each slice 2D components of fewer than
  100 pixels (8-connected); every object left is a mask, whatever its size.
- `litemedsam` (the LiteMedSAM branch of the same script): the same with 100 voxels, 10 pixels.

Dust removal changes the stored label map, so the ground truth scored later is the filtered
one, as in MedSAM. 2D images get only the 2D step.

Component instances (`harmonize.components`): the listed objects are split into connected
components (26-connected in a volume, so a tumour keeps one id through its slices; 8-connected
in a 2D image), as MedSAM does for tumours. A component gets a fresh value in its own label
layer, so the label map needs no extra memory and the index records the component number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

# (3D voxel threshold, 2D pixel threshold) of the dust filters; components below are removed
DUST = {"medsam": (1000, 100), "litemedsam": (100, 10)}
FILTERS = ("paper", *DUST)


@dataclass
class ValueMap:
    """What the values of one label layer mean: value -> (object, component number).

    `instances` names the object of every value of an instance map (cells, glands); component
    0 means the mask is the whole object, not a split component."""

    objects: dict[int, tuple[str, int]] = field(default_factory=dict)
    instances: str | None = None

    def lookup(self, value: int) -> tuple[str | None, int]:
        if value in self.objects:
            return self.objects[value]
        return self.instances, 0


def value_maps(value_objects: dict[int, str], instances: str | None, n_layers: int) -> list:
    """The meaning of each layer of a case as its card states it (before any split)."""
    fixed = {value: (obj, 0) for value, obj in value_objects.items()}
    return [ValueMap(dict(fixed), instances) for _ in range(n_layers)]


def _structure(ndim: int) -> np.ndarray:
    """Full connectivity: 8 neighbours in 2D, 26 in 3D (MedSAM's cc3d settings)."""
    return np.ones((3,) * ndim, bool)


def _components(labels: np.ndarray) -> list[tuple[int, tuple[slice, ...], np.ndarray, int]]:
    """(value, box, component map inside the box, count) of every value present."""
    out = []
    for value, box in enumerate(ndimage.find_objects(labels), 1):
        if box is not None:
            comp, n = ndimage.label(labels[box] == value, _structure(labels.ndim))
            out.append((value, box, comp, n))
    return out


def dust(labels: np.ndarray, threshold: int) -> None:
    """Remove, in place, every connected component of fewer than `threshold` voxels, per value.

    Work is confined to each value's bounding box, so a small lesion in a large volume costs
    the size of the lesion, not of the volume."""
    if threshold <= 1:
        return
    for _, box, comp, _ in _components(labels):
        small = np.bincount(comp.ravel()) < threshold
        small[0] = False
        if small.any():
            labels[box][small[comp]] = 0


def split_components(labels: np.ndarray, meaning: ValueMap, objects: set[str]) -> None:
    """Give each connected component of the listed objects its own value, in place.

    Components are numbered 1..n per object in raster order of their first voxel; values are
    taken above the layer's and the card's largest values, so they never collide with either."""
    if not objects:
        return
    next_value = max(int(labels.max()), *meaning.objects, 0) + 1
    counters: dict[str, int] = {}
    for value, box, comp, n in _components(labels):
        obj, component = meaning.lookup(value)
        if obj not in objects or component or meaning.instances:
            continue
        if next_value + n > np.iinfo(labels.dtype).max:
            raise ValueError(f"too many components of {obj} for a {labels.dtype} label map")
        fresh = np.arange(next_value, next_value + n, dtype=labels.dtype)
        inside = comp > 0
        labels[box][inside] = fresh[comp[inside] - 1]
        first = counters.get(obj, 0)
        for k in range(n):
            meaning.objects[int(fresh[k])] = (obj, first + k + 1)
        counters[obj] = first + n
        next_value += n
        meaning.objects.pop(value, None)


@dataclass(frozen=True)
class Kept:
    """One mask that survived the filters."""

    layer: int
    label: int
    object: str
    component: int
    pixels: int  # at the source's resolution, where the size rule counts them
    box: tuple[slice, ...] | None = field(default=None, compare=False, repr=False)  # there too


def as_categories(labels: np.ndarray, meaning: ValueMap) -> None:
    """Merge an instance map's instances into one mask of its object, in place (COSMOS stores
    one mask per category): every instance value becomes 1."""
    labels[labels != 0] = 1
    meaning.objects = {1: (meaning.instances, 0)}
    meaning.instances = None


def value_boxes(labels: np.ndarray) -> list[tuple[slice, slice] | None]:
    """`ndimage.find_objects` of a 2D label map, searched within its labelled rectangle only:
    half the time on a CT slice, whose objects leave most of it empty."""
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return []
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(labels[r0:r1].any(axis=0))
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    boxes = []
    for box in ndimage.find_objects(labels[r0:r1, c0:c1]):
        if box is not None:
            ys, xs = box
            box = slice(ys.start + r0, ys.stop + r0), slice(xs.start + c0, xs.stop + c0)
        boxes.append(box)
    return boxes


def kept_masks(
    layers: np.ndarray, maps: list[ValueMap], min_pixels: int
) -> tuple[list[Kept], set[int]]:
    """The masks of one image with more than `min_pixels` pixels, and unnamed label values.

    One pass per layer finds every value's bounding box (`value_boxes`), then each named
    value's pixels are counted inside its box only; the box travels with the mask, so the
    index rows need no second search of an image that was not shrunk."""
    kept, unknown = [], set()
    for layer, (labels, meaning) in enumerate(zip(layers, maps, strict=True)):
        for value, box in enumerate(value_boxes(labels), start=1):
            if box is None:
                continue
            obj, component = meaning.lookup(value)
            if obj is None:
                unknown.add(value)
                continue
            pixels = int(np.count_nonzero(labels[box] == value))
            if pixels > min_pixels:
                kept.append(Kept(layer, value, obj, component, pixels, box))
    return kept, unknown
