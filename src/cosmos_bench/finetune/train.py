"""Fine-tune a SAM-style model on the harmonized training split: the paper's decoder arm, LoRA
on the image encoder, or both; resumable after a kill, deterministic on a CPU.

`embed` encodes a shard's training images once (the decoder arm's cache); `train` runs the
epochs. The paper's recipe (COSMOS train_only_box.py): box prompts, AdamW lr 1e-4, weight decay
0.01, one mask per prompt, the checkpoint with the best validation Dice. The loss (finetune.loss)
is per mask, at the model's input size (`full`), on the low-res logits (`low`) or at the image's
own size (`native`, the authors'); validation Dice is the single output's or, as the authors',
the best of SAM's three (`validation: oracle`) (docs/deviations.md rows 9 and 17).
Networks stay in eval mode (TinyViT's batch norms keep their statistics; SAM has no dropout).

Every step's randomness comes from (seed, epoch, step): the epoch's order from (seed, epoch),
the box jitter from (seed, epoch, step). A state file written every `checkpoint_every` steps
(atomically) holds the trainable weights, the optimizer and the log, so a run killed at any
moment resumes from its last state and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.hashing import sha256_file
from cosmos_bench.finetune.lora import add_lora, merge_lora
from cosmos_bench.finetune.loss import NativeTargets, batch_loss, best_dice
from cosmos_bench.finetune.state import load_state, save_state
from cosmos_bench.finetune.trainset import (
    Embeddings,
    ShardCache,
    encode,
    input_box,
    jittered_box,
    loss_target,
)
from cosmos_bench.models.base import PromptableModel, autocast

LOG_COLUMNS = ["epoch", "step", "phase", "loss", "dice", "masks"]
SELECTIONS = ("best-val", "last")
#: validation Dice of the checkpoint choice: the single output's, or the best of SAM's three
VALIDATIONS = ("single", "oracle")


@dataclass(frozen=True)
class Settings:
    """The run's recipe; its hash keys the resume state, so a changed recipe starts over."""

    arm: str = "decoder"
    epochs: int = 20
    batch_size: int = 2
    lr: float = 1e-4
    weight_decay: float = 0.01
    box_jitter: int = 0
    loss_resolution: str = "full"
    lora_rank: int = 4
    lora_alpha: float = 4.0
    select: str = "best-val"
    validation: str = "single"
    checkpoint_every: int = 50
    seed: int = 0

    def key(self, objects: list[str], base_sha256: str) -> str:
        recipe = {**asdict(self), "objects": objects, "base": base_sha256}
        recipe.pop("checkpoint_every")  # when states are written does not change the result
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def configure(model: PromptableModel, settings: Settings) -> dict[str, torch.nn.Parameter]:
    """Freeze everything, then open the arm's parameters; returns them by name."""
    net = model.net
    for p in net.parameters():
        p.requires_grad_(False)
    if settings.arm in ("lora", "both"):
        torch.manual_seed(settings.seed)  # the adapters' A matrices
        add_lora(net.image_encoder, settings.lora_rank, settings.lora_alpha)
        net.to(model.device)
    if settings.arm in ("decoder", "both"):
        for p in net.mask_decoder.parameters():
            p.requires_grad_(True)
    net.eval()
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


class Examples:
    """Turns index rows into (features, box, target) on the device, for either arm."""

    def __init__(
        self,
        model: PromptableModel,
        shards: ShardCache,
        cache: Embeddings | None,
        jitter: int,
        loss_resolution: str = "full",
    ) -> None:
        self.model = model
        self.shards = shards
        self.cache = cache
        self.jitter = jitter
        self.loss_resolution = loss_resolution

    def batch(self, rows: pd.DataFrame, rng: np.random.Generator | None):
        device = self.model.device
        if self.cache is not None:
            feats = torch.stack([self.cache.features[u] for u in rows.uid]).to(device).float()
            frames = [(self.cache.scale[u], self.cache.covered[u]) for u in rows.uid]
            size = self.cache.size
        else:
            views = [self.model.train_view(self.shards.image(r)) for r in rows.itertuples()]
            feats = encode(self.model, views)
            frames = [(v.scale, v.covered) for v in views]
            size = views[0].input.shape[-1]
        boxes = [
            input_box(jittered_box(r, self.jitter, rng), scale)
            for r, (scale, _) in zip(rows.itertuples(), frames, strict=True)
        ]
        targets = [
            loss_target(self.shards.mask(r), covered, size, self.loss_resolution).to(device)
            for r, (_, covered) in zip(rows.itertuples(), frames, strict=True)
        ]
        box_t = torch.as_tensor(np.stack(boxes), device=device)[:, None]
        if self.loss_resolution == "native":
            return feats, box_t, NativeTargets(size, [c for _, c in frames], targets)
        return feats, box_t, torch.stack(targets)


def decoder_logits(
    model: PromptableModel, feats: torch.Tensor, boxes: torch.Tensor, multimask: bool = False
):
    """(B, 1, 256, 256) low-res logits (B, 3, ... with `multimask`), one image embedding and
    one box per sample.

    segment-anything's mask decoder repeats one embedding over all prompts of a call, so the
    samples (each from its own image) are decoded one call each."""
    net = model.net
    pe = net.prompt_encoder.get_dense_pe()
    out = []
    with autocast(feats.device, model.precision):
        for i in range(len(feats)):
            with torch.no_grad():
                sparse, dense = net.prompt_encoder(points=None, boxes=boxes[i], masks=None)
            logits, _ = net.mask_decoder(
                image_embeddings=feats[i : i + 1],
                image_pe=pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
            )
            out.append(logits.float())
    return torch.cat(out)


