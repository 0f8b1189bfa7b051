# Download: fetch and verify each dataset's source into downloads/{dataset}/files, then unpack
# it safely. The demo archives are committed (resources/demo/) and take the same path as any
# public dataset.


rule download:
    input:
        source_input,
    output:
        manifest="results/downloads/{dataset}/SHA256SUMS",
        verified="results/downloads/{dataset}/VERIFIED.json",
        **in_storage(files=directory("results/downloads/{dataset}/files")),
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "benchmarks/runs/download/{dataset}.tsv"
    params:
        source=source_params,
        strict="--strict" if config["strict_checksums"] else "",
        mirrors=source_mirrors_param,
        locked=lock_trigger,  # a rerun trigger only: the job reads the lockfile itself
        lockfile=config["lockfile"],
        manual_dir=config["manual_dir"],
        cards=cards_dir_arg,
    resources:
        downloads=1,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.acquire.download --dataset {wildcards.dataset} "
        "--out-dir $(dirname {output.manifest:q}) {params.strict} "
        "--mirrors {params.mirrors:q} --lockfile {params.lockfile:q} "
        "--manual-dir {params.manual_dir:q} {params.cards} 3>&2 > {log} 2>&1"


rule unpack:
    input:
        manifest="results/downloads/{dataset}/SHA256SUMS",
        **in_storage(files="results/downloads/{dataset}/files"),
    output:
        directory("results/raw/{dataset}"),
    log:
        "logs/unpack/{dataset}.log",
    benchmark:
        "benchmarks/runs/unpack/{dataset}.tsv"
    params:
        cards=cards_dir_arg,
        stored=stored_manifest_arg,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.acquire.unpack --dataset {wildcards.dataset} "
        "--manifest {input.manifest} --raw {output} {params.cards} {params.stored} > {log} 2>&1"


rule weights:
    output:
        "results/weights/{model}.pth",
    log:
        "logs/weights/{model}.log",
    benchmark:
        "benchmarks/runs/weights/{model}.tsv"
    params:
        mirrors=weights_mirrors_param,
        strict="--strict" if config["strict_checksums"] else "",
        zoo=weights_source_args,
    resources:
        downloads=1,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.acquire.weights --model {wildcards.model} --out {output} "
        "--mirrors {params.mirrors:q} {params.strict} {params.zoo} 3>&2 > {log} 2>&1"


# A model whose weights are a folder of files (nnInteractive's model folder)
use rule weights as weights_folder with:
    output:
        directory("results/weights/{model}.d"),
    benchmark:
        "benchmarks/runs/weights/{model}.d.tsv"
