# Score: per (model, dataset, shard), every metric and object factor of every mask, strategy and
# selection rule.


rule score:
    input:
        predictions="results/predictions/{model}/{dataset}/shard-{shard}.parquet",
        shard="results/harmonized/{dataset}/shards/shard-{shard}.h5",
        index="results/harmonized/{dataset}/index.parquet",
        tolerances=local("resources/nsd_tolerances.yaml"),
        ontology=local("resources/ontology.yaml"),
    output:
        "results/scores/{model}/{dataset}/shard-{shard}.parquet",
    log:
        "logs/score/{model}/{dataset}/shard-{shard}.log",
    benchmark:
        "benchmarks/runs/score/{model}/{dataset}/shard-{shard}.tsv"
    params:
        resolution=config["score"]["resolution"],
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.score shard --model {wildcards.model} --predictions {input.predictions} "
        "--index {input.index} --shard {input.shard} --tolerances {input.tolerances} "
        "--resolution {params.resolution} --out {output} > {log} 2>&1"


rule gather_scores:
    input:
        dataset_scores,
    output:
        "results/scores/{model}/{dataset}.parquet",
    log:
        "logs/score/{model}/{dataset}.log",
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.score gather --out {output} {input} > {log} 2>&1"
