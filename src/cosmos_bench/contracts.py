"""The files the stages hand each other, in one place: writers and readers import them here.

- index (`harmonized/{dataset}/index.parquet`): one row per mask, written by harmonize.
- predictions (`predictions/{model}/{dataset}/shard-{k}.parquet`): one row per (mask,
  strategy, repeat, click, candidate), written by infer.
- scores (`scores/{model}/{dataset}/shard-{k}.parquet`): one row per (mask, strategy,
  repeat, click, selection), written by score.
- volume store (`volumes/{dataset}/volumes.parquet` beside one HDF5 file per case with
  datasets `image` (z, y, x uint8) and `labels` (layer, z, y, x uint16), attributes `spacing`
  (z, y, x mm) and `first` (the first stored slice)): one row per 3D object.

A change of columns or meaning bumps the artefact's version, which travels in the Parquet
metadata and is checked on read (docs/architecture.md has the column tables).
"""

from __future__ import annotations

import pyarrow as pa

#: score.resolution: where a mask is compared and prompted, `native` (the source's size, the
#: paper) or `stored` (the shard's copy)
RESOLUTIONS = ("native", "stored")


def at_native_size(resolution: str, scale: float) -> bool:
    """Whether a mask is read at the source's size: under `native`, for an image the
    longest-side cap shrank (index `scale` < 1); inference and scoring both follow this."""
    return resolution == "native" and float(scale) < 1.0


INDEX_SCHEMA_VERSION = "6"
INDEX_VERSION_KEY = "cosmos_bench.index_schema"
#: harmonize's summary (JSON) in the index metadata: what the files held that no row shows,
#: e.g. `unmapped_structures` (structure file name -> images), `shrunk_away` (masks with no
#: pixel left at the stored size)
SUMMARY_KEY = "cosmos_bench.harmonize_summary"

INDEX_SCHEMA = pa.schema(
    [
        ("mask_id", pa.string()),  # uid#label, uid#label@layer on layers > 0: unique per mask
        ("uid", pa.string()),  # dataset/[part/]case/slice
        ("dataset", pa.string()),
        ("part", pa.string()),  # the card's part ("" for a single-part card)
        ("cohort", pa.string()),  # parts of one cohort share patients (default: the part)
        ("case", pa.string()),  # a patient is (dataset, cohort, case): harmonize.splits
        ("split", pa.string()),  # train, val or test: a seeded hash of the patient
        ("slice", pa.string()),  # z0143 (axial), y.. (coronal), x.. (sagittal), t05-z0007, 2d
        ("modality", pa.string()),
        ("object", pa.string()),
        ("target", pa.string()),  # modality/object
        ("shard", pa.int32()),
        ("row", pa.int32()),  # image row inside the shard
        ("layer", pa.int32()),  # label layer of the image (> 0 only where masks overlap)
        ("label", pa.int32()),  # label value of the object in that layer (instance id)
        ("component", pa.int32()),  # connected-component number of a split object, else 0
        ("area_px", pa.int64()),  # at stored resolution: 0 when the cap shrank the object away
        ("orig_area_px", pa.int64()),  # at the source's resolution (the size rule counts these)
        ("bbox_x0", pa.int32()),  # tight box, inclusive pixel indices at stored resolution
        ("bbox_y0", pa.int32()),
        ("bbox_x1", pa.int32()),
        ("bbox_y1", pa.int32()),
        ("height", pa.int32()),  # stored image size
        ("width", pa.int32()),
        ("orig_height", pa.int32()),  # size in the source before the longest-side cap
        ("orig_width", pa.int32()),
        ("scale", pa.float64()),  # stored / original size
        ("spacing_y", pa.float64()),  # mm per stored pixel, NaN when the source has none
        ("spacing_x", pa.float64()),
        ("normalization", pa.string()),  # the intensity preset
        ("window_lo", pa.float64()),  # source intensities mapped to 0 and 255 (NaN: kept RGB)
        ("window_hi", pa.float64()),
        ("mask_filter", pa.string()),  # paper, medsam or litemedsam (cosmos_bench.harmonize.masks)
    ]
)

