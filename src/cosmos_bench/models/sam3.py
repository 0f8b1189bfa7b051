"""SAM 3 (Meta, 2025; the `sam3` package) as its own image API runs it, a plug-in of the public
model contract (the `sam3` entry point of the `cosmos_bench.models` group).

Two heads share one image encoding (`Sam3Processor.set_image`: the RGB image squashed to
1008 x 1008 without keeping the aspect ratio, to [0, 1], mean 0.5 / std 0.5):

- **Text** (`text`, `text-box`): the phrase, with the box as a positive exemplar where one is
  given, goes to the grounding head, which answers every instance of the concept whose
  probability (detection x presence) is above `confidence` (0.5, `Sam3Processor`'s default):
  K >= 0 masks, each with its probability as score, matched to the ground truth by
  infer.text. The box is the processor's `add_geometric_prompt` input (centre, size, divided by
  the image's width and height).
- **Points, boxes and masks** (S1-S6, the clicks): the SAM 1 task of the interactive head
  (`Sam3Image.predict_inst`, the model built with `enable_inst_interactivity=True`): 3
  candidates (multimask_output=True) scored by predicted IoU, as for SAM 2, and their low-res
  logits for a later mask prompt.

Weights: Hugging Face `facebook/sam3` (`sam3.pt`, gated: accept the licence on the model page,
then download with a token; docs/models.md). With weights None the architecture keeps its
random init (tests, CPU smoke runs); `blocks` and `text_layers` shorten the vision ViT (32
blocks) and the text encoder (24 layers) with everything else as released, so a CPU test runs
the real architecture at its fixed 1008 px input in seconds.

sam3 0.1.4 builds a few tensors on a hard-coded "cuda" device (facebookresearch/sam3#587,
#550); on any other device the adapter builds and runs the model under a torch function mode
that sends those tensors to the model's device instead (no numerical change).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from cosmos_bench.core.errors import ConfigError
from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel, as_rgb, autocast

RESOLUTION = 1008  # SAM 3's fixed input side
VISION_BLOCKS = 32
GLOBAL_BLOCKS = (7, 15, 23, 31)  # the released ViT's global-attention blocks
TEXT_LAYERS = 24
#: the CLIP BPE vocabulary SAM 3's tokenizer reads; the sam3 wheel does not ship it, the
#: open_clip_torch wheel ships the same file
BPE_PACKAGE, BPE_FILE = "open_clip", "bpe_simple_vocab_16e6.txt.gz"
INSTALL = "pip install --no-deps sam3==0.1.4 && pip install open_clip_torch ftfy regex einops"


@dataclass
class Embedding:
    state: dict[str, Any]  # Sam3Processor's state after set_image
    shape: tuple[int, int]


class SAM3(PromptableModel):
    accepts = frozenset({"box", "point", "mask", "text"})

    def __init__(
        self,
        weights: Path | None,
        device: torch.device,
        seed: int = 0,
        blocks: int = VISION_BLOCKS,
        text_layers: int = TEXT_LAYERS,
        confidence: float = 0.5,
    ) -> None:
        try:
            import sam3.model_builder as builder
            from sam3.model.sam3_image_processor import Sam3Processor
        except ImportError as err:
            raise ConfigError(f"SAM 3 needs the sam3 package ({err})", fix=INSTALL) from err
        self.device = device
        torch.manual_seed(seed)  # random init (weights None) is reproducible
        with _on_device(device), _shortened(builder, blocks, text_layers):
            net = builder.build_sam3_image_model(
                bpe_path=str(bpe_vocabulary()), device="cpu", eval_mode=True,
                checkpoint_path=None if weights is None else str(weights), load_from_HF=False,
                enable_inst_interactivity=True,
            )  # fmt: skip
            if weights is None:
                _init_unset(net.backbone.language_backbone.encoder)
            self.net = net.to(device).eval()
            self.processor = Sam3Processor(
                self.net, resolution=RESOLUTION, device=str(device),
                confidence_threshold=confidence,
            )  # fmt: skip

    def embed(self, image: np.ndarray) -> Embedding:
        rgb = np.ascontiguousarray(as_rgb(image))
        chw = torch.from_numpy(rgb).permute(2, 0, 1)  # an array is read as (C, H, W)
        with _on_device(self.device), autocast(self.device, self.precision):
            state = self.processor.set_image(chw)
        return Embedding(state, rgb.shape[:2])

    def decode(self, embedding: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        with _on_device(self.device), autocast(self.device, self.precision):
            return [self._ground(embedding, p) if p.text is not None
                    else self._interactive(embedding, p) for p in prompts]  # fmt: skip

    @torch.inference_mode()
    def _ground(self, embedding: Embedding, prompt: Prompt) -> Candidates:
        """Every instance of the phrase (with the box as a positive exemplar), on a copy of the
        image's state so prompts never see each other."""
        state = {**embedding.state, "backbone_out": dict(embedding.state["backbone_out"])}
        if prompt.box is None:  # encodes the phrase and grounds it
            state = self.processor.set_text_prompt(prompt.text, state)
        else:  # the phrase's features first, so the box grounds once with them
            state["backbone_out"].update(
                self.net.backbone.forward_text([prompt.text], device=str(self.device))
            )
            h, w = embedding.shape
            x0, y0, x1, y1 = (float(v) for v in prompt.box)
            box = [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]
            state = self.processor.add_geometric_prompt(box, True, state)
        scores = state["scores"].float().cpu().numpy().astype(np.float64)
        order = np.argsort(-scores, kind="stable")
        masks = state["masks"][:, 0].cpu().numpy().astype(bool)
        return Candidates(masks[order], scores[order])

    def _interactive(self, embedding: Embedding, prompt: Prompt) -> Candidates:
        """SAM 1's task on SAM 3's interactive head: 3 candidates and their IoU predictions."""
        masks, scores, low_res = self.net.predict_inst(
            embedding.state,
            point_coords=prompt.points,
            point_labels=prompt.point_labels,
            box=prompt.box,
            mask_input=None if prompt.mask is None else prompt.mask[None],
            multimask_output=True,
        )
        return Candidates(
            np.asarray(masks).astype(bool), np.asarray(scores, np.float64), None,
            np.asarray(low_res, np.float32),
        )  # fmt: skip


