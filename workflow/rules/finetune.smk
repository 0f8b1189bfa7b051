# Fine-tune: per run (base+arm@subset), cache the decoder arm's image embeddings per shard, then
# train; the run's weights are a model that infer, score and the report use unchanged.


rule embed_cache:
    input:
        shard="results/harmonized/{dataset}/shards/shard-{shard}.h5",
        index="results/harmonized/{dataset}/index.parquet",
        weights=base_weights,
    output:
        cached_embeddings("results/finetune/{run}/embeddings/{dataset}/shard-{shard}.pt"),
    log:
        "logs/finetune/{run}/embed-{dataset}-{shard}.log",
    benchmark:
        "benchmarks/runs/embed_cache/{run}/{dataset}/shard-{shard}.tsv"
    params:
        objects=objects_arg,
        device=config["device"],
        seed=config["seed"],
        batch_size=config["infer"]["batch_size"],
        zoo=lambda wildcards: models_file_arg(wildcards.run),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.finetune embed --model {wildcards.run} --weights {input.weights} "
        "--objects {params.objects} --index {input.index} --shard {input.shard} "
        "--shard-number {wildcards.shard} --device {params.device} --seed {params.seed} "
        "--threads {threads} --batch-size {params.batch_size} {params.zoo} --out {output} "
        "> {log} 2>&1"


rule train:
    input:
        unpack(train_input),
    output:
        weights="results/finetune/{run}/weights.pth",
        meta="results/finetune/{run}/weights.json",
        log="results/finetune/{run}/loss.csv",
    log:
        "logs/finetune/{run}/train.log",
    benchmark:
        "benchmarks/runs/train/{run}.tsv"
    params:
        objects=objects_arg,
        state="results/finetune/{run}/state.pt",
        device=config["device"],
        seed=config["seed"],
        epochs=config["finetune"]["epochs"],
        batch_size=config["finetune"]["batch_size"],
        lr=config["finetune"]["lr"],
        weight_decay=config["finetune"]["weight_decay"],
        jitter=config["finetune"]["box_jitter"],
        loss_resolution=config["finetune"]["loss_resolution"],
        rank=config["finetune"]["lora_rank"],
        alpha=config["finetune"]["lora_alpha"],
        select=config["finetune"]["select"],
        validation=config["finetune"]["validation"],
        every=config["finetune"]["checkpoint_every"],
        inputs=train_args,
        zoo=lambda wildcards: models_file_arg(wildcards.run),
    threads: 2
    resources:
        gpu=1,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.finetune train --model {wildcards.run} {params.inputs} {params.zoo} "
        "--objects {params.objects} --device {params.device} --seed {params.seed} "
        "--threads {threads} --epochs {params.epochs} --batch-size {params.batch_size} "
        "--lr {params.lr} --weight-decay {params.weight_decay} --box-jitter {params.jitter} "
        "--loss-resolution {params.loss_resolution} "
        "--lora-rank {params.rank} --lora-alpha {params.alpha} --select {params.select} "
        "--validation {params.validation} "
        "--checkpoint-every {params.every} --state {params.state} --out {output.weights} "
        "--meta {output.meta} --log {output.log} > {log} 2>&1"
