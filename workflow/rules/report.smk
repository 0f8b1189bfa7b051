# Report: provenance of the run; the case gallery, drawn from the stored predictions and the
# shards; then tables, figures and the HTML page from all score files and the jobs' benchmark
# files (every file a job reads is a declared input: a cloud run hands over exactly those). Under
# `store_predictions: none` the gallery reads no prediction (they are temporary), so it never
# calls for inference again.


rule provenance:
    input:
        manifests=all_manifests,
        verified=all_verification_records,
        weights=all_weights,
    output:
        "results/report/provenance.json",
    log:
        "logs/report/provenance.log",
    params:
        config=run_config,
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.report.provenance --config-json {params.config:q} "
        "--manifests {input.manifests} --verified {input.verified} --weights {input.weights} "
        "--out {output} > {log} 2>&1"


rule gallery:
    input:
        scores=expand("results/scores/{model}/{dataset}.parquet", model=MODELS, dataset=DATASETS),
        indexes=expand("results/harmonized/{dataset}/index.parquet", dataset=DATASETS),
        shards=all_shard_files,
        predictions=stored_prediction_files,
    output:
        directory("results/report/gallery"),
    log:
        "logs/report/gallery.log",
    params:
        seed=config["seed"],
        resolution=config["score"]["resolution"],
        click_rule=config["clicks"]["rule"],
        points=config["infer"]["points"],
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.report.gallery --scores {input.scores} "
        "--indexes {input.indexes} --predictions {input.predictions} "
        "--seed {params.seed} --resolution {params.resolution} --click-rule {params.click_rule} "
        "--points {params.points} --out {output} > {log} 2>&1"


rule report:
    input:
        scores=expand("results/scores/{model}/{dataset}.parquet", model=MODELS, dataset=DATASETS),
        provenance="results/report/provenance.json",
        finetune=expand("results/finetune/{run}/weights.json", run=FINETUNE_RUNS),
        losses=expand("results/finetune/{run}/loss.csv", run=FINETUNE_RUNS),
        propagation=all_propagation,
        indexes=expand("results/harmonized/{dataset}/index.parquet", dataset=DATASETS),
        gallery="results/report/gallery",
        paper=local("resources/paper_results.yaml"),
        benchmarks=run_benchmarks,
    output:
        html=report(
            "results/report/index.html",
            category="Report",
            labels={"page": "cosmos-bench report"},
        ),
        summary=report(
            "results/report/summary.md", category="Report", labels={"page": "summary"}
        ),
        tables=[
            report(f"results/tables/{t}.csv", category="Tables", labels={"table": t})
            for t in REPORT_TABLES
        ],
        parquet=expand("results/tables/{table}.parquet", table=REPORT_TABLES),
        figures=[
            report(
                f"results/figures/{f}.png",
                category="Figures",
                caption="../report/figure.rst",
                labels={"figure": f},
            )
            for f in REPORT_FIGURES
        ],
        svg=expand("results/figures/{figure}.svg", figure=REPORT_FIGURES),
    log:
        "logs/report/report.log",
    params:
        bootstrap=config["report"]["bootstrap"],
        level=config["report"]["ci_level"],
        complexity=config["report"]["complexity"],
        nsd=config["report"]["nsd"],
        hd_empty=config["report"]["hd_empty"],
        tables=lambda wildcards, output: Path(output.tables[0]).parent,
        figures=lambda wildcards, output: Path(output.figures[0]).parent,
        runs=lambda wildcards, input: [Path(meta).parent for meta in input.finetune],
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "$PYTHON -m cosmos_bench.report --scores {input.scores} --tables-dir {params.tables} "
        "--figures-dir {params.figures} --html {output.html} --summary {output.summary} "
        "--provenance {input.provenance} --benchmarks {input.benchmarks} "
        "--bootstrap {params.bootstrap} --ci-level {params.level} --finetune {params.runs} "
        "--complexity {params.complexity} --nsd {params.nsd} --hd-empty {params.hd_empty} "
        "--propagation {input.propagation} --indexes {input.indexes} "
        "--gallery {input.gallery} --paper {input.paper} > {log} 2>&1"