def bpe_vocabulary() -> Path:
    """The CLIP BPE file from the installed open_clip_torch, found without importing it."""
    spec = importlib.util.find_spec(BPE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("SAM 3's text encoder needs the CLIP BPE vocabulary that the "
                          "open_clip_torch wheel ships", fix=INSTALL)  # fmt: skip
    path = Path(next(iter(spec.submodule_search_locations))) / BPE_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the installed open_clip_torch", fix=INSTALL)
    return path


def _init_unset(encoder: torch.nn.Module) -> None:
    """The text encoder leaves two parameters as torch.empty (a checkpoint always sets them);
    random init draws them as CLIP's text transformer does, so no NaN reaches the network."""
    width = encoder.positional_embedding.shape[1]
    with torch.no_grad():
        torch.nn.init.normal_(encoder.positional_embedding, std=0.01)
        if isinstance(encoder.text_projection, torch.nn.Parameter):
            torch.nn.init.normal_(encoder.text_projection, std=width**-0.5)


@contextmanager
def _shortened(builder, blocks: int, text_layers: int) -> Iterator[None]:
    """The released builder with fewer ViT blocks / text layers (the global-attention blocks
    that remain, or the last one), for CPU tests; the released sizes pass through."""
    if (blocks, text_layers) == (VISION_BLOCKS, TEXT_LAYERS):
        yield
        return
    vit, text = builder.ViT, builder.VETextEncoder
    global_blocks = tuple(b for b in GLOBAL_BLOCKS if b < blocks) or (blocks - 1,)

    def short_vit(**kwargs):
        return vit(**{**kwargs, "depth": blocks, "global_att_blocks": global_blocks})

    def short_text(**kwargs):
        return text(**{**kwargs, "layers": text_layers})

    builder.ViT, builder.VETextEncoder = short_vit, short_text
    try:
        yield
    finally:
        builder.ViT, builder.VETextEncoder = vit, text


class _DeviceRedirect(TorchFunctionMode):
    """Tensors that sam3 creates on a hard-coded "cuda" device go to `device` instead, and
    pinning (page-locked memory for a CUDA copy) is skipped: it needs a CUDA driver."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.target = device

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.pin_memory:
            return args[0]
        requested = kwargs.get("device")
        if requested is not None and torch.device(requested).type == "cuda":
            kwargs = {**kwargs, "device": self.target}
        return func(*args, **kwargs)


@contextmanager
def _on_device(device: torch.device) -> Iterator[None]:
    if device.type == "cuda":
        yield
        return
    with _DeviceRedirect(device):
        yield
