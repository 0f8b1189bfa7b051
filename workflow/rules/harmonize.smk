# Harmonize: one dataset's cases -> HDF5 shards + a Parquet index (one row per mask). It is a
# checkpoint because the number of shards is known only after it ran. A dataset named in
# harmonize.case_jobs is harmonized by that many share jobs (each case's share from a hash of
# its id, so the plan needs no listing), which the checkpoint then merges.


checkpoint harmonize:
    input:
        unpack(harmonize_input),
    output:
        index="results/harmonized/{dataset}/index.parquet",
        shards=directory("results/harmonized/{dataset}/shards"),
    log:
        "logs/harmonize/{dataset}.log",
    benchmark:
        "benchmarks/runs/harmonize/{dataset}.tsv"
    params:
        card=card_params,
        job=harmonize_job,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.harmonize {params.job} "
        "--index {output.index} --shards {output.shards} 3>&2 > {log} 2>&1"


rule harmonize_share:
    input:
        "results/raw/{dataset}",
    output:
        index=temp("results/harmonized/{dataset}/shares/{share}.parquet"),
        shards=temp(directory("results/harmonized/{dataset}/shares/{share}")),
    log:
        "logs/harmonize/{dataset}/share-{share}.log",
    benchmark:
        "benchmarks/runs/harmonize/{dataset}/share-{share}.tsv"
    params:
        card=card_params,
        settings=harmonize_settings,
        jobs=lambda wildcards: case_jobs(wildcards.dataset),
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.harmonize --dataset {wildcards.dataset} --raw {input} "
        "{params.settings} --share {wildcards.share}/{params.jobs} "
        "--index {output.index} --shards {output.shards} 3>&2 > {log} 2>&1"