PREDICTION_SCHEMA = pa.schema(
    [
        ("mask_id", pa.string()),
        ("target", pa.string()),
        ("strategy", pa.string()),
        ("repeat", pa.int16()),
        ("click", pa.int16()),  # the click number of an iterative strategy, else 0
        ("candidate", pa.int16()),
        ("n_candidates", pa.int16()),  # how many the model returned (some may not be stored)
        ("model_score", pa.float64()),  # the model's own quality estimate (NaN if none)
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("rle", pa.list_(pa.int32())),  # COCO uncompressed RLE counts (column-major)
        ("seconds", pa.float64()),  # this image's encoder time + this prompt's share of decoding
    ]
)

SCORES_VERSION = "6"
SCORES_VERSION_KEY = "cosmos_bench.scores"
SCORE_SCHEMA = pa.schema(
    [
        ("mask_id", pa.string()),
        ("uid", pa.string()),
        ("dataset", pa.string()),
        ("cohort", pa.string()),  # with dataset and case: the patient (harmonize.splits)
        ("case", pa.string()),
        ("split", pa.string()),  # the case's train / val / test split (harmonize.splits)
        ("modality", pa.string()),
        ("object", pa.string()),
        ("target", pa.string()),
        ("model", pa.string()),
        ("strategy", pa.string()),
        ("repeat", pa.int16()),
        ("click", pa.int16()),  # the click number of an iterative strategy, else 0
        ("selection", pa.string()),
        ("candidate", pa.int16()),  # the prediction's candidate that the selection rule chose
        ("dice", pa.float64()),
        ("iou", pa.float64()),
        ("conformity", pa.float64()),  # (3 Dice - 2) / Dice, 0 at Dice 0 (official COSMOS code)
        ("hd_px", pa.float64()),  # the paper's HD: pixel boundaries, pixels
        ("hd95_mm", pa.float64()),  # surface-distance: max of the two directed 95th percentiles
        ("asd_mm", pa.float64()),  # mean of the two directed mean surface distances
        ("nsd", pa.float64()),  # contour NSD: 2D boundary within nsd_tolerance_mm (in mm)
        ("nsd_tolerance_mm", pa.float64()),
        ("nsd_medsam", pa.float64()),  # MedSAM's: H x W x 1 slab, 1 mm, 2, Dice gate (score.medsam)
        ("empty_prediction", pa.bool_()),  # distances are then the image diagonal (penalty)
        ("spacing_known", pa.bool_()),  # false: 1 mm/px assumed, distances are in pixels
        ("pred_area_px", pa.int64()),
        ("pred_components", pa.int32()),  # 8-connected pieces of the prediction (score.shape)
        ("pred_outside_box_px", pa.int64()),  # predicted pixels outside the truth's tight box
        ("area_px", pa.int64()),
        ("area_mm2", pa.float64()),  # NaN where the spacing is unknown
        ("aspect_ratio", pa.float64()),
        ("intensity_difference", pa.float64()),
        ("fourier_order_paper", pa.int32()),
        ("fourier_dice_paper", pa.float64()),
        ("f_final_paper", pa.float64()),
        ("fourier_order", pa.int32()),
        ("fourier_dice", pa.float64()),
        ("f_final", pa.float64()),
        ("modality_code", pa.int32()),  # position in resources/ontology.yaml, -1 if absent
    ]
)

#: the 3D study's protocols (a propagation run's `model/protocol`, the `protocol` column of its
#: scores): propagation.protocols runs them, the report groups by them
BOX_CHAIN, SAM2_PROPAGATE, CVPR25_2D, CVPR25_3D = (
    "box-chain",
    "sam2-propagate",
    "cvpr25",
    "cvpr25-3d",
)
PROTOCOLS = (BOX_CHAIN, SAM2_PROPAGATE, CVPR25_2D, CVPR25_3D)

VOLUME_OBJECT_COLUMNS = [
    "object_id", "dataset", "part", "cohort", "case", "split", "modality", "object", "target",
    "file",
    "layer", "label", "z_first", "z_last", "voxels", "spacing_z", "spacing_y", "spacing_x",
]  # fmt: skip
