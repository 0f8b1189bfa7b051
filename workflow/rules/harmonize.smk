# Harmonize: one dataset's cases -> HDF5 shards + a Parquet index (one row per mask). It is a
# checkpoint because the number of shards is known only after it ran.


checkpoint harmonize:
    input:
        "results/raw/{dataset}",
    output:
        index="results/harmonized/{dataset}/index.parquet",
        shards=directory("results/harmonized/{dataset}/shards"),
    log:
        "logs/harmonize/{dataset}.log",
    benchmark:
        "benchmarks/runs/harmonize/{dataset}.tsv"
    params:
        card=card_params,
        normalization=config["harmonize"]["normalization"],
        ct_windows=ct_windows_arg,
        intensity=intensity_args,
        instances=instance_masks_arg,
        mask_filter=config["harmonize"]["mask_filter"],
        min_pixels=config["harmonize"]["min_mask_pixels"],
        components=" ".join(config["harmonize"]["components"]),
        max_side=config["harmonize"]["max_side"],
        per_shard=config["harmonize"]["images_per_shard"],
        codec=config["harmonize"]["codec"],
        splits=SPLIT_RATIOS,
        split_seed=config["splits"]["seed"],
        cards=cards_dir_arg,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.harmonize --dataset {wildcards.dataset} --raw {input} "
        "--index {output.index} --shards {output.shards} "
        "--normalization {params.normalization} --ct-windows {params.ct_windows} {params.intensity} "
        "{params.instances} "
        "--mask-filter {params.mask_filter} --min-mask-pixels {params.min_pixels} "
        "--components {params.components} --max-side {params.max_side} "
        "--images-per-shard {params.per_shard} --codec {params.codec} "
        "--splits {params.splits} --split-seed {params.split_seed} {params.cards} "
        "3>&2 > {log} 2>&1"
