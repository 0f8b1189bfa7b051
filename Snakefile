# cosmos-bench: rebuild COSMOS 1050K from public sources and benchmark promptable segmenters.
# The flow is card -> download -> unpack -> harmonize -> infer -> score -> report; each stage is
# one file in workflow/rules and calls one module of src/cosmos_bench. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/harmonize.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/report/index.html",
