# Helpers shared by the stage rules: the validated catalog, wildcard constraints and input
# functions. Rules stay declarative; everything they compute is here.
import json
import re
import shlex
import subprocess
import sys

from cosmos_bench.acquire.lock import read_lock
from cosmos_bench.acquire.manifest import read_manifest
from cosmos_bench.acquire.sources import folder_state, local_path, mirrors_for, source_mirrors
from cosmos_bench.acquire.weights import weight_files
from cosmos_bench.catalog import finetune_ids
from cosmos_bench.catalog.cards import CARDS_DIR, PART_KEYS, card_files
from cosmos_bench.catalog.zoo import is_plugin, load_models, own_model_files
from cosmos_bench.catalog.schema import coerce_scalars
from cosmos_bench.catalog.selection import resolve, split_run
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.core.gpu import needs_gpu
from cosmos_bench.infer.phrases import load_phrases
from cosmos_bench.core.strategies import CVPR25, PAPER_STRATEGIES, TEXT_STRATEGIES, jitter_strategies
from cosmos_bench.report.tables.outputs import FIGURES as REPORT_FIGURES
from cosmos_bench.report.tables.outputs import TABLES as REPORT_TABLES
from pyarrow.parquet import read_table
from snakemake.exceptions import IncompleteCheckpointException
from snakemake.settings.types import DeploymentMethod

try:
    coerce_scalars(config, Path.cwd())
    CARDS, MODELS = resolve(config, Path.cwd())
except CosmosError as err:
    sys.exit(f"cosmos-bench: configuration error\n{err}")

# Every job's $PYTHON is the interpreter Snakemake runs under (its venv, whatever PATH holds,
# here and on a SLURM node), or the rule's own conda environment's `python` when Snakemake
# deploys them. The prefix keeps Snakemake's own strict mode. Rules with long jobs (download,
# harmonize, infer) hand the job Snakemake's console as descriptor 3 (`3>&2 > {log} 2>&1`):
# it prints a progress line there every few seconds (cosmos_bench.core.progress).
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    shell.prefix("set -euo pipefail; PYTHON=python; ")
else:
    shell.prefix(f"set -euo pipefail; PYTHON={shlex.quote(sys.executable)}; ")

# The run's own models files: each job that reads the zoo is handed the one file that defines its
# model (none for config/models.yaml's), so adding a lab's file to a finished run reruns only
# its own models' jobs. Their plug-in adapters are imported and checked now, in a child process
# (the parse stays free of torch), so a broken one stops the run here.
OWN_MODELS = own_model_files(Path.cwd(), config["models_file"])
MODELS_FILE_ARGS = " ".join(f"--models-file {shlex.quote(f)}" for f in config["models_file"])
PLUGINS = sorted(m for m, entry in MODELS.items() if is_plugin(entry["adapter"]))
if PLUGINS:
    checked = subprocess.run(
        [sys.executable, "-m", "cosmos_bench.models.plugins", *PLUGINS, *shlex.split(MODELS_FILE_ARGS)],
        capture_output=True,
        text=True,
    )
    if checked.returncode != 0:
        sys.exit(f"cosmos-bench: configuration error\n{checked.stderr.strip()}")

DATASETS = list(CARDS)

# A cloud run (`--default-storage-provider s3`, docs/running.md) keeps every input and output in
# the object store and hands each job local copies of its declared files only: the downloaded
# files become an output of their own, and a card whose source is a folder on this machine
# cannot be read by a job elsewhere.
IN_STORAGE = workflow.storage_settings.default_storage_provider is not None
if IN_STORAGE and (folders := [d for d, card in CARDS.items() if "path" in card.source]):
    sys.exit(
        "cosmos-bench: configuration error\n"
        f"datasets {', '.join(folders)} read a local folder (source.path), which jobs of a run "
        "with --default-storage-provider cannot see.\n"
        "  fix: pack the folder into an archive the jobs can fetch and name its URL in the card's "
        "source (docs/running.md, Cloud), or run these datasets without --default-storage-provider"
    )
CARD_FILES = card_files(Path.cwd(), config["cards_dirs"])
# the lab's datasets lock (`cosmos-bench datasets lock`), read once; a broken one stops the run
try:
    LOCKED = read_lock(Path(config["lockfile"]))
except CosmosError as err:
    sys.exit(f"cosmos-bench: configuration error\n{err}")


def not_selected(dataset):
    """What to say of a target whose dataset is not in `datasets`: the fix that adds it."""
    return (
        f"dataset {dataset!r} is not in this run's datasets ({', '.join(DATASETS)}); "
        f"add it: --config datasets=[{','.join([*DATASETS, dataset])}]"
    )


