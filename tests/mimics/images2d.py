"""Mimics of the 2D image datasets (group C): fundus, endoscopy, dermoscopy, X-ray, ultrasound,
histology and echocardiography cards, each in its release's layout, names and formats.

Every builder writes a handful of tiny images (about 64 x 96 pixels) whose masks hold exactly
the card's label values, structures or instances, each larger than 50 pixels.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from mimics.write import discs, picture, tar_tree, write_2d, write_sitk, zip_tree

SHAPE = (64, 96)


def _labels(values: Iterable[int], shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """uint8 label map, one disc per value."""
    return discs(shape, list(values)).astype(np.uint8)


def _rgb(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    return picture(labels, rgb=True, seed=seed)


def _tree(out: Path) -> Path:
    tree = out / "_tree"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    return tree


def _pack(tree: Path, archive: Path, pack: Callable[[Path, Path], None] = zip_tree) -> None:
    pack(tree, archive)
    shutil.rmtree(tree)


def _tar_gz(tree: Path, archive: Path) -> None:
    """A .tar.gz with a fixed gzip header (tarfile's own gzip stamps the current time)."""
    plain = archive.with_name(archive.name.removesuffix(".gz"))
    tar_tree(tree, plain)
    archive.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    plain.unlink()


def _pack_folder(
    tree: Path, folder: str, archive: Path, pack: Callable[[Path, Path], None] = zip_tree
) -> None:
    """Archive tree/folder alone, keeping `folder` as the top of the archive."""
    one = tree.parent / "_one"
    shutil.rmtree(one, ignore_errors=True)
    (one / folder).parent.mkdir(parents=True)
    shutil.move(tree / folder, one / folder)
    _pack(one, archive, pack)


def _pairs(
    root: Path,
    image: str,
    mask: str,
    cases: dict[str, list[int]],
    mask_of: Callable[[np.ndarray], np.ndarray] = lambda m: m,
) -> None:
    """For each case, an RGB image and its mask at the given paths (with {case})."""
    for seed, (case, values) in enumerate(cases.items()):
        labels = _labels(values)
        write_2d(_rgb(labels, seed), root / image.format(case=case))
        write_2d(mask_of(labels), root / mask.format(case=case))


def _binary(value: int = 255) -> Callable[[np.ndarray], np.ndarray]:
    return lambda m: np.where(m > 0, value, 0).astype(np.uint8)


def _inverted(labels: np.ndarray) -> np.ndarray:
    """PALM/ADAM/REFUGE style: the object is 0 on a 255 background."""
    return np.where(labels > 0, 0, 255).astype(np.uint8)


def _grey_rgb(labels: np.ndarray) -> np.ndarray:
    """The label values repeated in three channels (an RGB PNG of grey values)."""
    return np.repeat(labels[..., None], 3, axis=2)


def build_autolaparo(out: Path) -> None:
    tree = _tree(out)
    cases = {"0001": [20, 40, 60, 80, 180], "0002": [100, 120, 140, 160, 180]}
    folder = "AutoLaparo_Task3/"
    _pairs(tree, folder + "imgs/{case}.jpg", folder + "masks/{case}.png", cases, _grey_rgb)
    _pack(tree, out / "AutoLaparo_Task3.zip")


def build_camus(out: Path) -> None:
    tree = _tree(out)
    db = tree / "database_nifti"  # the Girder folder download: database_nifti/ at the top
    for seed, (patient, view, phase) in enumerate(
        [("patient0001", "2CH", "ED"), ("patient0001", "4CH", "ES"), ("patient0002", "2CH", "ES")]
    ):
        labels = _labels([1, 2, 3])
        stem = db / patient / f"{patient}_{view}_{phase}"
        image = picture(labels, rgb=False, seed=seed)
        write_sitk(image, stem.with_name(stem.name + ".nii.gz"), (0.3, 0.15))
        write_sitk(labels, stem.with_name(stem.name + "_gt.nii.gz"), (0.3, 0.15))
    sequence = np.stack([picture(_labels([1, 2, 3]), rgb=False)] * 3)  # not read: half sequences
    half = db / "patient0001" / "patient0001_2CH_half_sequence"
    write_sitk(sequence, half.with_name(half.name + ".nii.gz"))
    write_sitk(np.stack([_labels([1, 2, 3])] * 3), half.with_name(half.name + "_gt.nii.gz"))
    (db / "patient0001" / "Info_2CH.cfg").write_text("ED: 1\nES: 3\nNbFrame: 3\n")
    _pack(tree, out / "database_nifti.zip")


def _one_bit(labels: np.ndarray) -> np.ndarray:
    """A boolean mask, written as a 1-bit PNG (CHASE_DB1)."""
    return labels > 0


def build_chase_db1(out: Path) -> None:
    tree = _tree(out)
    cases = {"Image_01L": [1], "Image_01R": [1]}
    _pairs(tree, "{case}.jpg", "{case}_1stHO.png", cases, _one_bit)
    for case in cases:  # the second observer's masks (not read)
        shutil.copy(tree / f"{case}_1stHO.png", tree / f"{case}_2ndHO.png")
    _pack(tree, out / "CHASEDB1.zip")


def build_crag(out: Path) -> None:
    tree = _tree(out)
    for split, name in (("train", "train_1"), ("valid", "test_1")):
        folder = f"CRAG/{split}/"
        cases = {name: [1, 2, 3]}  # instance map: one value per gland
        _pairs(tree, folder + "Images/{case}.png", folder + "Annotation/{case}.png", cases)
        shutil.copytree(tree / folder / "Images", tree / folder / "Overlay")  # not read
    _pack(tree, out / "CRAG_v2.zip")


def build_cvc_clinicdb(out: Path) -> None:
    tree = _tree(out)
    for kind in ("PNG", "TIF"):  # the TIF copies are not read
        images, masks = f"{kind}/Original/{{case}}.", f"{kind}/Ground Truth/{{case}}."
        ext = kind.lower()
        _pairs(tree, images + ext, masks + ext, {"1": [1], "2": [1]}, _binary())
    _pack(tree, out / "cvcclinicdb.zip")


def build_drive(out: Path) -> None:
    tree = _tree(out) / "training"
    for case in ("21", "22"):
        images, manual = "images/{case}_training.tif", "1st_manual/{case}_manual1.gif"
        _pairs(tree, images, manual, {case: [1]}, _binary())
        write_2d(np.full(SHAPE, 255, np.uint8), tree / "mask" / f"{case}_training_mask.gif")
    _pack(tree.parent, out / "training.zip")


def build_endotect_2020(out: Path) -> None:
    tree = _tree(out)
    folder = "EndoTect_2020_Segmentation_Test_Dataset"
    cases = {"0a1b2c3d": [1], "4e5f6a7b": [1]}
    _pairs(tree, folder + "/images/{case}.jpg", folder + "/masks/{case}.jpg", cases, _binary())
    _pack(tree, out / "EndoTect_2020_Segmentation_Test_Dataset.zip")


def build_etis_larib(out: Path) -> None:
    tree = _tree(out)
    images, masks = "ETIS-LaribPolypDB/ETIS-LaribPolypDB/", "ETIS-LaribPolypDB/GroundTruth/"
    cases = {"1": [1], "2": [1]}
    _pairs(tree, images + "{case}.tif", masks + "p{case}.tif", cases, _binary())
    _pack(tree, out / "ETIS-LaribPolypDB.zip")


def _structure_case(
    root: Path, image: Path, masks: dict[str, Path], seed: int, mask_of: Callable
) -> None:
    """One image with a disc per structure, each structure's mask in its own file."""
    labels = _labels(range(1, len(masks) + 1))
    write_2d(_rgb(labels, seed), root / image)
    for k, path in enumerate(masks.values(), start=1):
        write_2d(mask_of(np.where(labels == k, 1, 0)), root / path)


def build_ichallenge_amd(out: Path) -> None:
    tree = _tree(out)
    lesions = ["drusen", "exudate", "hemorrhage", "scar", "others"]
    for seed, (folder, case, present) in enumerate(
        [("AMD", "A0001", lesions[:3]), ("AMD", "A0002", lesions[3:]), ("Non-AMD", "N0001", [])]
    ):
        masks = {"disc": Path(f"Training400/Disc_Masks/{case}.bmp")}
        masks |= {n: Path(f"Training400-Lesion/Lesion_Masks/{n}/{case}.bmp") for n in present}
        image = Path(f"Training400/{folder}/{case}.jpg")
        _structure_case(tree, image, masks, seed, _inverted)
    _pack_folder(tree, "Training400-Lesion", out / "Training400-Lesion.zip")
    _pack(tree, out / "iChallenge-AMD-Training400.zip")


def build_ichallenge_palm(out: Path) -> None:
    """The Scientific Data release (figshare zip): PALM/<split>/{Images,Disc Masks,Lesion Masks}
    and a __MACOSX folder, as torch-em's PALM loader reads it."""
    tree = _tree(out)
    cases = [("Training", "H0001", []), ("Training", "P0001", ["Atrophy", "Detachment"])]
    cases += [("Validation", "V0001", ["Atrophy"])]  # other splits: not read by the card
    for seed, (split, case, present) in enumerate(cases):
        root = Path("PALM") / split
        masks = {"disc": root / "Disc Masks" / f"{case}.bmp"}
        masks |= {n: root / "Lesion Masks" / n / f"{case}.bmp" for n in present}
        _structure_case(tree, root / "Images" / f"{case}.jpg", masks, seed, _inverted)
    junk = tree / "__MACOSX" / "PALM" / "Training" / "Images" / "._H0001.jpg"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"\x00\x05\x16\x07AppleDouble")
    _pack(tree, out / "PALM.zip")


