"""Which Python the jobs run: the interpreter Snakemake runs under (its venv, whatever PATH
holds), or, with `--software-deployment-method conda`, each rule's own environment's `python`.

No conda is installed here, and Snakemake's dry run asks conda for its info before planning, so
the conda side is checked where Snakemake decides it: the workflow parsed through Snakemake's
own API with the conda deployment method, reading the shell prefix the rules will run with.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import ROOT

#: parses the workflow as `snakemake --software-deployment-method ...` does, prints the prefix
#: every shell rule gets and the rules that call $PYTHON without a conda environment
PARSE = """
import sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DeploymentMethod, DeploymentSettings,
                                      OutputSettings, ResourceSettings, StorageSettings)
from snakemake.shell import shell

methods = {DeploymentMethod.CONDA} if sys.argv[1] == "conda" else set()
with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(cores=1), storage_settings=StorageSettings(),
        config_settings=ConfigSettings(configfiles=[Path("config/config.yaml")]),
        deployment_settings=DeploymentSettings(deployment_method=methods),
        snakefile=Path("workflow/Snakefile"),
    )
    rules = workflow._workflow.rules
    print("PREFIX", shell._process_prefix)
    print("NO-ENV", sorted(r.name for r in rules if r.shellcmd and "$PYTHON" in r.shellcmd
                           and not r.conda_env))
"""


def _parse(method: str) -> tuple[str, str]:
    run = subprocess.run([sys.executable, "-c", PARSE, method], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    prefix = re.search(r"^PREFIX (.*)$", run.stdout, re.M).group(1)
    return prefix, re.search(r"^NO-ENV (.*)$", run.stdout, re.M).group(1)


@pytest.mark.parametrize(("method", "python"), [("none", sys.executable), ("conda", "python")])
def test_jobs_run_snakemakes_interpreter_or_their_conda_environments(method, python) -> None:
    prefix, without_env = _parse(method)
    assert prefix.strip() == f"set -euo pipefail; PYTHON={python};"
    assert without_env == "[]"  # every rule that runs Python has envs/cosmos.yaml
