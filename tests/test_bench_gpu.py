"""benchmarks/gpu.py's CPU dry run: the GPU benchmark's whole code path (the real engine and
LiteMedSAM's decoder behind a stand-in encoder, tiny slices), its JSON and its tables, so the
script a user takes to a GPU machine is known to run to the end before it gets there."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu.py"


def positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def share(value: object) -> bool:
    return isinstance(value, int | float) and 0.0 <= value <= 1.0


def test_gpu_benchmark_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(out), "--peak-tflops", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    (path,) = out.glob("gpu-*-dry-run.json")
    result = json.loads(path.read_text())

    assert result["dry_run"] is True
    assert "interrupted" not in result
    machine = result["machine"]
    assert machine["device"] == "cpu" and machine["torch"] and machine["cpu_count"] >= 1
    assert {"gpu", "cuda", "summary", "torch_threads"} <= machine.keys()
    assert result["peak_tflops"] == 1.0 and positive(result["wall_seconds"])

    flops = result["models"]["litemedsam"]["flops"]
    assert all(positive(flops[k]) for k in ("encoder_per_image", "decoder_per_image"))
    assert result["models"]["litemedsam"]["weights_sha256_matches_config"] is True

    runs = {(r["precision"], r["mode"]): r for r in result["runs"]}
    assert runs.keys() == {("fp32", "eager"), ("bf16", "eager")}
    for (precision, _), run in runs.items():
        assert run["status"] == "ok", run
        assert run["model"] == "litemedsam" and run["precision"] == precision
        assert run["machine"] == machine["summary"]
        for key in ("images_per_s", "prompts_per_s", "seconds", "warmup_seconds",
                    "peak_memory_bytes", "tflops_per_s", "mfu", "ratio"):  # fmt: skip
            assert positive(run[key]), (key, run[key])
        assert run["prompts"] == run["images"] * 2 * 5  # two masks per slice, S2-S6
        assert math.isclose(run["prompts_per_s"], 10 * run["images_per_s"])
        assert share(run["encoder_share"]) and share(run["prompt_share"])
    assert runs["fp32", "eager"]["ratio"] == 1.0

    (agree,) = result["agreement"]
    assert (agree["a"], agree["b"], agree["prompts"]) == ("fp32", "bf16", 20)  # a batch
    for rule in ("score_rule", "oracle"):
        x = agree[rule]
        assert share(x["identical_share"]) and share(x["dice_a"]) and share(x["dice_b"])
        assert math.isclose(x["dice_diff_mean"], x["dice_b"] - x["dice_a"], abs_tol=1e-12)

    (s1,) = result["everything"]
    assert s1["status"] == "ok" and s1["points"] == s1["grid"] ** 2
    assert s1["batched"]["points_per_call"] > s1["per_point"]["points_per_call"] == 1
    assert positive(s1["batched"]["images_per_s"]) and positive(s1["per_point"]["images_per_s"])
    assert positive(s1["speedup"]) and share(s1["identical_share_first_image"])

    for text in ("images/s", "litemedsam", "fp32 vs bf16", "S1 (Everything mode)", str(path)):
        assert text in done.stdout
