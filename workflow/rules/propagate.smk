# Propagate: the 3D study. Each 3D dataset's cases are stored as whole object extents (volumes),
# then every (model, protocol) propagates each object from one box and scores it in 3D.


rule volumes:
    input:
        "results/raw/{dataset}",
    output:
        index="results/volumes/{dataset}/volumes.parquet",
        volumes=directory("results/volumes/{dataset}/cases"),
    log:
        "logs/volumes/{dataset}.log",
    benchmark:
        "benchmarks/runs/volumes/{dataset}.tsv"
    params:
        card=card_params,
        normalization=config["harmonize"]["normalization"],
        ct_windows=ct_windows_arg,
        intensity=intensity_args,
        instances=instance_masks_arg,
        mask_filter=config["harmonize"]["mask_filter"],
        components=" ".join(config["harmonize"]["components"]),
        splits=SPLIT_RATIOS,
        split_seed=config["splits"]["seed"],
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.propagation.volumes --dataset {wildcards.dataset} --raw {input} "
        "--out {output.volumes} --index {output.index} "
        "--normalization {params.normalization} --ct-windows {params.ct_windows} {params.intensity} "
        "{params.instances} "
        "--mask-filter {params.mask_filter} --components {params.components} "
        "--splits {params.splits} --split-seed {params.split_seed} > {log} 2>&1"


rule propagate:
    input:
        index="results/volumes/{dataset}/volumes.parquet",
        volumes="results/volumes/{dataset}/cases",
        tolerances=local("resources/nsd_tolerances.yaml"),
        weights=weights_input,
    output:
        "results/propagation/{model}/{protocol}/{dataset}.parquet",
    log:
        "logs/propagate/{model}/{protocol}/{dataset}.log",
    benchmark:
        "benchmarks/runs/propagate/{model}/{protocol}/{dataset}.tsv"
    params:
        weights=weights_arg,
        targets=" ".join(config["propagation"]["targets"] or config["targets"]),
        device=config["device"],
        seed=config["seed"],
        zoo=lambda wildcards: models_file_arg(wildcards.model),
    threads: 2
    resources:
        gpu=gpus_of,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.propagation --model {wildcards.model} "
        "--protocol {wildcards.protocol} {params.weights} --index {input.index} "
        "--volumes {input.volumes} --tolerances {input.tolerances} --targets {params.targets} "
        "--device {params.device} --seed {params.seed} --threads {threads} {params.zoo} "
        "--out {output} > {log} 2>&1"
