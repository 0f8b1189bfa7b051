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
        "python -m cosmos_bench.provenance --config-json {params.config:q} "
        "--manifests {input.manifests} --weights {input.weights} --out {output} > {log} 2>&1"


rule report:
    input:
        scores=expand("results/scores/{model}/{dataset}.parquet", model=MODELS, dataset=DATASETS),
        provenance="results/report/provenance.json",
    output:
        html=report(
            "results/report/index.html",
            category="Report",
            labels={"page": "cosmos-bench report"},
        ),
        tables=expand(
            "results/tables/{table}.csv",
            table=[
                "by_target",
                "by_dataset",
                "by_modality",
                "overall",
                "jitter_drop",
                "everything_vs_box",
                "click_curves",
                "noc",
            ],
        ),
        figures=expand(
            "results/figures/{figure}.png",
            figure=["dice_by_target", "dice_by_modality", "dice_vs_clicks"],
        ),
    log:
        "logs/report/report.log",
    conda:
        "../../envs/cosmos.yaml"
    shell:
        "python -m cosmos_bench.report --scores {input.scores} --tables-dir results/tables "
        "--figures-dir results/figures --html {output.html} --provenance {input.provenance} "
        "> {log} 2>&1"