def evaluate(
    model: PromptableModel,
    examples: Examples,
    masks: pd.DataFrame,
    batch: int,
    validation: str = "single",
):
    """Mean loss and Dice (at the loss's resolution) on the tight boxes of `masks`; the Dice of
    the single output, or (`oracle`) the best of the three multimask outputs."""
    losses, dices = [], []
    with torch.no_grad():
        for first in range(0, len(masks), batch):
            rows = masks.iloc[first : first + batch]
            feats, boxes, target = examples.batch(rows, None)
            logits = decoder_logits(model, feats, boxes)
            losses.append(float(batch_loss(logits, target)) * len(rows))
            if validation == "oracle":
                logits = decoder_logits(model, feats, boxes, multimask=True)
            dices += best_dice(logits, target)
    return sum(losses) / len(masks), float(np.mean(dices))


@dataclass
class Outputs:
    weights: Path
    meta: Path
    log: Path
    state: Path


def train(
    model: PromptableModel,
    settings: Settings,
    train_masks: pd.DataFrame,
    val_masks: pd.DataFrame,
    examples: Examples,
    out: Outputs,
    key: str,
) -> dict:
    """Run (or resume) the epochs; write the weights, their metadata and the loss log."""
    params = configure(model, settings)
    optimizer = torch.optim.AdamW(
        params.values(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    steps = -(-len(train_masks) // settings.batch_size)
    state = load_state(out.state, key)
    log: list[dict] = []
    best = {"epoch": -1, "dice": -1.0, "weights": None}
    epoch, step = 0, 0
    if state is not None:
        with torch.no_grad():
            for name, value in state["trainable"].items():
                params[name].copy_(value)
        optimizer.load_state_dict(state["optimizer"])
        log, best, epoch, step = state["log"], state["best"], state["epoch"], state["step"]
        print(f"resuming at epoch {epoch + 1}, step {step + 1}/{steps}", file=sys.stderr)

    def snapshot() -> dict[str, torch.Tensor]:
        return {n: p.detach().clone().cpu() for n, p in params.items()}

    def save(next_epoch: int, next_step: int) -> None:
        save_state(out.state, {
            "key": key, "epoch": next_epoch, "step": next_step, "trainable": snapshot(),
            "optimizer": optimizer.state_dict(), "log": log, "best": best,
        })  # fmt: skip

    start = time.perf_counter()
    while epoch < settings.epochs:
        order = np.random.default_rng([settings.seed, epoch]).permutation(len(train_masks))
        while step < steps:
            rows = train_masks.iloc[order[step * settings.batch_size :][: settings.batch_size]]
            rng = np.random.default_rng([settings.seed, epoch, step])
            feats, boxes, target = examples.batch(rows, rng)
            loss = batch_loss(decoder_logits(model, feats, boxes), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            log.append({"epoch": epoch + 1, "step": step + 1, "phase": "train",
                        "loss": loss.item(), "dice": float("nan"), "masks": len(rows)})  # fmt: skip
            step += 1
            if step % settings.checkpoint_every == 0 and step < steps:
                save(epoch, step)
        epoch_losses = [r["loss"] for r in log if r["epoch"] == epoch + 1 and r["phase"] == "train"]
        mean = np.mean(epoch_losses)
        line = f"epoch {epoch + 1}/{settings.epochs}: train loss {mean:.4f}"
        if len(val_masks):
            val_loss, val_dice = evaluate(
                model, examples, val_masks, settings.batch_size, settings.validation
            )
            log.append({"epoch": epoch + 1, "step": steps, "phase": "val", "loss": val_loss,
                        "dice": val_dice, "masks": len(val_masks)})  # fmt: skip
            line += f", val loss {val_loss:.4f}, val Dice {val_dice:.4f}"
            if val_dice > best["dice"]:
                best = {"epoch": epoch + 1, "dice": val_dice, "weights": snapshot()}
        print(f"{line} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
        epoch, step = epoch + 1, 0
        save(epoch, step)
    return finish(model, settings, params, best, log, out)


def finish(model, settings: Settings, params: dict, best: dict, log: list[dict], out: Outputs):
    """Load the selected epoch's weights, merge LoRA, write weights + metadata + log."""
    chosen = settings.epochs
    if settings.select == "best-val" and best["weights"] is not None:
        chosen = best["epoch"]
        with torch.no_grad():
            for name, value in best["weights"].items():
                params[name].copy_(value)
    elif settings.select == "best-val":
        print("no validation masks: keeping the last epoch", file=sys.stderr)
    merge_lora(model.net)
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.net.state_dict().items()}, buffer)
    write_bytes(out.weights, buffer.getvalue())
    frame = pd.DataFrame(log, columns=LOG_COLUMNS)
    write_bytes(out.log, frame.to_csv(index=False, float_format="%.6g").encode())
    return {"selected_epoch": chosen, "val_dice": best["dice"] if best["weights"] else None,
            "trainable_parameters": sum(p.numel() for p in params.values()),
            "sha256": sha256_file(out.weights)}  # fmt: skip
