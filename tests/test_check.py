"""`cosmos-bench datasets check ID`: every case read before harmonizing, every problem listed at
once with the card key that fixes it; the fixes applied, the check passes and harmonize runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import phantom, write_volume

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.cli import main
from cosmos_bench.harmonize.dataset import harmonize

SPACING = (0.8, 0.8, 3.0)


def _case(raw: Path, name: str, labels: np.ndarray | None, seed: int = 0) -> None:
    image, good = phantom(seed=seed)
    write_volume(image, raw / "imagesTr" / f"{name}_0000.nii.gz", SPACING)
    if labels is not None:
        write_volume(good if labels.size == 0 else labels, raw / "labelsTr" / f"{name}.nii.gz",
                     SPACING)  # fmt: skip


def _faulty(raw: Path) -> None:
    """c1 is good; each other case has one problem a card can fix."""
    _, good = phantom()
    _case(raw, "c1", np.empty(0))
    _case(raw, "c2", np.where(good == 2, 7, good).astype(good.dtype))  # value 7 unmapped
    _case(raw, "c3", None)  # no label file
    _case(raw, "c4", np.zeros_like(good))  # empty labels
    _case(raw, "c5", good[:, :64, :])  # the label is not this image's size
    _case(raw, "c6", np.empty(0))
    (raw / "imagesTr" / "c6_0000.nii.gz").write_text("<html>not a volume</html>")


def _check(root: Path, capsys, *extra: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(["--root", str(root), "datasets", "check", "tiny", "--raw", str(root / "raw"),
              *extra])  # fmt: skip
        raise SystemExit(0)
    return stop.value.code, capsys.readouterr().out


def test_every_problem_is_listed_at_once_with_its_fix(tiny_root: Path, capsys) -> None:
    _faulty(tiny_root / "raw")
    code, out = _check(tiny_root, capsys)
    assert code == 1
    assert out.startswith("tiny: 6 cases read; 5 problems:"), out
    for case, what, fix in [
        ("c2", "label values [7] are not in the card", "card's labels"),
        ("c3", "has no label file", "format.unlabelled: skip"),
        ("c4", "its labels are empty", "format.exclude"),
        ("c5", "differs from label shape", "format.exclude"),
        ("c6", "cannot read file", "format.exclude"),
    ]:
        block = out.split(f"case {case}: ", 1)[1].split("\ncase ", 1)[0]
        assert block.startswith(what) or what in block, block
        assert fix in block.replace("\n", " "), block
    assert "case c1:" not in out
    assert "file: " + str(tiny_root / "raw" / "labelsTr" / "c2.nii.gz") in " ".join(out.split())
    # lines fit 100 columns; a path longer than that stands alone on its line, never cut
    assert all(len(line) <= 100 or len(line.split()) == 1 for line in out.splitlines())
    code, text = _check(tiny_root, capsys, "--json")
    report = json.loads(text)
    assert code == 1 and report["cases"] == 6
    assert [p["case"] for p in report["problems"]] == ["c2", "c3", "c4", "c5", "c6"]


def test_the_printed_fixes_make_the_check_pass_and_harmonize_run(tiny_root: Path, capsys) -> None:
    """Map value 7, leave the three broken cases out, skip the unlabelled one: what the fixes
    say, written into the card."""
    _faulty(tiny_root / "raw")
    card = tiny_root / "config" / "datasets" / "tiny.yaml"
    text = card.read_text().replace("labels: {1: liver, 2: lesion}",
                                    "labels: {1: liver, 2: lesion, 7: lesion}")  # fmt: skip
    card.write_text(text.replace("case_suffix: _0000}", "case_suffix: _0000, "
                                 "exclude: [c4, c5, c6], unlabelled: skip}"))  # fmt: skip
    code, out = _check(tiny_root, capsys)
    assert code == 0, out
    assert " ".join(out.split()) == (
        "tiny: 2 cases read, 3 excluded by the card, 1 without labels skipped "
        "(format.unlabelled: skip); no problem found"
    )
    loaded = load_card(tiny_root, "tiny", load_ontology(tiny_root))
    index = harmonize(loaded, tiny_root / "raw", tiny_root / "index.parquet", tiny_root / "shards")
    assert set(index.case) == {"c1", "c2"}