def _red(labels: np.ndarray) -> np.ndarray:
    """An RGB mask marking the structure in the red channel (IDRiD's lesion TIFFs)."""
    on = np.where(labels > 0, 255, 0).astype(np.uint8)
    return np.stack([on, on * 0, on * 0], axis=-1)


def build_idrid(out: Path) -> None:
    tree = _tree(out) / "A. Segmentation"
    kinds = {"MA": "1. Microaneurysms", "HE": "2. Haemorrhages", "EX": "3. Hard Exudates"}
    kinds |= {"SE": "4. Soft Exudates", "OD": "5. Optic Disc"}
    for seed, (split, case, present) in enumerate(
        [("a. Training Set", "IDRiD_01", list(kinds)), ("b. Testing Set", "IDRiD_55", ["HE", "OD"])]
    ):
        truth = Path("2. All Segmentation Groundtruths") / split
        masks = {k: truth / kinds[k] / f"{case}_{k}.tif" for k in present}
        image = Path("1. Original Images") / split / f"{case}.jpg"
        _structure_case(tree, image, masks, seed, _red)
    _pack(tree.parent, out / "A. Segmentation.zip")


def build_isic_2018(out: Path) -> None:
    tree = _tree(out)
    images, truth = "ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"
    cases = {"ISIC_0000000": [1], "ISIC_0000001": [1]}
    _pairs(tree, images + "/{case}.jpg", truth + "/{case}_segmentation.png", cases, _binary())
    for folder in (images, truth):
        (tree / folder / "LICENSE.txt").write_text("CC-BY-NC\n")
        _pack_folder(tree, folder, out / f"{folder}.zip")
    shutil.rmtree(tree)


