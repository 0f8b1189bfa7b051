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
        max_side=config["harmonize"]["max_side"],
        min_pixels=config["harmonize"]["min_mask_pixels"],
        per_shard=config["harmonize"]["images_per_shard"],
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "python -m cosmos_bench.harmonize --dataset {wildcards.dataset} --raw {input} "
        "--index {output.index} --shards {output.shards} "
        "--normalization {params.normalization} --max-side {params.max_side} "
        "--min-mask-pixels {params.min_pixels} --images-per-shard {params.per_shard} > {log} 2>&1"
