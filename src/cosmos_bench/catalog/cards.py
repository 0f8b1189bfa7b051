"""Dataset cards, the ontology and the model zoo: what a dataset holds and what each
label means, validated once, before any job runs."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cosmos_bench.catalog.schema import nearest, read_yaml, validate
from cosmos_bench.core.errors import ConfigError

PART_KEYS = ("modality", "format", "labels", "instances", "structures", "slice_axis")


@dataclass(frozen=True)
class Part:
    """One homogeneous piece of a dataset: one modality, one adapter, one label meaning.

    Exactly one of `labels` (value -> object), `instances` (every instance is one object) and
    `structures` (one file per structure name -> object) says what the masks are.
    """

    name: str
    cohort: str  # parts naming one cohort share patients (harmonize.splits.patient)
    modality: str
    format: dict
    labels: dict[int, str]
    instances: str | None
    structures: dict[str, str]
    slice_axis: str
    share: tuple[int, int] = (0, 1)  # this job's share k of n of the part's cases

    def holds(self, case: str) -> bool:
        """Whether `case` is in this job's share: the sha256 of (part name, case id) modulo n,
        so a case's job is known from its id alone, before any listing or reading."""
        k, n = self.share
        if n == 1:
            return True
        digest = hashlib.sha256(f"{self.name}/{case}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % n == k

    @classmethod
    def from_raw(cls, raw: dict) -> Part:
        """A part from its card entry (the single-part shorthand has no name)."""
        return cls(
            name=raw.get("name", ""),
            cohort=raw.get("cohort", raw.get("name", "")),
            modality=raw["modality"],
            format=raw["format"],
            labels={int(k): v for k, v in raw.get("labels", {}).items()},
            instances=raw.get("instances"),
            structures=dict(raw.get("structures", {})),
            slice_axis=raw.get("slice_axis", "axial"),
        )

    @property
    def value_objects(self) -> dict[int, str]:
        """Label value -> object; structure k (in card order) has value k + 1."""
        if self.structures:
            return {k + 1: obj for k, obj in enumerate(self.structures.values())}
        return self.labels

    @property
    def objects(self) -> set[str]:
        if self.instances:
            return {self.instances}
        return set(self.labels.values()) | set(self.structures.values())

    @property
    def targets(self) -> set[str]:
        return {f"{self.modality}/{obj}" for obj in self.objects}


def pin_of(entry: dict) -> str | None:
    """The strongest checksum a source file entry pins: `sha256`, else `md5`, else None."""
    return next((kind for kind in ("sha256", "md5") if entry.get(kind)), None)


@dataclass(frozen=True)
class Card:
    """One dataset card, validated; `parts` is the one place adapters read layout from."""

    raw: dict

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def parts(self) -> list[Part]:
        """The card's parts; none for an `unresolved` card (no label source known)."""
        if "unresolved" in self.raw:
            return []
        if "parts" in self.raw:
            return [Part.from_raw(p) for p in self.raw["parts"]]
        return [Part.from_raw({k: self.raw[k] for k in PART_KEYS if k in self.raw})]

    @property
    def modalities(self) -> list[str]:
        return sorted({p.modality for p in self.parts})

    @property
    def source(self) -> dict:
        return self.raw["source"]

    @property
    def source_files(self) -> list[dict]:
        """The files to fetch: `files`, or the single `url` (with its filename and sha256)."""
        source = self.source
        if "files" in source:
            return source["files"]
        if "url" in source:
            keys = ("url", "filename", "sha256", "md5", "publisher", "api")
            return [{k: source[k] for k in keys if k in source}]
        return []

    @property
    def checksum(self) -> str:
        """How the source is verified: `sha256`, `md5` (some file by md5 only), `publisher`
        (every file pinned or verified by its host's API, some by the API), `unpublished` (the
        card says no checksum is published), `partial` or `none`."""
        source = self.source
        if source.get("checksum") == "unpublished":
            return "unpublished"
        if "listings" in source:  # every listed file verified by the listing's own answer
            return "publisher"
        if "path" in source:
            return "sha256" if source.get("sha256") else "none"
        pins = [pin_of(entry) for entry in self.source_files]
        if all(pins):
            return "md5" if "md5" in pins else "sha256"
        if source.get("checksum") == "publisher":
            return "publisher"
        return "partial" if any(pins) else "none"

    @property
    def verified(self) -> bool:
        """Whether every file the card downloads is pinned or verified by its publisher."""
        return self.checksum in ("sha256", "md5", "publisher")

    @property
    def objects(self) -> list[str]:
        return sorted(set().union(set(), *(p.objects for p in self.parts)))

    @property
    def targets(self) -> list[str]:
        return sorted(set().union(set(), *(p.targets for p in self.parts)))


def load_ontology(root: Path) -> dict:
    return read_yaml(root / "resources" / "ontology.yaml")


#: the repository's own cards; `cards_dirs` in the config adds folders after it
CARDS_DIR = Path("config") / "datasets"


def card_files(root: Path, dirs: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Every card file by id: the repository's config/datasets, then each `cards_dirs` folder
    (relative to the workflow folder unless absolute). An id found in two folders is refused by
    name, so a card kept outside the repository never silently replaces one inside it."""
    found: dict[str, Path] = {}
    for folder in [root / CARDS_DIR, *(root / Path(d).expanduser() for d in dirs)]:
        if not folder.is_dir():
            raise ConfigError(
                f"the cards folder {folder} does not exist",
                fix="correct `cards_dirs` in the config (paths are relative to the workflow "
                "folder) or create the folder",
            )
        for path in sorted(folder.glob("*.yaml")):
            if path.stem in found:
                raise ConfigError(
                    f"two cards for '{path.stem}': {found[path.stem]} and {path}",
                    dataset=path.stem,
                    fix="rename one (its file name and its `id`) or drop its folder from "
                    "`cards_dirs`",
                )
            found[path.stem] = path
    return found


def cards_argument(parser: argparse.ArgumentParser) -> None:
    """The `--cards-dir` option of every job that loads a card: the config's `cards_dirs`."""
    parser.add_argument(
        "--cards-dir", dest="cards_dirs", action="append", default=[], type=Path,
        help="a folder of dataset cards besides config/datasets (repeatable)",
    )  # fmt: skip


def load_card(root: Path, dataset: str, ontology: dict, dirs: Sequence[str | Path] = ()) -> Card:
    """Load and check one card: schema, id = file name, modality and objects in the ontology."""
    files = card_files(root, dirs)
    if dataset not in files:
        raise ConfigError(
            f"no dataset card for '{dataset}'",
            dataset=dataset,
            path=str(root / CARDS_DIR / f"{dataset}.yaml"),
            fix=f"check the id{nearest(dataset, files)}; `cosmos-bench datasets list --all` "
            "lists every card, or write this one (see config/README.md)",
        )
    return check_card(files[dataset], ontology, root)


def check_card(path: Path, ontology: dict, root: Path) -> Card:
    """One card file validated: schema, id = file name, modality and objects in the ontology."""
    dataset = path.stem
    raw = read_yaml(path)
    validate(raw, "card.schema.yaml", str(path), root)
    if raw["id"] != dataset:
        raise ConfigError(f"card id '{raw['id']}' differs from its file name", path=str(path))
    card = Card(raw)
    names = [p.name for p in card.parts]
    if len(set(names)) != len(names):
        raise ConfigError(f"part names {names} repeat", dataset=dataset, path=str(path))
    odd = sorted(set(card.modalities) - set(ontology["modalities"]))
    if odd:
        raise ConfigError(
            f"modalities {odd} are not in resources/ontology.yaml",
            dataset=dataset,
            path=str(path),
            fix="use a modality from the ontology"
            + "".join(nearest(m, ontology["modalities"]) for m in odd)
            + " or add it there",
        )
    unknown = sorted(set(card.objects) - set(ontology["objects"]))
    if unknown:
        raise ConfigError(
            f"objects {unknown} are not in resources/ontology.yaml",
            dataset=dataset,
            path=str(path),
            fix="use the ontology's spelling"
            + ("".join(nearest(o, ontology["objects"]) for o in unknown) or " (e.g. left_kidney)")
            + " or add the object there",
        )
    return card


def all_cards(root: Path, dirs: Sequence[str | Path] = ()) -> list[Card]:
    """Every card (config/datasets and `cards_dirs`), validated, by id."""
    ontology = load_ontology(root)
    return [check_card(path, ontology, root) for path in card_files(root, dirs).values()]


def read_cards(
    root: Path, dirs: Sequence[str | Path] = ()
) -> tuple[list[Card], dict[str, ConfigError]]:
    """Every card that loads, and the error of each one that does not, by id: one malformed
    card is one message, not a catalog that cannot be listed."""
    ontology = load_ontology(root)
    cards, errors = [], {}
    for dataset, path in card_files(root, dirs).items():
        try:
            cards.append(check_card(path, ontology, root))
        except ConfigError as err:
            errors[dataset] = err
    return cards, errors


def cosmos_ids(root: Path) -> list[str]:
    """The COSMOS 1050K datasets (cards with a `cosmos` number), in the paper's README order."""
    numbered = [
        (read_yaml(p).get("cosmos"), p.stem) for p in (root / "config" / "datasets").glob("*.yaml")
    ]
    return [d for n, d in sorted((n, d) for n, d in numbered if n)]


PAPER_COUNTS = {"datasets": 53, "modalities": 18, "objects": 84, "targets": 125}
#: COSMOS 1050K's totals (the paper); its per-dataset counts (Table 1) are not public
PAPER_TOTALS = {"images": 1_050_311, "masks": 6_033_198}


def counts(cards: list[Card]) -> dict[str, int]:
    """Datasets, modalities, objects and targets of a selection (compare PAPER_COUNTS)."""
    targets = set().union(set(), *(c.targets for c in cards))
    return {
        "datasets": len(cards),
        "modalities": len({t.split("/")[0] for t in targets}),
        "objects": len({t.split("/")[1] for t in targets}),
        "targets": len(targets),
    }