# A per-dataset target rule exists only for the run's datasets; Snakemake would call any other
# a missing file. Its targets are not known while parsing, so the command line is read.
for _target in sys.argv[1:]:
    _per_dataset = re.fullmatch(r"(?:harmonize|dataset)_([a-z0-9][a-z0-9-]*)", _target)
    if _per_dataset and _per_dataset.group(1) not in CARDS:
        sys.exit(f"cosmos-bench: target {_target}: {not_selected(_per_dataset.group(1))}")
FINETUNE_RUNS = config["finetune"]["runs"]
PROPAGATION_RUNS = [split_run(run) for run in config["propagation"]["runs"]]
# datasets with a volume to store (a part read by a 3D adapter); only they enter the 3D study
VOLUME_DATASETS = [
    d for d in DATASETS if any(p.format["adapter"] != "image-mask-pairs" for p in CARDS[d].parts)
]
SPLIT_RATIOS = "{train} {val} {test}".format(**config["splits"])
# the configured strategies, the robustness study's jittered versions of the S2-S6 ones, and
# the click study's sessions
STRATEGIES = (
    config["strategies"]
    + jitter_strategies(
        [s for s in config["strategies"] if s in PAPER_STRATEGIES],
        config["robustness"]["modes"],
        config["robustness"]["ranges"],
    )
    + [f"clicks-{start}" for start in config["clicks"]["starts"]]
    + ([CVPR25] if config["clicks"]["cvpr25"] else [])
)
# the text strategies' phrases (resources/text_phrases.yaml); a run without them does not read
# the file
PHRASES = (
    json.dumps(load_phrases(Path.cwd()), sort_keys=True)
    if set(STRATEGIES) & set(TEXT_STRATEGIES)
    else ""
)


wildcard_constraints:
    dataset="[a-z0-9][a-z0-9-]*",
    model="[A-Za-z0-9.+@_-]+",
    protocol="box-chain|sam2-propagate|cvpr25-3d|cvpr25",
    run="[A-Za-z0-9._-]+\\+(decoder|lora|both)@[A-Za-z0-9_-]+",
    shard="[0-9]{5}",
    share="[0-9]+",


def card_of(wildcards):
    """The card of a job's dataset. A file target of a dataset outside `datasets` stops with
    the command that adds it, not a KeyError."""
    if wildcards.dataset not in CARDS:
        raise ValueError(not_selected(wildcards.dataset))
    return CARDS[wildcards.dataset]


def cards_dir_arg(wildcards):
    """Where a job finds a card kept outside config/datasets (a `cards_dirs` folder); only
    that dataset's jobs see the option, so adding a folder reruns nothing else."""
    folder = CARD_FILES[card_of(wildcards).id].parent
    if folder == Path.cwd() / CARDS_DIR:
        return ""
    inside = folder.is_relative_to(Path.cwd())
    return f"--cards-dir {shlex.quote(str(folder.relative_to(Path.cwd()) if inside else folder))}"


def source_input(wildcards):
    """Local source files (the demo archives) are real inputs: a changed file reruns the
    download. They stay files of this machine in a cloud run (`local`)."""
    paths = (local_path(entry["url"]) for entry in card_of(wildcards).source_files)
    return [local(path) for path in paths if path]


def in_storage(**files):
    """Files declared only in a cloud run: the downloaded files. Locally they are not an output,
    so a rerun download keeps the verified files it has (and resumes partial ones) instead of
    Snakemake deleting them first; in a cloud run, unpack on another machine needs them."""
    return files if IN_STORAGE else {}


def stored_manifest_arg(wildcards):
    """In a cloud run, the manifest's address in the object store: unpack names it in the fix
    for a damaged archive (deleting the job's local copy does not make the download rerun)."""
    if not IN_STORAGE:
        return ""
    prefix = workflow.storage_settings.default_storage_prefix.rstrip("/")
    return f"--stored {shlex.quote(f'{prefix}/results/downloads/{wildcards.dataset}/SHA256SUMS')}"


def source_params(wildcards):
    """The card's source as a string: a changed URL or checksum reruns the download, and so
    does a file added to, removed from or changed in a local source folder."""
    source = card_of(wildcards).source
    if "path" in source:
        source = {**source, "state": folder_state(Path(source["path"]))}
    return json.dumps(source, sort_keys=True)


