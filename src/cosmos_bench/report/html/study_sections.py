"""The studies' report sections: each study's table under its heading and a sentence on how
it was measured (Everything mode, prompt robustness, the CVPR 2025 protocol, iterative
clicking)."""

from __future__ import annotations

import html

import pandas as pd

from cosmos_bench.report.html.html_table import html_table
from cosmos_bench.report.html.sections import collapsible


def study_section(
    title: str, intro: str, table: pd.DataFrame, columns: dict, anchor: str = ""
) -> str:
    """One study's table under its heading; nothing when the run did not include the study."""
    if table.empty:
        return ""
    body = f"<p>{html.escape(intro)}</p>{html_table(table, columns)}"
    return collapsible(anchor or "study-" + title.split()[0].lower(), title, body)


STUDY_SECTIONS = {  # table -> (heading, introduction, columns shown)
    "everything_vs_box": (
        "Everything mode (S1) vs box (S5)",
        "S1 generates masks from a point grid once per image; each ground truth is matched by "
        "the paper's oracle rule (best Dice) and by the deployable rule (the best-scoring "
        "overlapping mask). Paired on the same masks.",
        {
            "model": "model", "target": "target", "selection": "S1 matching",
            "n_masks": "masks", "dice_s1": "Dice S1", "dice_s5": "Dice S5",
            "dice_gap": "S5 - S1",
        },
    ),
    "text_prompts": (
        "Text prompts",
        "The target's object named in words (resources/text_phrases.yaml): `text` alone, its "
        "instances matched to each mask as S1's (oracle: best Dice; score: the best-scored "
        "overlapping instance), and `text-box` with S5's box. An empty answer (nothing that "
        "overlaps the mask) scores Dice 0 and is counted apart; S5 on the same masks beside.",
        {
            "model": "model", "target": "target", "strategy": "strategy",
            "selection": "selection", "n_masks": "masks", "empty_answers": "empty answers",
            "dice": "Dice", "dice_answered": "Dice (answered)", "dice_s5": "Dice S5",
        },
    ),
    "jitter_drop": (
        "Prompt robustness",
        "Each strategy with its points or box moved at random by a length in the range "
        "(core.strategies gives each mode's definition); repeats are averaged per mask, "
        "and the drop is paired on the same masks.",
        {
            "model": "model", "base": "strategy", "mode": "jitter mode", "lo": "from px",
            "hi": "to px", "selection": "selection", "n_masks": "masks",
            "dice_base": "Dice unperturbed", "dice_jittered": "Dice jittered",
            "dice_drop": "Dice drop",
        },
    ),
    "cvpr25": (
        "CVPR 2025 interactive protocol",
        "The CVPR 2025 challenge's protocol (CVPR25_iter_eval.py) on every 2D mask and, in the "
        "3D study, every object: the tight box (in 3D the box chain), then five clicks by its "
        "rule (the largest error component's centre, 26-connected in 3D, ties drawn with seed "
        "42). DSC and NSD per case (an image, or a volume) after each step, NSD MedSAM's in 2D "
        "(tolerance 2) and the script's at 2 mm in 3D; AUC over the five click steps (the box "
        "step is not in it); final after the fifth click.",
        {
            "model": "model", "dimension": "2D / 3D", "n_cases": "cases", "n_masks": "masks",
            "dsc_box": "DSC box",
            "dsc_final": "DSC final", "nsd_final": "NSD final", "dsc_auc": "DSC AUC",
            "nsd_auc": "NSD AUC",
        },
    ),
    "noc": (
        "Iterative clicking",
        "Each next click at the centre of the largest error region (positive in a miss, "
        "negative in a false positive; cosmos_bench.infer.clicks). NoC (RITM's rule): clicks to "
        "reach the IoU (or the Dice), the session's length when never reached; NoF: masks that "
        "never reached it.",
        {
            "model": "model", "strategy": "start", "n_masks": "masks", "n_clicks": "clicks",
            "noc85_iou": "NoC@85 (IoU)", "noc90_iou": "NoC@90 (IoU)", "nof90_iou": "NoF@90 (IoU)",
            "noc85_dice": "NoC@85 (Dice)", "noc90_dice": "NoC@90 (Dice)",
            "dice_last": "Dice after the last click",
        },
    ),
}  # fmt: skip
