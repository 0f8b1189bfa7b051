# Report: provenance of the run, then tables, figures and the HTML page from all score shards.


rule provenance:
    input:
        manifests=all_manifests,
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
        "python -m cosmos_bench.report.provenance --config-json {params.config:q} "
        "--manifests {input.manifests} --weights {input.weights} --out {output} > {log} 2>&1"


rule report:
    input:
        scores=expand("results/scores/{model}/{dataset}.parquet", model=MODELS, dataset=DATASETS),
        provenance="results/report/provenance.json",
        finetune=expand("results/finetune/{run}/weights.json", run=FINETUNE_RUNS),
        losses=expand("results/finetune/{run}/loss.csv", run=FINETUNE_RUNS),
        propagation=all_propagation,
        indexes=expand("results/harmonized/{dataset}/index.parquet", dataset=DATASETS),
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
        runs=expand("results/finetune/{run}", run=FINETUNE_RUNS),
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "python -m cosmos_bench.report --scores {input.scores} --tables-dir results/tables "
        "--figures-dir results/figures --html {output.html} --summary {output.summary} "
        "--provenance {input.provenance} --benchmarks benchmarks/runs "
        "--bootstrap {params.bootstrap} --ci-level {params.level} --finetune {params.runs} "
        "--complexity {params.complexity} "
        "--propagation {input.propagation} --indexes {input.indexes} > {log} 2>&1"
