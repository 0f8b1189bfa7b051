"""Config and card validation: every mistake names the key, the file and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, TINY_CARD

from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.catalog.selection import resolve
from cosmos_bench.core.errors import ConfigError

DEFAULT = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_resolves_and_fills_defaults() -> None:
    config = copy.deepcopy(DEFAULT)
    del config["seed"]
    cards, models = resolve(config, ROOT)
    assert config["seed"] == 0
    assert config["harmonize"]["max_side"] == 1024
    assert set(cards) == {"demo-ct", "demo-endo"}
    assert "litemedsam" in models
    assert cards["demo-ct"].targets == [
        "CT/left_kidney",
        "CT/lesion",
        "CT/liver",
        "CT/right_kidney",
        "CT/spleen",
    ]


def test_every_card_in_the_catalog_is_valid() -> None:
    ontology = load_ontology(ROOT)
    for path in sorted((ROOT / "config" / "datasets").glob("*.yaml")):
        assert load_card(ROOT, path.stem, ontology).id == path.stem


def test_wrong_key_is_named_with_the_nearest_valid_one() -> None:
    config = {**copy.deepcopy(DEFAULT), "strategy": ["S5"]}
    with pytest.raises(ConfigError) as err:
        resolve(config, ROOT)
    assert "unknown key 'strategy' (did you mean 'strategies'?)" in str(err.value)
    assert "--config" in str(err.value) and "config/config.yaml" in str(err.value)
    # `--config harmonize={max_sides:512}` (no space after the colon) is one odd key
    config = copy.deepcopy(DEFAULT)
    config["harmonize"]["max_sides:512"] = None
    with pytest.raises(ConfigError, match=r"at 'harmonize': unknown key 'max_sides:512' "
                                          r"\(did you mean 'max_side'\?\)"):  # fmt: skip
        resolve(config, ROOT)


def test_missing_card_names_the_dataset_and_the_nearest_one() -> None:
    config = {**copy.deepcopy(DEFAULT), "datasets": ["kits19-typo"]}
    with pytest.raises(ConfigError) as err:
        resolve(config, ROOT)
    message = str(err.value)
    assert "no dataset card for 'kits19-typo'" in message and "did you mean 'kits19'" in message
    assert "config/datasets/kits19-typo.yaml" in message and "datasets list --all" in message


def test_unknown_model_and_strategy() -> None:
    with pytest.raises(ConfigError, match=r"unknown models \['sam-vit-z'\] \(did you mean"):
        resolve({**copy.deepcopy(DEFAULT), "models": ["sam-vit-z"]}, ROOT)
    with pytest.raises(ConfigError, match="strategies/0") as err:
        resolve({**copy.deepcopy(DEFAULT), "strategies": ["S9"]}, ROOT)
    assert "'S9' is not valid here; accepted: S2 one point" in str(err.value)
    assert "^(S[1-6]" not in str(err.value)  # the description, not the raw pattern


def test_target_outside_the_selected_datasets() -> None:
    with pytest.raises(ConfigError, match="MR/brain"):
        resolve({**copy.deepcopy(DEFAULT), "targets": ["MR/brain"]}, ROOT)


def test_card_with_object_outside_the_ontology(tiny_root: Path) -> None:
    card = tiny_root / "config" / "datasets" / "tiny.yaml"
    card.write_text(card.read_text().replace("2: lesion", "2: Liver Tumour"))
    with pytest.raises(ConfigError, match="ontology") as err:
        load_card(tiny_root, "tiny", load_ontology(tiny_root))
    assert "tiny.yaml" in str(err.value)
    card.write_text(card.read_text().replace("2: Liver Tumour", "2: left_kidny"))
    with pytest.raises(ConfigError, match="did you mean 'left_kidney'"):
        load_card(tiny_root, "tiny", load_ontology(tiny_root))


def test_card_schema_error_names_the_key(tiny_root: Path) -> None:
    card = tiny_root / "config" / "datasets" / "tiny.yaml"
    card.write_text(card.read_text().replace("adapter: volume-pairs", "adapter: dicom-magic"))
    with pytest.raises(ConfigError, match="format/adapter"):
        load_card(tiny_root, "tiny", load_ontology(tiny_root))


def run_config(name: str) -> dict:
    """config/config.yaml overlaid with config/<name>, as `--configfile` does."""
    config = copy.deepcopy(DEFAULT)
    config.update(yaml.safe_load((ROOT / "config" / name).read_text()))
    return config


def test_the_full_run_is_the_papers_experiment_and_the_zoo_runs_beside_it() -> None:
    """cosmos.yaml: SAM ViT-B and ViT-H under S1-S6 on every usable COSMOS card (oracle and
    score selection come with every multimask answer); cosmos-zoo.yaml: the modern zoo."""
    paper = run_config("cosmos.yaml")
    cards, models = resolve(paper, ROOT)
    assert set(models) == {"sam-vit-b", "sam-vit-h"}
    assert paper["strategies"] == ["S1", "S2", "S3", "S4", "S5", "S6"]
    assert len(cards) == 51 and paper["harmonize"]["min_mask_pixels"] == 50
    zoo = run_config("cosmos-zoo.yaml")
    _, models = resolve(zoo, ROOT)
    assert {"medsam", "litemedsam", "sam2.1-hiera-t", "sam3", "otsu-box"} <= set(models)
    assert {"text", "text-box"} <= set(zoo["strategies"])
    assert "text" in models["sam3"]["prompts"]


def test_all_datasets_and_a_modality_filter() -> None:
    config = {**copy.deepcopy(DEFAULT), "datasets": "all", "modalities": ["CT"]}
    cards, _ = resolve(config, ROOT)
    assert {"demo-ct", "medsam2-recist-ct", "kits19", "chaos"} <= set(cards)
    assert all("CT" in card.modalities for card in cards.values())
    assert "demo-endo" not in cards and "acdc" not in cards
    assert config["datasets"] == list(cards)  # what runs, for provenance
    assert config["targets"] == []
    every = {**copy.deepcopy(DEFAULT), "datasets": "all"}
    resolve(every, ROOT)
    unresolved = {"ixi", "4c2021-c04-tls01"}  # no label source: left out with a note
    assert every["datasets"] == sorted(
        p.stem for p in (ROOT / "config" / "datasets").glob("*.yaml") if p.stem not in unresolved
    )
    cosmos = {**copy.deepcopy(DEFAULT), "datasets": "cosmos"}
    resolve(cosmos, ROOT)
    assert len(cosmos["datasets"]) == 53 - len(unresolved) and "demo-ct" not in cosmos["datasets"]


def test_modality_filter_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match="not in resources/ontology.yaml"):
        resolve({**copy.deepcopy(DEFAULT), "modalities": ["PET"]}, ROOT)
    with pytest.raises(ConfigError, match="no selected dataset has modality"):
        resolve({**copy.deepcopy(DEFAULT), "modalities": ["MR"]}, ROOT)


def test_the_ontology_has_one_entry_per_name_and_no_unused_entry() -> None:
    """PyYAML silently keeps the last of two equal keys, so duplicates are checked by hand."""
    import collections

    import yaml

    from cosmos_bench.catalog.cards import all_cards

    duplicates: list[str] = []

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys = collections.Counter(loader.construct_object(k) for k, _ in node.value)
        duplicates.extend(k for k, n in keys.items() if n > 1)
        return yaml.SafeLoader.construct_mapping(loader, node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    ontology = yaml.load((ROOT / "resources" / "ontology.yaml").read_text(), Strict)
    assert duplicates == []
    cards = all_cards(ROOT)
    assert set(ontology["objects"]) == set().union(*(c.objects for c in cards))
    assert set(ontology["modalities"]) == {m for c in cards for m in c.modalities}


def test_cards_dirs_add_cards_kept_outside_the_repository(tmp_path: Path) -> None:
    """A lab's own cards in its own folder: selected by id (and by `all`), checked like the
    repository's; an id in two folders and a missing folder are refused by name."""
    mine = tmp_path / "lab-cards"
    mine.mkdir()
    (mine / "tiny.yaml").write_text(TINY_CARD)
    config = copy.deepcopy(DEFAULT) | {"datasets": ["tiny", "demo-ct"], "cards_dirs": [str(mine)]}
    cards, _ = resolve(config, ROOT)
    assert cards["tiny"].targets == ["CT/lesion", "CT/liver"]
    everything = copy.deepcopy(DEFAULT) | {"datasets": "all", "cards_dirs": [str(mine)]}
    assert "tiny" in resolve(everything, ROOT)[0]
    with pytest.raises(ConfigError, match="no dataset card for 'tiny'"):
        resolve(copy.deepcopy(DEFAULT) | {"datasets": ["tiny"]}, ROOT)
    (mine / "demo-ct.yaml").write_text(TINY_CARD.replace("id: tiny", "id: demo-ct"))
    with pytest.raises(ConfigError, match="two cards for 'demo-ct'") as clash:
        resolve(copy.deepcopy(config), ROOT)
    assert str(mine / "demo-ct.yaml") in str(clash.value)
    with pytest.raises(ConfigError, match="does not exist") as missing:
        resolve(copy.deepcopy(DEFAULT) | {"cards_dirs": [str(tmp_path / "nowhere")]}, ROOT)
    assert "cards_dirs" in str(missing.value)
