# Two entry points: `make demo` runs the embedded demo, `make test` runs every test.
# Both create .venv on first use and install the pinned dependencies (requirements.lock).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint lock clean system-deps
# Debian packages the tests drive: headless Chromium renders the report; slurm-wlm and munge
# make a real single-node SLURM cluster for the profile tests.
SYSTEM_PACKAGES := chromium chromium-driver slurm-wlm munge
SYSTEM_COMMANDS := chromium chromedriver slurmctld slurmd munged

# sam3 caps numpy, huggingface-hub, tqdm and typing_extensions below the lock's pins: it goes in
# without its pins (pyproject.toml lists the packages its modules that the adapter imports need).
# sam2 ships only as source: it is built against the pinned torch already in the venv (no build
# environment pulling a second torch) and without its optional CUDA extension.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock torch torchvision 'setuptools>=70' wheel
	SAM2_BUILD_CUDA=0 $(BIN)/python -m pip install --quiet --no-build-isolation -c requirements.lock sam2
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock sam3
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores all

system-deps:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || PATH=$$PATH:/usr/sbin command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for the tests ($$missing missing): $(SYSTEM_PACKAGES)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint
	$(BIN)/python -m pytest -m "" -ra --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

# Refresh the pins after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf results logs .snakemake benchmarks/runs