def lock_trigger(wildcards):
    """The lockfile's entries of this dataset that its download does not already hold: locking
    a finished download reruns nothing (nor does relocking another dataset), an entry that
    differs from what is on disk reruns the download, which then checks it (the job reads the
    lockfile itself)."""
    manifest = Path(f"results/downloads/{wildcards.dataset}/SHA256SUMS")
    # a cloud run's manifest is in the object store: every locked entry counts
    held = read_manifest(manifest) if manifest.exists() else {}
    locked = LOCKED.get(wildcards.dataset, {})
    return json.dumps({n: e["sha256"] for n, e in sorted(locked.items()) if held.get(n) != e["sha256"]})


def source_mirrors_param(wildcards):
    """Only the mirror entries that rewrite this dataset's URLs: editing another dataset's
    mirror leaves this download's params, so it is not rerun."""
    return json.dumps(source_mirrors(card_of(wildcards), config["mirrors"]), sort_keys=True)


def weights_mirrors_param(wildcards):
    """Only the mirror entries that rewrite this model's weights URL (config/models.yaml; the
    weights of a zoo model outside `models` can be fetched too)."""
    zoo = MODELS if wildcards.model in MODELS else load_models(Path.cwd(), config["models_file"])
    entry = zoo.get(wildcards.model, {})
    urls = [f["url"] for f in weight_files(entry["weights"])] if "weights" in entry else []
    return json.dumps(mirrors_for(urls, config["mirrors"]), sort_keys=True)


def card_params(wildcards):
    """What harmonization reads from a card; a changed label map reruns it."""
    card = card_of(wildcards).raw
    keys = (*PART_KEYS, "parts", "unresolved")
    return json.dumps({k: card[k] for k in keys if k in card}, sort_keys=True)


def ct_windows_arg(wildcards):
    """The config's extra CT windows as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(config["harmonize"]["ct_windows"], sort_keys=True))


def intensity_args(wildcards):
    """harmonize.clip_percentiles (none: no clipping, the paper), grey_2d and rounding as
    options."""
    settings = config["harmonize"]
    bounds = settings["clip_percentiles"]
    clip = "--clip-percentiles " + " ".join(map(str, bounds)) if bounds else ""
    return f"{clip} --grey-2d {settings['grey_2d']} --rounding {settings['rounding']}"


def instance_masks_arg(wildcards):
    """Whether this dataset keeps its card's instances apart (harmonize.instance_masks)."""
    keep = config["harmonize"]["instance_masks"]
    return "--instance-masks" if "all" in keep or wildcards.dataset in keep else ""


def case_jobs(dataset):
    """How many jobs harmonize a dataset's cases (harmonize.case_jobs; 1 where not named)."""
    return int(config["harmonize"]["case_jobs"].get(dataset, 1))


def harmonize_settings(wildcards):
    """The harmonize job's settings as options: the same for a whole dataset and its shares."""
    h = config["harmonize"]
    return (
        f"--normalization {h['normalization']} --ct-windows {ct_windows_arg(wildcards)} "
        f"{intensity_args(wildcards)} {instance_masks_arg(wildcards)} "
        f"--mask-filter {h['mask_filter']} --min-mask-pixels {h['min_mask_pixels']} "
        f"--components {' '.join(h['components'])} --max-side {h['max_side']} "
        f"--images-per-shard {h['images_per_shard']} --codec {h['codec']} "
        f"--splits {SPLIT_RATIOS} --split-seed {config['splits']['seed']} "
        f"{cards_dir_arg(wildcards)}"
    )


def harmonize_input(wildcards):
    """The raw folder, or the shares' outputs where harmonize.case_jobs splits the dataset."""
    n = case_jobs(wildcards.dataset)
    if n == 1:
        return {"raw": f"results/raw/{wildcards.dataset}"}
    shares = [f"results/harmonized/{wildcards.dataset}/shares/{k}" for k in range(n)]
    return {"indexes": [f"{share}.parquet" for share in shares], "shares": shares}


def harmonize_job(wildcards, input):
    """The harmonize checkpoint's command: harmonize the raw folder, or merge the shares."""
    if "raw" in input.keys():
        return f"--dataset {wildcards.dataset} --raw {input.raw} {harmonize_settings(wildcards)}"
    indexes, shares = " ".join(input.indexes), " ".join(input.shares)
    return f"merge --dataset {wildcards.dataset} --share-indexes {indexes} --share-shards {shares}"


