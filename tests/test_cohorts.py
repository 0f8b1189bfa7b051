"""Case identity is (dataset, cohort, case): TotalSegmentator's CT s0001 and MR s0001 are two
patients, CHAOS's MR series of case 1 are one (their parts name one cohort) and its CT case 1
another. The splits, `n_cases` and the case bootstrap's clusters follow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from helpers import phantom, write_volume

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.harmonize.splits import patient, split_of
from cosmos_bench.report.tables.summaries import per_mask, summarise

HEAD = """id: {id}
name: cohort test
homepage: none
licence: CC0-1.0
citation: none
source: {{url: "file:none.zip", access: generated}}
parts:
"""
PART = """  - name: {name}
{cohort}    modality: {modality}
    format: {{adapter: volume-pairs, images: "{name}/img/*.nii.gz",
              labels: "{name}/lab/{{case}}.nii.gz"}}
    labels: {{1: liver, 2: lesion}}
"""
#: (part, cohort line, modality): TotalSegmentator's two releases, CHAOS's CT and MR series
TOTALSEG = [("ct", "", "CT"), ("mr", "", "MR")]
CHAOS = [("ct", "", "CT"), ("mr-t1", "    cohort: mr\n", "T1W-MRI"),
         ("mr-t2", "    cohort: mr\n", "T2W-MRI")]  # fmt: skip
CASES = ("s0001", "s0002")


def _index(tiny_root: Path, dataset: str, parts: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Harmonize a card whose parts all number their cases s0001, s0002."""
    card = HEAD.format(id=dataset) + "".join(
        PART.format(name=n, cohort=c, modality=m) for n, c, m in parts
    )
    (tiny_root / "config" / "datasets" / f"{dataset}.yaml").write_text(card)
    raw = tiny_root / dataset
    for k, (name, _, _) in enumerate(parts):
        for j, case in enumerate(CASES):
            image, labels = phantom(seed=10 * k + j)
            write_volume(image, raw / name / "img" / f"{case}.nii.gz", (0.8, 0.8, 3.0))
            write_volume(labels, raw / name / "lab" / f"{case}.nii.gz", (0.8, 0.8, 3.0))
    loaded = load_card(tiny_root, dataset, load_ontology(tiny_root))
    return harmonize(loaded, raw, tiny_root / f"{dataset}.parquet", tiny_root / f"{dataset}-shards")


def _n_cases(index: pd.DataFrame) -> tuple[int, list[str]]:
    """n_cases of the whole dataset in the report's summary, and its case-bootstrap clusters."""
    scores = index.assign(model="m", strategy="S5", selection="single", repeat=0, dice=0.8,
                          iou=0.7, nsd=0.9, hd95_mm=1.0, hd_px=1.0, aspect_ratio=0.5,
                          intensity_difference=1.0, f_final=1.0, modality_code=0)  # fmt: skip
    masks = per_mask(scores)
    table = summarise(masks, "dataset", seed=0, n_boot=10)
    return int(table.n_cases.iloc[0]), sorted(masks.case_key.unique())


def test_two_releases_numbering_cases_alike_are_different_patients(tiny_root: Path) -> None:
    index = _index(tiny_root, "totalseg-like", TOTALSEG)
    assert set(zip(index.part, index.cohort, strict=True)) == {("ct", "ct"), ("mr", "mr")}
    n_cases, clusters = _n_cases(index)
    assert n_cases == 4
    assert clusters == [f"totalseg-like/{p}/{c}" for p in ("ct", "mr") for c in CASES]
    for (cohort, case), split in index.groupby(["cohort", "case"]).split.first().items():
        assert split == split_of("totalseg-like", f"{cohort}/{case}")


def test_parts_naming_one_cohort_share_patients_and_splits(tiny_root: Path) -> None:
    index = _index(tiny_root, "chaos-like", CHAOS)
    assert set(index.cohort) == {"ct", "mr"}
    assert (index.groupby(["cohort", "case"]).split.nunique() == 1).all()  # both MR series
    n_cases, clusters = _n_cases(index)
    assert n_cases == 4  # CT 1, 2 and MR 1, 2: not 6 (per series) nor 2 (per case id)
    assert clusters == [f"chaos-like/{p}/{c}" for p in ("ct", "mr") for c in CASES]
    mr = index[index.cohort == "mr"].groupby("case").part.nunique()
    assert (mr == 2).all()


def test_a_single_part_card_keeps_the_case_id_as_its_patient(tiny_root: Path) -> None:
    """The shorthand card's cohort is '': a patient is its case id, split as before cohorts."""
    assert patient("", "c7") == "c7" and patient("mr", "c7") == "mr/c7"
    card = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    index = harmonize(card, tiny_root / "raw", tiny_root / "i.parquet", tiny_root / "s")
    assert set(index.cohort) == {""} and set(index.split) == {split_of("tiny", "c1")}
    assert _n_cases(index) == (1, ["tiny/c1"])