def build_kvasir_instrument(out: Path) -> None:
    tree = _tree(out)
    folder = tree / "kvasir-instrument"
    cases = {"ckcu8ty6z00003b5yzfaezbs5": [1], "ckcu8wj9d00023b5yalvzqqf5": [1]}
    _pairs(folder, "images/{case}.jpg", "masks/{case}.png", cases, _rgb_mask)
    for name in ("images", "masks"):  # inner tarballs, as released
        _pack_folder(folder, name, folder / f"{name}.tar.gz", _tar_gz)
    (folder / "train.txt").write_text("ckcu8ty6z00003b5yzfaezbs5\n")
    (folder / "test.txt").write_text("ckcu8wj9d00023b5yalvzqqf5\n")
    _pack(tree, out / "kvasir-instrument.zip")


def _rgb_mask(labels: np.ndarray) -> np.ndarray:
    """White-on-black RGB mask."""
    return np.repeat(np.where(labels > 0, 255, 0).astype(np.uint8)[..., None], 3, axis=2)


def build_kvasir_seg(out: Path) -> None:
    tree = _tree(out)
    cases = {"cju0qkwl35piu0993l0dewei2": [1], "cju0qoxqj9q6s0835b43399p4": [1]}
    _pairs(tree, "Kvasir-SEG/images/{case}.jpg", "Kvasir-SEG/masks/{case}.jpg", cases, _rgb_mask)
    (tree / "Kvasir-SEG" / "kavsir_bboxes.json").write_text("{}\n")
    _pack(tree, out / "kvasir-seg.zip")


