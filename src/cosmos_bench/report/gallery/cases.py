"""Which masks the case gallery shows: per target and (model, strategy), the worst, median and
best mask, and the mask where the model's own choice loses most against the oracle's.

Chosen from the per-mask scores alone, so the gallery job reads only these masks' images and
predictions. One-shot strategies are read at their single prompt, click strategies after their
last click; the jittered strategies belong to the robustness study and are left out. Ties break
by mask id, so the same scores always give the same cases.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from cosmos_bench.core.strategies import is_jittered

#: the rule whose Dice a picture shows: the paper's oracle, or the only answer
HEADLINE = ("oracle", "single")
#: the three masks of each (target, model, strategy), in the order they are shown
ROLES = ("worst", "median", "best")
#: the two pictures of the largest oracle - score gap: the same mask under each rule
GAP_ROLES = ("gap: oracle", "gap: score")
CASE_COLUMNS = [
    "target", "model", "strategy", "selection", "role", "mask_id", "dataset", "case", "uid",
    "repeat", "click", "dice", "file",
]  # fmt: skip
_KEYS = ["target", "model", "strategy"]


def shown_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, strategy, selection, mask): one-shot strategies at click 0 and
    repeat 0, click strategies at their last click; jittered strategies left out."""
    rows = scores[~scores["strategy"].map(is_jittered) & (scores["repeat"] == 0)]
    last = rows.groupby(["model", "strategy"])["click"].transform("max")
    return rows[rows["click"] == last].reset_index(drop=True)


def _ranked(group: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """(role, row) for the worst, median (the lower one) and best mask; a mask that fills
    several roles is shown once, under all of them."""
    ordered = group.sort_values(["dice", "mask_id"], kind="mergesort")
    at = {"worst": 0, "median": (len(ordered) - 1) // 2, "best": len(ordered) - 1}
    roles: dict[int, list[str]] = {}
    for role in ROLES:
        roles.setdefault(at[role], []).append(role)
    return [(" = ".join(names), ordered.iloc[i]) for i, names in sorted(roles.items())]


def _largest_gap(group: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """The mask with the largest oracle - score Dice gap (none when no mask has a gap)."""
    oracle = group[group["selection"] == "oracle"].set_index("mask_id")
    score = group[group["selection"] == "score"].set_index("mask_id")
    both = oracle.index.intersection(score.index)
    if both.empty:
        return []
    gap = (oracle.loc[both, "dice"] - score.loc[both, "dice"]).sort_index()
    if gap.max() <= 0:
        return []
    mask_id = gap.idxmax()  # the first of equal gaps in mask-id order
    return [(GAP_ROLES[0], oracle.loc[mask_id].rename(mask_id)),
            (GAP_ROLES[1], score.loc[mask_id].rename(mask_id))]  # fmt: skip


def picture_name(model: str, strategy: str, selection: str, mask_id: str, repeat: int,
                 click: int) -> str:  # fmt: skip
    """A file name for one drawn prediction: a hash, since mask ids hold '/', '#' and '@'."""
    key = "\t".join([model, strategy, selection, mask_id, str(repeat), str(click)])
    return f"case-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def choose_cases(scores: pd.DataFrame) -> pd.DataFrame:
    """The gallery's cases (CASE_COLUMNS and the `candidate` their selection chose), sorted by
    target, model, strategy and role."""
    rows = shown_rows(scores)
    records = []
    for (target, model, strategy), group in rows.groupby(_KEYS, sort=True):
        headline = group[group["selection"].isin(HEADLINE)]
        picked = _ranked(headline) if len(headline) else []
        for order, (role, row) in enumerate([*picked, *_largest_gap(group)]):
            mask_id = row.name if "mask_id" not in row else row["mask_id"]
            records.append({
                "target": target, "model": model, "strategy": strategy,
                "selection": row["selection"], "role": role, "mask_id": mask_id,
                "dataset": row["dataset"], "case": row["case"], "uid": row["uid"],
                "repeat": int(row["repeat"]), "click": int(row["click"]),
                "dice": float(row["dice"]), "candidate": int(row["candidate"]), "order": order,
                "file": picture_name(model, strategy, row["selection"], mask_id,
                                     int(row["repeat"]), int(row["click"])),
            })  # fmt: skip
    cases = pd.DataFrame(records, columns=[*CASE_COLUMNS, "candidate", "order"])
    cases = cases.sort_values([*_KEYS, "order"], kind="mergesort", ignore_index=True)
    return cases[[*CASE_COLUMNS, "candidate"]]
