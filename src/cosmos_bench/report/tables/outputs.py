"""The report's file names: every table and figure the report rule writes, and each figure's
caption. The workflow reads these names while it parses, so this module imports nothing: planning
a run never loads pandas, matplotlib or torch.
"""

from __future__ import annotations

#: every table `aggregate` returns, written as results/tables/{name}.csv and .parquet
TABLES = (
    "by_target", "by_object", "by_dataset", "by_modality", "overall", "model_pairs",
    "strategy_pairs", "oracle_gap", "factors", "jitter_drop", "everything_vs_box",
    "text_prompts", "click_curves", "noc", "cvpr25", "finetune", "finetune_loss", "propagation",
    "propagation_objects", "failures", "paper_vs_ours",
)  # fmt: skip

#: figures/{name}.png and .svg; the caption under each in the HTML report
CAPTIONS = {
    "dice_by_strategy": "Mean Dice over all masks per strategy, one colour per model, with its "
    "95% case-bootstrap CI; the oracle rule where a model gives several candidates.",
    "dice_by_target": "Dice per mask, by target: one box per model and strategy "
    "(repeats averaged per mask).",
    "dice_by_modality": "Dice per mask, by imaging modality: one box per model and strategy "
    "(repeats averaged per mask).",
    "target_heatmap": "Mean Dice per target (rows) and strategy (columns), one panel per "
    "model; the oracle rule where a model gives several candidates.",
    "dice_vs_clicks": "Mean Dice over masks after each click of iterative clicking, per model "
    "and start (solid: from the box, dashed: from one point).",
    "jitter_drop": "Mean Dice drop when prompts move by a random length in each range, per "
    "jitter mode (one panel per strategy; lines per model and mode).",
    "oracle_gap": "Oracle minus score selection per strategy: mean Dice lost when the model's "
    "own predicted IoU picks the candidate instead of the ground truth (95% case-bootstrap CI).",
    "factors": "Dice against each of the paper's object factors for one strategy (S5 where "
    "run), one point per mask; the partial Spearman rho is in the factors table.",
    "dice3d_by_target": "3D Dice per object, by target: one box per model and 3D protocol "
    "(box-chain, sam2-propagate), each object propagated from one box on its middle slice.",
    "nsd3d_by_target": "3D NSD per object at the target's tolerance, by target: one box per "
    "model and 3D protocol.",
    "finetune_loss": "Fine-tuning loss (Dice + cross-entropy) per epoch: the mean over the "
    "epoch's training steps (solid) and the validation loss (dashed), one colour per run.",
    "finetune_delta": "Fine-tuned minus zero-shot Dice on the test split, on identical "
    "prompts, per target (95% case-bootstrap CI), one bar per run; S5, oracle rule.",
}
FIGURES = tuple(CAPTIONS)