def weights_source_args(wildcards):
    """The weights job's models file and, for gated weights only, the manual folder they are
    placed in (the other models' jobs keep their params, so they do not rerun)."""
    args = models_file_arg(wildcards.model)
    zoo = MODELS if wildcards.model in MODELS else load_models(Path.cwd(), config["models_file"])
    if "gated" in zoo.get(wildcards.model, {}).get("weights", {}):
        args += f" --manual-dir {shlex.quote(config['manual_dir'])}"
    return args.strip()


def model_weights(model):
    """A model's verified weights file: downloaded (the zoo) or trained (a fine-tuning run)."""
    if finetune_ids.is_finetuned(model):
        return [finetune_ids.run_weights(model)]
    if "weights" not in MODELS[model]:
        return []
    folder = "files" in MODELS[model]["weights"]  # a model folder (nnInteractive's)
    return [f"results/weights/{model}.d" if folder else f"results/weights/{model}.pth"]


def weights_input(wildcards):
    return model_weights(wildcards.model)


def models_file_arg(model):
    """`--models-file` with the file that defines `model` (a fine-tuning run: its base), or
    nothing for a model of config/models.yaml."""
    base = finetune_ids.parse(model).base if finetune_ids.is_finetuned(model) else model
    return f"--models-file {shlex.quote(OWN_MODELS[base])}" if base in OWN_MODELS else ""


def phrases_param(wildcards):
    """The phrases, for the infer jobs of a model that takes text: an edited phrase reruns them
    and no other model's."""
    model = wildcards.model
    base = finetune_ids.parse(model).base if finetune_ids.is_finetuned(model) else model
    return PHRASES if "text" in MODELS.get(base, {}).get("prompts", []) else ""


def split_arg(wildcards):
    """Fine-tuned models are scored on the test split only: they have seen the rest."""
    return "--splits test" if finetune_ids.is_finetuned(wildcards.model) else ""


def gpus_of(wildcards):
    """Neural models take one GPU (SLURM: --gpus=1; locally a lease, cosmos_bench.core.gpu); the
    weight-free baselines none, so they never wait for or hold one."""
    return int(needs_gpu(MODELS[wildcards.model]))


def weights_arg(wildcards, input):
    return f"--weights {input.weights}" if input.weights else ""


def stored_predictions(path):
    """With `store_predictions: none`, predictions are temporary: deleted once scored."""
    return temp(path) if config["infer"]["store_predictions"] == "none" else path


def shard_file(dataset, shard):
    return f"results/harmonized/{dataset}/shards/shard-{shard}.h5"


def all_shard_files(wildcards):
    """Every shard file of the run, for the gallery (the files, not their folders: a cloud run
    retrieves a folder only where no local copy of it is, and infer's copies of single shards
    make one)."""
    return [shard_file(d, k) for d in DATASETS for k in shards_of(d)]


def stored_prediction_files(wildcards):
    """Every stored prediction file of the run, for the gallery; none when they are temporary."""
    if config["infer"]["store_predictions"] == "none":
        return []
    return [
        f"results/predictions/{model}/{dataset}/shard-{shard}.parquet"
        for dataset in DATASETS
        for shard in shards_of(dataset)
        for model in MODELS
    ]


def shards_of(dataset):
    """Shard numbers of a harmonized dataset, known once its checkpoint has run: its folder's
    files, or in a cloud run the index's shard column (the folder is in the object store)."""
    output = checkpoints.harmonize.get(dataset=dataset).output
    if IN_STORAGE:
        return stored_shards(output.index)
    return sorted(p.name[len("shard-") : -len(".h5")] for p in Path(output.shards).glob("shard-*.h5"))


STORED_SHARDS = {}  # index in the object store -> its shard numbers, read once per invocation


def stored_shards(index):
    """The shard numbers an index in the object store names. A local copy older than the
    stored index (left by an interrupted run) is fetched again; one fetched here is removed."""
    if str(index) not in STORED_SHARDS:
        local, stored = Path(index), index.storage_object
        fetched = not local.exists() or local.stat().st_mtime < stored.mtime()
        if fetched:
            local.parent.mkdir(parents=True, exist_ok=True)
            stored.retrieve_object()
        try:
            shards = read_table(local, columns=["shard"]).column("shard").to_pylist()
        finally:
            if fetched:
                local.unlink()
        STORED_SHARDS[str(index)] = sorted({f"{k:05d}" for k in shards})
    return STORED_SHARDS[str(index)]


def dataset_scores(wildcards):
    """A dataset's score shards: each dataset waits only for its own harmonize checkpoint, so
    a dry run lists every dataset's download, unpack and harmonize jobs."""
    return [
        f"results/scores/{wildcards.model}/{wildcards.dataset}/shard-{shard}.parquet"
        for shard in shards_of(wildcards.dataset)
    ]