def build_montgomery_cxr(out: Path) -> None:
    tree = _tree(out) / "MontgomerySet"
    for seed, case in enumerate(["MCUCXR_0001_0", "MCUCXR_0002_1"]):
        labels = _labels([1, 2])  # image left = patient's right lung, image right = left lung
        grey = picture(labels, rgb=False, seed=seed).astype(np.uint16) * 16  # 12-bit in 16-bit
        write_2d(grey, tree / "CXR_png" / f"{case}.png")
        write_2d(_binary()(labels == 2), tree / "ManualMask" / "leftMask" / f"{case}.png")
        write_2d(_binary()(labels == 1), tree / "ManualMask" / "rightMask" / f"{case}.png")
        (tree / "ClinicalReadings").mkdir(exist_ok=True)
        (tree / "ClinicalReadings" / f"{case}.txt").write_text("Patient's Sex: F\n")
    _pack(tree.parent, out / "NLM-MontgomeryCXRSet.zip")


def build_siim_acr(out: Path) -> None:
    tree = _tree(out) / "siim-acr-pneumothorax"
    _pairs(tree, "png_images/{case}.png", "png_masks/{case}.png", {"0_train_1_": [1]}, _binary())
    write_2d(np.full(SHAPE, 40, np.uint8), tree / "png_images" / "1_train_0_.png")
    write_2d(np.zeros(SHAPE, np.uint8), tree / "png_masks" / "1_train_0_.png")
    (tree / "stage_1_train_images.csv").write_text("new_filename,has_pneumo\n0_train_1_.png,1\n")
    (tree / "stage_1_test_images.csv").write_text("new_filename,has_pneumo\n")
    _pack(tree.parent, out / "pneumothorax-chest-xray-images-and-masks.zip")


def build_stare(out: Path) -> None:
    tree = _tree(out)
    cases = {"im0001": [1], "im0044": [1]}
    _pairs(tree, "images/{case}.ppm.gz", "labels/{case}.ah.ppm.gz", cases, _rgb_mask)
    _pack(tree / "images", out / "stare-images.tar", tar_tree)  # flat tars, as released
    _pack(tree / "labels", out / "labels-ah.tar", tar_tree)
    shutil.rmtree(tree)


def build_tn_scui_2020(out: Path) -> None:
    tree = _tree(out) / "TNSCUI2020_train"
    _pairs(tree, "image/{case}.PNG", "mask/{case}.PNG", {"1": [1], "2": [1]}, _binary())
    (tree / "train.csv").write_text("ID,CATE\n1.PNG,0\n2.PNG,1\n")
    _pack(tree.parent, out / "TNSCUI2020_train.zip")


def build_glas(out: Path) -> None:
    tree = _tree(out)
    folder = "Warwick QU Dataset (Released 2016_07_08)/"
    cases = {"train_1": [1, 2, 3], "testA_10": [1, 2]}  # instance maps: one value per gland
    _pairs(tree, folder + "{case}.bmp", folder + "{case}_anno.bmp", cases)
    (tree / folder / "Grade.csv").write_text("name,patient ID,grade (GlaS)\n")
    _pack(tree, out / "warwick_qu_dataset_released_2016_07_08.zip")


BUILDERS = {
    "autolaparo": build_autolaparo,
    "camus": build_camus,
    "chase-db1": build_chase_db1,
    "crag": build_crag,
    "cvc-clinicdb": build_cvc_clinicdb,
    "drive": build_drive,
    "endotect-2020": build_endotect_2020,
    "etis-larib": build_etis_larib,
    "glas": build_glas,
    "ichallenge-amd": build_ichallenge_amd,
    "ichallenge-palm": build_ichallenge_palm,
    "idrid": build_idrid,
    "isic-2018": build_isic_2018,
    "kvasir-instrument": build_kvasir_instrument,
    "kvasir-seg": build_kvasir_seg,
    "montgomery-cxr": build_montgomery_cxr,
    "siim-acr": build_siim_acr,
    "stare": build_stare,
    "tn-scui-2020": build_tn_scui_2020,
}
