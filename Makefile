# `make test` and `make demo` create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test lint demo ablation bench app clean

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[test,logging,deepspeed,hands,app]"
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS) tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

demo: $(VENV)/.installed
	$(PY) demo.py --output_dir outputs/demo

# The web app on http://127.0.0.1:7860 (MODEL=... or BEYONDGLOSS_MODEL=... picks another model than the demo's).
app: $(VENV)/.installed
	$(PY) app.py $(if $(MODEL),--model $(MODEL))

ablation: $(VENV)/.installed
	$(PY) demo.py --ablation --output_dir outputs/ablation

bench: $(VENV)/.installed
	$(PY) bench/data_loading.py
	$(PY) bench/segments.py
	$(PY) bench/descriptions.py
	$(PY) bench/checkpoint_size.py
	$(PY) bench/inference.py
	$(PY) bench/training_step.py $(if $(REFERENCE_DIR),--reference_dir $(REFERENCE_DIR))

clean:
	rm -rf outputs .pytest_cache
