"""nnInteractive (Isensee, Rokuss, Krämer et al., "nnInteractive: Redefining 3D Promptable
Segmentation", CVPR 2025; MIC-DKFZ/nnInteractive) through its own inference session.

The package's `nnInteractiveInferenceSession` does all of the model's own work: it z-scores the
image over its nonzero region, draws each prompt into its interaction channels (the previous
prediction, then a positive and a negative channel each for boxes/lassos, points and
scribbles; points as distance-transform balls of the checkpoint's radius; older prompts
decayed by its `interaction_decay`), crops a patch around the newest prompt, zooms out while
the prediction still changes at the patch border (AutoZoom, up to 4x) and refines the zoomed
result patch by patch. The adapter adds no normalisation or resizing of its own; it only maps
the benchmark's prompts onto the session's calls.

Axes. The session takes a (1, X, Y, Z) array; nnInteractive's README hands it SimpleITK's
array order, (slice, row, column). The adapter does the same: a 2D image (H, W)
is the one-slice volume (1, 1, H, W) (channel, slice, row, column) and a stack (Z, H, W) is
(1, Z, H, W). The patch and the AutoZoom are cubes in all three axes, so the session pads a
one-slice volume with zeros along the slice axis (to 192 slices at v1.0's patch), as it does
any 2D image. Its zoomed-out passes resize that padded crop trilinearly (no antialiasing),
which at a zoom of 3.375 or 4 samples between the slices and misses the image slice altogether
(1.5: 75% of it, 2.25: 37.5%): on a large 2D object the coarse pass sees the prompts but not the
image, and the refinement patches (zoom 1) see both. That is the session's own behaviour on 2D
input; the adapter keeps it.

Per prompt (2D, `decode`): the interactions are reset (each prompt starts from nothing, so an
answer does not depend on the prompts before it), then the box (x0, y0, x1, y1 inclusive) is
added as the 2D box [[0, 1], [y0, y1 + 1], [x0, x1 + 1]] (half-open, as the session takes it)
and every point (x, y) as a positive (label 1) or negative (label 0) interaction at (0, y, x),
box first, points in the prompt's order; the session rounds coordinates. Each interaction runs
its prediction, centred on it and starting from the one before (the session's documented use:
every interaction refines the segmentation). With `predict_once` the interactions are queued
and one prediction runs at the last, as nnInteractive's CVPR 2025 challenge baseline does with
a step's box and clicks (the session warns that it then centres on the last interaction
only). One candidate per prompt, score NaN (the model has no confidence output).

Images. uint8 grey (H, W), or RGB (H, W, 3) turned into grey by ITU-R 601 luma
(0.299 R + 0.587 G + 0.114 B) in floating point: the published model takes one channel, and
luma keeps the contrast of all three (a grey image repeated to RGB gives the same values). An
image of one constant value cannot be z-scored (the session refuses an all-zero one) and gets
empty masks.

3D (`start_volume`, `add_box`, `add_click`): the volume is set once, then each call adds one
interaction to the same session, runs its prediction, and returns the whole (Z, H, W)
prediction from the session's target buffer; propagation.native3d runs the CVPR 2025 protocol
with them.

Weights: the model folder as Hugging Face's `MIC-DKFZ/nnInteractive` repository holds it,
`nnInteractive_v1.0/` (plans.json, dataset.json, inference_session_class.json,
fold_0/checkpoint_final.pth; weights CC BY-NC-SA 4.0). `weights=None` builds a random-init
network from the reduced plans shipped next to this module (nninteractive_plans.json: the same
ResidualEncoderUNet family, 4 stages of 2-16 features on a 64^3 patch instead of 6 stages of
32-320 on 192^3), seeded by `seed` so two builds are identical. It exists for the tests and CPU
smoke runs only: its masks mean nothing. On a CPU even that network is slow once AutoZoom
zooms out (the session resamples the zoomed patch in float16), so the tests turn
`do_autozoom` off except where they test it.

Determinism: the session's refinement planner falls back to `np.random` when its greedy cover
leaves voxels; each prompt's (and each 3D call's) predictions run with NumPy's global generator
seeded by `seed` and restored afterwards, so answers are reproducible and independent of prompt
order.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cosmos_bench.core.prompt import Prompt
from cosmos_bench.models.base import Candidates, PromptableModel

#: the reduced plans of the random-init network (weights=None)
TINY_PLANS = Path(__file__).with_name("nninteractive_plans.json")
#: the released checkpoints' file name inside fold_0/
CHECKPOINT = "checkpoint_final.pth"
#: ITU-R 601 luma weights: RGB to the one channel the model takes
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(eq=False)
class Embedding:
    """One image as the session takes it: (1, Z, H, W) float32 (Z = 1 for a 2D image)."""

    volume: np.ndarray
    blank: bool  # one value everywhere: nothing to z-score, every answer is empty

    @property
    def shape(self) -> tuple[int, ...]:
        return self.volume.shape[1:]


def grey(image: np.ndarray, planes: int = 2) -> np.ndarray:
    """uint8 grey (`planes` axes: 2 an image, 3 a stack) or RGB (one more axis of 3) as
    float32 grey, RGB by luma in float64 (exact for a grey image repeated to RGB)."""
    if image.ndim == planes + 1 and image.shape[-1] == 3:
        return (image.astype(np.float64) @ LUMA).astype(np.float32)
    if image.ndim != planes:
        raise ValueError(f"expected {planes} spatial axes, and 3 RGB channels or none; got an "
                         f"array of shape {image.shape}")  # fmt: skip
    return image.astype(np.float32)


def _embedding(image: np.ndarray, planes: int) -> Embedding:
    values = grey(image, planes)
    volume = values[None, None] if planes == 2 else values[None]
    return Embedding(np.ascontiguousarray(volume), bool(values.min() == values.max()))


def random_init_folder(folder: Path, seed: int, plans_file: Path = TINY_PLANS) -> Path:
    """Write an nnInteractive model folder with a random-init network from `plans_file` (its
    only configuration), laid out as the released one: plans.json, dataset.json,
    inference_session_class.json and fold_0/checkpoint_final.pth. Tests and CPU smoke runs."""
    from nnInteractive.trainer.nnInteractiveTrainer import nnInteractiveTrainer_stub
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = json.loads(plans_file.read_text())
    (configuration,) = plans["configurations"]
    manager = PlansManager(plans)
    # the image and the session's 7 interaction channels (previous prediction, 3 +/- pairs)
    channels = 1 + 7
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nnInteractiveTrainer_stub.build_network_architecture(
            manager, manager.get_configuration(configuration), channels, 2, False
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(plans, indent=2))
    dataset = {"channel_names": {"0": "image"}, "labels": {"background": 0, "object": 1},
               "numTraining": 0, "file_ending": ".nii.gz"}  # fmt: skip
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))
    # the released folder's legacy session metadata; decay and padding stay the defaults
    session = {"inference_class": "nnInteractiveInferenceSession", "point_radius": 4,
               "preferred_scribble_thickness": 2}  # fmt: skip
    (folder / "inference_session_class.json").write_text(json.dumps(session))
    # the session reads the first line as the model's licence (session.license)
    (folder / "LICENSE").write_text("none: random init, no trained weights (cosmos_bench)\n")
    (folder / "fold_0").mkdir(exist_ok=True)
    checkpoint = {"network_weights": net.state_dict(), "trainer_name": "nnInteractiveTrainer_stub",
                  "init_args": {"configuration": configuration}}  # fmt: skip
    torch.save(checkpoint, folder / "fold_0" / CHECKPOINT)
    return folder


def model_folder(weights: Path) -> Path:
    """The model folder `weights` names: the folder itself, or the one a fold's checkpoint
    (`<folder>/fold_N/checkpoint_final.pth`) sits in."""
    weights = Path(weights)
    folder = weights.parent.parent if weights.is_file() else weights
    if not (folder / "plans.json").is_file():
        raise FileNotFoundError(
            f"{weights} is not an nnInteractive model folder: no plans.json in {folder}. "
            "Give the folder (nnInteractive_v1.0/ of MIC-DKFZ/nnInteractive on Hugging Face: "
            "plans.json, dataset.json, inference_session_class.json, fold_0/checkpoint_final.pth)"
        )
    return folder


class NnInteractive(PromptableModel):
    """nnInteractive's inference session behind the benchmark's 2D contract and a native 3D
    interface (start_volume, add_box, add_click). Options: `do_autozoom` (the session's
    AutoZoom, default on as in the package), `predict_once` (a prompt's interactions queued and
    predicted once, at the last; default: a prediction per interaction), `torch_n_threads`
    (default: the process's current torch thread count, so the session does not override a
    job's --threads), `verbose` (the session's messages to stderr; otherwise dropped)."""

    accepts = frozenset({"box", "point"})

    def __init__(
        self,
        weights: Path | None,
        device: torch.device,
        seed: int = 0,
        do_autozoom: bool = True,
        predict_once: bool = False,
        torch_n_threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.device = device
        self.seed = seed
        self.predict_once = predict_once
        self.verbose = verbose
        threads = torch.get_num_threads() if torch_n_threads is None else torch_n_threads
        with self._quiet():  # nnunetv2 prints its unset paths on import
            from nnInteractive.inference.inference_session import nnInteractiveInferenceSession

            self.session = nnInteractiveInferenceSession(
                device=device,
                use_torch_compile=False,
                verbose=verbose,
                torch_n_threads=threads,
                do_autozoom=do_autozoom,
                enable_undo=False,  # never undone: skip saving every overwritten region
            )
            if weights is None:
                with tempfile.TemporaryDirectory(prefix="nninteractive-") as tmp:
                    folder = random_init_folder(Path(tmp) / "model", seed)
                    self.session.initialize_from_trained_model_folder(str(folder))
            else:
                folder = model_folder(weights)
                self.session.initialize_from_trained_model_folder(str(folder))
        self.license = self.session.license
        self._loaded: Embedding | None = None  # the image the session holds
        self._volume: Embedding | None = None  # the 3D methods' volume
        self._target: torch.Tensor | None = None  # the session's target buffer

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """The session prints progress to stdout: to stderr when verbose, else nowhere."""
        with contextlib.redirect_stdout(sys.stderr if self.verbose else io.StringIO()):
            yield

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """NumPy's global generator seeded for one prediction, then restored."""
        state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            yield
        finally:
            np.random.set_state(state)

    def _load(self, embedding: Embedding) -> None:
        """Hand the session `embedding`'s image unless it already holds it."""
        if self._loaded is embedding:
            return
        self._loaded = None
        if not embedding.blank:
            with self._quiet():
                self.session.set_image(embedding.volume)
                # the session preprocesses in a background thread: wait, so that its messages
                # stay quiet and its errors surface here
                pending = getattr(self.session, "preprocess_future", None)
                if pending is not None:
                    pending.result()
            self._target = torch.zeros(embedding.shape, dtype=torch.uint8)
            self.session.set_target_buffer(self._target)
        self._loaded = embedding

    def embed(self, image: np.ndarray) -> Embedding:
        embedding = _embedding(image, 2)
        self._load(embedding)
        return embedding

    def embed_batch(self, images: list[np.ndarray]) -> list[Embedding]:
        """The session holds one image: the first is handed over (it is decoded first)."""
        embeddings = [_embedding(image, 2) for image in images]
        if embeddings:
            self._load(embeddings[0])
        return embeddings

    def decode(self, embedding: Embedding, prompts: list[Prompt]) -> list[Candidates]:
        answers = []
        for prompt in prompts:
            if not prompt.kinds or not prompt.kinds <= self.accepts:
                raise ValueError(f"nnInteractive takes {sorted(self.accepts)} prompts; "
                                 f"got {sorted(prompt.kinds)}")  # fmt: skip
            if embedding.blank:
                mask = np.zeros(embedding.shape[1:], dtype=bool)
            else:
                self._load(embedding)
                self.session.reset_interactions()
                mask = self._interact(_interactions(prompt))[0]
            answers.append(Candidates(mask[None], np.full(1, np.nan)))
        return answers

    def _interact(self, interactions: list[tuple]) -> np.ndarray:
        """Add interactions to the session, each predicted (`predict_once`: the last only);
        the (Z, H, W) bool result."""
        with self._quiet(), self._seeded():
            for i, (kind, where, positive) in enumerate(interactions):
                predict = not self.predict_once or i == len(interactions) - 1
                if kind == "box":
                    self.session.add_bbox_interaction(where, positive, run_prediction=predict)
                else:
                    self.session.add_point_interaction(where, positive, run_prediction=predict)
        return self._target.numpy() > 0

    # -- native 3D ------------------------------------------------------------------------------

    def start_volume(self, images: np.ndarray) -> None:
        """Start a 3D session on (Z, H, W) or (Z, H, W, 3) uint8 slices, with no interaction.
        A volume equal to the current one is not handed over again (objects of one volume)."""
        volume = _embedding(images, 3)
        current = self._volume
        if (current is not None and current.shape == volume.shape
                and np.array_equal(current.volume, volume.volume)):  # fmt: skip
            volume = current
        self._load(volume)
        if not volume.blank:
            self.session.reset_interactions()
        self._volume = volume

    def add_box(self, z: int, box: np.ndarray, positive: bool = True) -> np.ndarray:
        """A 2D box (x0, y0, x1, y1 inclusive) on slice z; the (Z, H, W) bool prediction."""
        return self._add_3d(("box", _box(box, z), positive))

    def add_click(self, z: int, y: int, x: int, positive: bool) -> np.ndarray:
        """A click at voxel (z, y, x), positive or negative; the (Z, H, W) bool prediction."""
        return self._add_3d(("point", (z, y, x), positive))

    def _add_3d(self, interaction: tuple) -> np.ndarray:
        volume = self._volume
        if volume is None or self._loaded is not volume:
            raise RuntimeError("start_volume first (a 2D decode since then replaced the volume)")
        if volume.blank:
            return np.zeros(volume.shape, dtype=bool)
        return self._interact([interaction])


def _box(box: np.ndarray, z: int) -> list[list[float]]:
    """[x0, y0, x1, y1] inclusive pixel corners on slice z as the session's half-open
    [[z, z + 1], [y0, y1 + 1], [x0, x1 + 1]]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return [[z, z + 1], [y0, y1 + 1], [x0, x1 + 1]]


def _interactions(prompt: Prompt) -> list[tuple]:
    """A 2D prompt on the one-slice volume: its box first, then its points in order."""
    interactions: list[tuple] = []
    if prompt.box is not None:
        interactions.append(("box", _box(prompt.box, 0), True))
    if prompt.points is not None:
        for (x, y), label in zip(prompt.points, prompt.point_labels, strict=True):
            interactions.append(("point", (0, float(y), float(x)), bool(label == 1)))
    return interactions
