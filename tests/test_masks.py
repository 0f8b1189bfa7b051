"""Mask filters and component instances against an independent flood-fill reference."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosmos_bench.harmonize.masks import ValueMap, dust, kept_masks, split_components, value_maps


def components_by_flood_fill(labels: np.ndarray) -> list[tuple[int, set[tuple[int, ...]]]]:
    """(value, voxels) of every fully connected component, by breadth-first search."""
    seen = np.zeros(labels.shape, bool)
    steps = [d for d in itertools.product((-1, 0, 1), repeat=labels.ndim) if any(d)]
    found = []
    for start in zip(*np.nonzero(labels), strict=True):
        if seen[start]:
            continue
        value, voxels, queue = labels[start], set(), deque([start])
        seen[start] = True
        while queue:
            p = queue.popleft()
            voxels.add(p)
            for d in steps:
                q = tuple(a + b for a, b in zip(p, d, strict=True))
                inside = all(0 <= c < n for c, n in zip(q, labels.shape, strict=True))
                if inside and not seen[q] and labels[q] == value:
                    seen[q] = True
                    queue.append(q)
        found.append((int(value), voxels))
    return found


@settings(max_examples=60, deadline=None)
@given(
    labels=st.one_of(
        arrays(np.uint16, (14, 14), elements=st.integers(0, 3)),
        arrays(np.uint16, (5, 7, 6), elements=st.sampled_from([0, 0, 0, 1, 2])),
    ),
    threshold=st.integers(1, 12),
)
def test_dust_removes_exactly_the_small_components(labels: np.ndarray, threshold: int) -> None:
    expected = labels.copy()
    for _, voxels in components_by_flood_fill(labels):
        if len(voxels) < threshold:
            for p in voxels:
                expected[p] = 0
    dust(labels, threshold)
    assert np.array_equal(labels, expected)


@settings(max_examples=60, deadline=None)
@given(labels=arrays(np.uint16, (4, 9, 9), elements=st.sampled_from([0, 0, 1, 2])))
def test_split_gives_each_3d_component_its_own_value(labels: np.ndarray) -> None:
    """Components of the split object (value 1) become masks; the other object is untouched."""
    original = labels.copy()
    meaning = value_maps({1: "lesion", 2: "liver"}, None, 1)[0]
    split_components(labels, meaning, {"lesion"})
    reference = [vox for value, vox in components_by_flood_fill(original) if value == 1]
    assert np.array_equal(labels == 0, original == 0)
    assert np.array_equal(labels == 2, original == 2)
    got = {}
    for value in np.unique(labels[original == 1]).tolist():
        obj, component = meaning.lookup(value)
        assert obj == "lesion" and value > 2
        got[component] = {tuple(p) for p in np.argwhere(labels == value)}
    assert sorted(got) == list(range(1, len(reference) + 1))
    assert sorted(map(sorted, got.values())) == sorted(map(sorted, reference))


def test_a_tumour_keeps_one_component_id_through_its_slices() -> None:
    labels = np.zeros((6, 20, 20), np.uint16)
    labels[1:5, 2:6, 2:6] = 3  # first tumour, four slices
    labels[2:4, 12:18, 12:18] = 3  # second tumour
    labels[:, 8:10, :] = 1  # an organ crossing every slice, not split
    meaning = value_maps({1: "liver", 3: "lesion"}, None, 1)[0]
    split_components(labels, meaning, {"lesion"})
    first, second = labels[1, 3, 3], labels[2, 14, 14]
    assert first != second and labels[4, 3, 3] == first and labels[3, 14, 14] == second
    assert meaning.lookup(int(first)) == ("lesion", 1)
    assert meaning.lookup(int(second)) == ("lesion", 2)
    kept, unknown = kept_masks(labels[2][None], [meaning], 0)
    assert [(k.object, k.component) for k in kept] == [("liver", 0), ("lesion", 1), ("lesion", 2)]
    assert not unknown


def test_instance_maps_are_not_split_again() -> None:
    labels = np.zeros((10, 10), np.uint16)
    labels[0:2, 0:2] = 5
    labels[5:7, 5:7] = 5
    meaning = ValueMap({}, instances="cell")
    split_components(labels, meaning, {"cell"})
    assert set(np.unique(labels)) == {0, 5} and meaning.lookup(5) == ("cell", 0)
