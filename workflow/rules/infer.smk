# Infer: per (model, dataset, shard), one encoder pass per image and every prompt of every
# strategy decoded against it.


rule infer:
    input:
        shard="results/harmonized/{dataset}/shards/shard-{shard}.h5",
        index="results/harmonized/{dataset}/index.parquet",
        weights=weights_input,
    output:
        stored_predictions("results/predictions/{model}/{dataset}/shard-{shard}.parquet"),
    log:
        "logs/infer/{model}/{dataset}/shard-{shard}.log",
    benchmark:
        "benchmarks/runs/infer/{model}/{dataset}/shard-{shard}.tsv"
    params:
        weights=weights_arg,
        strategies=" ".join(STRATEGIES),
        repeats=config["robustness"]["repeats"],
        clicks=config["clicks"]["n_clicks"],
        click_rule=config["clicks"]["rule"],
        points=config["infer"]["points"],
        grid=config["everything"]["points_per_side"],
        per_batch=config["everything"]["points_per_batch"],
        feed="" if config["clicks"]["feed_logits"] else "--no-feed-logits",
        targets=" ".join(config["targets"]),
        splits=split_arg,
        device=config["device"],
        seed=config["seed"],
        batch_size=config["infer"]["batch_size"],
        store=config["infer"]["store_predictions"],
        resolution=config["score"]["resolution"],
        precision=config["infer"]["precision"],
        compile="--compile" if config["infer"]["compile"] else "",
        zoo=lambda wildcards: models_file_arg(wildcards.model),
        phrases=phrases_param,
    threads: 2
    resources:
        gpu=gpus_of,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.infer --model {wildcards.model} {params.weights} "
        "--index {input.index} --shard {input.shard} --shard-number {wildcards.shard} "
        "--strategies {params.strategies} --targets {params.targets} {params.splits} "
        "--device {params.device} "
        "--seed {params.seed} --threads {threads} --batch-size {params.batch_size} "
        "--store {params.store} --resolution {params.resolution} "
        "--precision {params.precision} {params.compile} "
        "--repeats {params.repeats} --clicks {params.clicks} --click-rule {params.click_rule} "
        "--points {params.points} {params.feed} "
        "--grid {params.grid} --points-per-batch {params.per_batch} "
        "{params.zoo} --out {output} 3>&2 > {log} 2>&1"