def all_manifests(wildcards):
    return [f"results/downloads/{dataset}/SHA256SUMS" for dataset in DATASETS]


def all_verification_records(wildcards):
    return [f"results/downloads/{dataset}/VERIFIED.json" for dataset in DATASETS]


def all_weights(wildcards):
    """The downloaded weights (fine-tuned ones are recorded by their run's weights.json)."""
    return [w for model in MODELS if not finetune_ids.is_finetuned(model) for w in model_weights(model)]


def run_objects(run):
    return finetune_ids.subset_objects(finetune_ids.parse(run).subset, config["finetune"]["subsets"], Path.cwd())


def run_datasets(run):
    """The datasets that have an object of the run's subset (known from the cards)."""
    objects = set(run_objects(run))
    return [d for d in DATASETS if objects & set(CARDS[d].objects)]


def run_shards(run):
    """(dataset, shard) pairs a run trains on, once their harmonize checkpoints have run."""
    return [(d, k) for d in run_datasets(run) for k in shards_of(d)]


def train_input(wildcards):
    run = wildcards.run
    shards = [shard_file(d, k) for d, k in run_shards(run)]
    caches = []
    if finetune_ids.parse(run).arm == "decoder":
        caches = [f"results/finetune/{run}/embeddings/{d}/shard-{k}.pt" for d, k in run_shards(run)]
    return {
        "weights": model_weights(finetune_ids.parse(run).base),
        "indexes": [f"results/harmonized/{d}/index.parquet" for d in run_datasets(run)],
        "shards": shards,
        "caches": caches,
    }


def train_args(wildcards):
    """The train job's inputs as options. A params function, not `{input.weights}`: while the
    harmonize checkpoints are pending the job's input is not known yet, and a dry run (which
    prints every shell command) must still format the command."""
    try:
        given = train_input(wildcards)
    except IncompleteCheckpointException:
        return "<known once the harmonize checkpoints have run>"
    options = {key: " ".join(map(str, paths)) for key, paths in given.items()}
    return " ".join(f"--{key} {paths}" for key, paths in options.items() if paths or key != "weights")


def base_weights(wildcards):
    return model_weights(finetune_ids.parse(wildcards.run).base)


def objects_arg(wildcards):
    return " ".join(run_objects(wildcards.run))


def cached_embeddings(path):
    """The decoder arm's embeddings are deleted after training unless keep_embeddings."""
    return path if config["finetune"]["keep_embeddings"] else temp(path)


def run_config(wildcards):
    """The resolved config, recorded in the report's provenance."""
    return json.dumps(config, sort_keys=True)


def run_benchmarks(wildcards):
    """The benchmark file of every job of the run, for the report's wall time per stage."""
    files = [
        f"benchmarks/runs/{stage}/{d}.tsv" for stage in ("download", "unpack", "harmonize") for d in DATASETS
    ]
    files += [
        f"benchmarks/runs/harmonize/{d}/share-{k}.tsv"
        for d in DATASETS
        if case_jobs(d) > 1
        for k in range(case_jobs(d))
    ]
    files += [f"benchmarks/runs/weights/{Path(w).name.removesuffix('.pth')}.tsv" for w in all_weights(wildcards)]
    files += [
        f"benchmarks/runs/{stage}/{m}/{d}/shard-{k}.tsv"
        for stage in ("infer", "score")
        for m in MODELS
        for d in DATASETS
        for k in shards_of(d)
    ]
    files += [f"benchmarks/runs/train/{run}.tsv" for run in FINETUNE_RUNS]
    files += [
        f"benchmarks/runs/embed_cache/{run}/{d}/shard-{k}.tsv"
        for run in FINETUNE_RUNS
        if finetune_ids.parse(run).arm == "decoder"
        for d, k in run_shards(run)
    ]
    for model, protocol in PROPAGATION_RUNS:
        files += [f"benchmarks/runs/propagate/{model}/{protocol}/{d}.tsv" for d in VOLUME_DATASETS]
    if PROPAGATION_RUNS:
        files += [f"benchmarks/runs/volumes/{d}.tsv" for d in VOLUME_DATASETS]
    return files


def all_propagation(wildcards):
    """Every 3D run's table: one per (model, protocol, 3D dataset)."""
    return [
        f"results/propagation/{model}/{protocol}/{dataset}.parquet"
        for model, protocol in PROPAGATION_RUNS
        for dataset in VOLUME_DATASETS
    ]
