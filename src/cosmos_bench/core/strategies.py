"""Prompt strategies built from a ground-truth mask, as COSMOS (paper Sec. 3.3) and MedSAM do.

Why each choice was made, and where the paper, its code and MedSAM differ:
docs/protocols.md ("The strategies' rules, choice by choice").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from cosmos_bench.core import authors_points
from cosmos_bench.core.prompt import Prompt, tight_box

STRATEGIES = ("S2", "S3", "S4", "S5", "S6", "medsam-box", "medsam-box-N", "text", "text-box")
#: the object's name alone (its instances matched as S1's masks), and with S5's box
TEXT, TEXT_BOX = "text", "text-box"
TEXT_STRATEGIES = (TEXT, TEXT_BOX)
#: whose rule places S2-S4's and S6's points: the paper's (below) or the authors' code's
POINT_RULES = ("paper", "cosmos-code")
MEDSAM_MARGIN = 5  # px per side, MedSAM's deterministic inference bbox_shift
N_POINTS = 5  # points of each sign in S3 and S4
_MEDSAM_BOX = re.compile(r"medsam-box(?:-(\d+))?")
# Jitter mode -> the prompt kind it perturbs.
JITTER_MODES = {
    "centre-only": "point",
    "all-points": "point",
    "box-shift": "box",
    "box-edges": "box",
    "box-edges-signed": "box",
}
_JITTERED = re.compile(rf"(S[2-6])-({'|'.join(JITTER_MODES)})-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)")


def _strided(ys: np.ndarray, xs: np.ndarray, n: int) -> np.ndarray:
    """(x, y) of the first min(n, N) pixels of a stride N // n (at least 1) over N pixels."""
    at = np.arange(min(n, len(ys))) * max(1, len(ys) // n)
    return np.stack([xs[at], ys[at]], axis=1).astype(np.float32)


def positive_points(mask: np.ndarray, n: int, box: np.ndarray | None = None) -> np.ndarray:
    """Centroid first when inside the mask, then a uniform stride over foreground pixels.

    Computed on the mask's tight box (`box`, found here when not given; its pixels in the same
    row-major order, the moments shifted back exactly: integer sums), so a small object in a
    large image costs its box."""
    x0, y0, x1, y1 = (int(v) for v in (tight_box(mask) if box is None else box))
    crop = mask[y0 : y1 + 1, x0 : x1 + 1]
    ys, xs = np.nonzero(crop)
    points = _strided(ys + y0, xs + x0, n)
    m = cv2.moments(crop.astype(np.uint8), binaryImage=True)
    cx = (m["m10"] + x0 * m["m00"]) / m["m00"]
    cy = (m["m01"] + y0 * m["m00"]) / m["m00"]
    px, py = int(round(cx)), int(round(cy))
    if mask[py, px]:
        repeat = np.flatnonzero((points[1:] == (px, py)).all(axis=1))
        if repeat.size:
            points[1 + repeat[0]] = points[0]
        points[0] = (cx, cy)
    return points


def _positives(mask: np.ndarray, n: int, box: np.ndarray, memo: dict | None) -> np.ndarray:
    """positive_points(mask, n, box), from the mask's N_POINTS positives where `memo` keeps
    them: S2 and S6's one point is the first of S3 and S4's five (the same first pixel, the
    same centroid swap)."""
    if memo is None or n > N_POINTS:
        return positive_points(mask, n, box)
    if "positives" not in memo:
        memo["positives"] = positive_points(mask, N_POINTS, box)
    return memo["positives"][:n].copy()


def enlarged_box(mask: np.ndarray, box: np.ndarray | None = None) -> tuple[int, int, int, int]:
    """Pixel bounds (inclusive) of the tight box scaled 2x about its centre, clipped."""
    x0, y0, x1, y1 = (int(v) for v in (tight_box(mask) if box is None else box))
    dx, dy = (x1 - x0) // 2, (y1 - y0) // 2
    h, w = mask.shape
    return max(0, x0 - dx), max(0, y0 - dy), min(w - 1, x1 + dx), min(h - 1, y1 + dy)


def negative_points(mask: np.ndarray, n: int, box: np.ndarray | None = None) -> np.ndarray:
    """A uniform stride over the non-mask pixels of the enlarged box, row-major."""
    x0, y0, x1, y1 = enlarged_box(mask, box)
    ys, xs = np.nonzero(mask[y0 : y1 + 1, x0 : x1 + 1] == 0)
    return _strided(ys + y0, xs + x0, n)


def medsam_margin(strategy: str) -> int | None:
    """The margin a `medsam-box[-N]` name asks for; None for any other name."""
    match = _MEDSAM_BOX.fullmatch(strategy)
    if match is None:
        return None
    return MEDSAM_MARGIN if match[1] is None else int(match[1])


def medsam_box(mask: np.ndarray, margin: int, box: np.ndarray | None = None) -> np.ndarray:
    """The tight box grown by `margin` px per side, kept on the image's pixels."""
    h, w = mask.shape
    tight = tight_box(mask) if box is None else box
    grown = tight + np.array([-margin, -margin, margin, margin], np.float32)
    return np.clip(grown, 0, [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)


def _points(
    strategy: str,
    positives: np.ndarray,
    negatives: np.ndarray | None = None,
    box: np.ndarray | None = None,
) -> Prompt:
    """Positives first, then negatives, labelled 1 and 0."""
    points = positives if negatives is None else np.concatenate([positives, negatives])
    labels = np.zeros(len(points), np.int64)
    labels[: len(positives)] = 1
    return Prompt(strategy, points=points, point_labels=labels, box=box)


def make_prompt(
    strategy: str,
    mask: np.ndarray,
    rng: np.random.Generator | None = None,
    points: str = "paper",
    phrase: str | None = None,
    *,
    box: np.ndarray | None = None,
    memo: dict | None = None,
) -> Prompt:
    """The prompt of one strategy for one ground-truth mask; `rng` draws a jittered strategy's
    perturbation (required there, ignored by the deterministic ones); `points` is the rule of
    the point strategies (POINT_RULES; `cosmos-code`: core.authors_points); `phrase` names the
    object for the text strategies (infer.text); `box` is the mask's tight box where the
    caller has it (store.truth keeps it), so a mask prompted by every strategy is scanned once;
    `memo` keeps what the mask's strategies share (its positive points) across calls."""
    if points not in POINT_RULES:
        raise ValueError(f"unknown point rule {points!r}; choose from {POINT_RULES}")
    if box is None:
        if not mask.any():
            raise ValueError(f"an empty mask has no {strategy} prompt")
        box = tight_box(mask)
    jitter = jitter_of(strategy)
    if jitter is not None:
        if rng is None:
            raise ValueError(
                f"{strategy} is random: pass rng=np.random.default_rng(prompt_seed(...))"
            )
        base = make_prompt(jitter.base, mask, points=points, box=box, memo=memo)
        return replace(jitter.apply(base, mask.shape, rng), strategy=strategy)
    if points == "cosmos-code" and strategy in authors_points.COUNT:
        coords, labels = authors_points.authors_points(mask, strategy)
        return Prompt(strategy, points=coords, point_labels=labels,
                      box=box.copy() if strategy == "S6" else None)  # fmt: skip
    if strategy in TEXT_STRATEGIES:
        if not phrase:
            raise ValueError(f"{strategy} names the object: pass its phrase (infer.text)")
        return Prompt(strategy, box=box.copy() if strategy == TEXT_BOX else None, text=phrase)
    if strategy == "S2":
        return _points(strategy, _positives(mask, 1, box, memo))
    if strategy == "S3":
        return _points(strategy, _positives(mask, N_POINTS, box, memo))
    if strategy == "S4":
        negatives = negative_points(mask, N_POINTS, box)
        return _points(strategy, _positives(mask, N_POINTS, box, memo), negatives)
    if strategy == "S5":
        return Prompt(strategy, box=box.copy())  # each prompt its own array: callers may scale it
    if strategy == "S6":
        return _points(strategy, _positives(mask, 1, box, memo), box=box.copy())
    margin = medsam_margin(strategy)
    if margin is not None:
        return Prompt(strategy, box=medsam_box(mask, margin, box))
    raise ValueError(
        f"unknown strategy {strategy!r}; known: {STRATEGIES} and <base>-<mode>-<lo>-<hi>, "
        f"mode in {tuple(JITTER_MODES)}"
    )


# Prompt kinds of every COSMOS strategy (S1, Everything mode, decodes a grid of points: it needs
# point prompts) and of iterative clicking from a point or a box.
KINDS = {
    "S1": frozenset({"point"}),
    "clicks-S2": frozenset({"point"}),
    "clicks-S5": frozenset({"point", "box"}),
    "cvpr25": frozenset({"point", "box"}),
    "S2": frozenset({"point"}),
    "S3": frozenset({"point"}),
    "S4": frozenset({"point"}),
    "S5": frozenset({"box"}),
    "S6": frozenset({"box", "point"}),
    TEXT: frozenset({"text"}),
    TEXT_BOX: frozenset({"text", "box"}),
}


PAPER_STRATEGIES = ("S2", "S3", "S4", "S5", "S6")  # the prompted ones, each jitterable
#: the CVPR 2025 interactive challenge's protocol (S5's box, then five clicks; infer.clicks)
CVPR25 = "cvpr25"
#: iterative clicking from S2's point or S5's box, and the CVPR 2025 protocol
CLICK_STARTS = ("clicks-S2", "clicks-S5", CVPR25)


def kinds_of(strategy: str) -> frozenset[str]:
    """Prompt kinds a strategy uses, without building a prompt; empty when unknown (a jittered
    name that cannot apply raises, see `jitter_of`)."""
    if medsam_margin(strategy) is not None:
        return frozenset({"box"})
    return KINDS.get(base_of(strategy), frozenset())


@dataclass(frozen=True)
class Jitter:
    """A jittered strategy's parts: the strategy it perturbs, how, and the length range (px)."""

    base: str
    mode: str
    lo: int
    hi: int

    def apply(self, prompt: Prompt, shape: tuple[int, int], rng: np.random.Generator) -> Prompt:
        """The base prompt perturbed as the module docstring says, clipped to an H x W image."""
        h, w = shape
        if JITTER_MODES[self.mode] == "point":
            points = prompt.points.astype(np.float64)
            moved = 1 if self.mode == "centre-only" else len(points)
            points[:moved] += _displacements(rng, moved, self.lo, self.hi)
            return replace(prompt, points=np.clip(points, 0, [w - 1, h - 1]).astype(np.float32))
        box = prompt.box.astype(np.float64)
        if self.mode == "box-shift":
            box += np.tile(_displacements(rng, 1, self.lo, self.hi)[0], 2)
        else:
            step = rng.uniform(self.lo, self.hi, 4) * [-1, -1, 1, 1]
            if self.mode == "box-edges-signed":
                step *= rng.choice([-1, 1], 4)
            box += step
        box = np.clip(box, 0, [w - 1, h - 1, w - 1, h - 1])
        spanned = np.concatenate([np.minimum(box[:2], box[2:]), np.maximum(box[:2], box[2:])])
        return replace(prompt, box=spanned.astype(np.float32))


def _displacements(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """n vectors (dx, dy) of length uniform in [lo, hi] px, direction uniform on the circle."""
    length = rng.uniform(lo, hi, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    return length[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def jitter_of(strategy: str) -> Jitter | None:
    """The perturbation a `<base>-<mode>-<lo>-<hi>` name asks for; None for any other name.

    A name of that form that cannot apply (a mode whose prompt kind the base lacks, lo > hi) is
    an error rather than unknown: it is a typo in a study, not a strategy to skip."""
    match = _JITTERED.fullmatch(strategy)
    if match is None:
        return None
    base, mode, lo, hi = match[1], match[2], int(match[3]), int(match[4])
    kind = JITTER_MODES[mode]
    if kind not in KINDS[base]:
        raise ValueError(f"unknown strategy {strategy!r}: {mode} moves a {kind}, {base} has none")
    if lo > hi:
        raise ValueError(f"strategy {strategy!r}: its range {lo}-{hi} has lo > hi")
    return Jitter(base, mode, lo, hi)


def is_jittered(strategy: str) -> bool:
    """Whether a strategy is random, so that its repeats differ and need seeds."""
    return jitter_of(strategy) is not None


def base_of(strategy: str) -> str:
    """The unperturbed strategy a jittered one is compared with; any other name is its own."""
    jitter = jitter_of(strategy)
    return strategy if jitter is None else jitter.base


def prompt_seed(seed: int, mask_id: str, strategy: str, repeat: int) -> int:
    """The seed of one repeat of one mask's jittered prompt: 64 bits of a SHA-256 of the key.

    A stable hash (Python's hash() is salted per process) of the key alone, so the prompt does
    not depend on the machine, the run, or which masks and strategies were drawn before it."""
    key = json.dumps([int(seed), str(mask_id), str(strategy), int(repeat)])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def jitter_rng(seed: int, mask_id: str, strategy: str, repeat: int) -> np.random.Generator | None:
    """A jittered strategy's generator, seeded from (seed, mask, strategy, repeat) alone, so no
    processing order changes a prompt; None for a deterministic strategy."""
    if not is_jittered(strategy):
        return None
    return np.random.default_rng(prompt_seed(seed, mask_id, strategy, repeat))


def jitter_strategies(
    bases: Iterable[str], modes: Iterable[str], ranges: Iterable[Sequence[int]]
) -> list[str]:
    """The jittered names of a study config, bases x modes x ranges in that order, leaving out
    each (base, mode) whose prompt kind the base lacks (S2 with box-shift)."""
    modes, ranges = list(modes), [tuple(r) for r in ranges]
    names = []
    for base in bases:
        if base not in PAPER_STRATEGIES:
            raise ValueError(f"jitter base {base!r} is not one of S2-S6")
        for mode in modes:
            if mode not in JITTER_MODES:
                raise ValueError(f"unknown jitter mode {mode!r}; known: {tuple(JITTER_MODES)}")
            if JITTER_MODES[mode] not in KINDS[base]:
                continue
            for r in ranges:
                name = f"{base}-{mode}-" + "-".join(map(str, r))
                if len(r) != 2 or jitter_of(name) is None:
                    raise ValueError(f"jitter range {list(r)} is not [lo, hi] in whole px >= 0")
                names.append(name)
    return names
