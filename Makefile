# vimo: `make demo` runs the mission on the embedded synthetic data, `make test` runs the tests.
# Both work on a fresh machine: they create .venv, install torch==2.13.0 FIRST (a CPU build; a bare
# `torch` requirement can pull a multi-GB CUDA build), then vimo with the extras the job needs, and
# the Debian packages it needs where they are missing.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= demo_out
# extras installed for the test suite and the demo
EXTRAS ?= test,render,train,annotate,ray
# the Label Studio server: its own venv, because its pins clash with the rest
LS_VENV ?= .venv-ls
LS_SPEC ?= label-studio==1.23.2
# the suite runs in TEST_WORKERS processes (pytest-xdist; each test module stays in one process, so its
# fixtures are built once; modules in the order tests/conftest.py gives), each with TEST_THREADS torch threads:
# 2 x 1 on the 2-core CI machine
TEST_WORKERS ?= 2
TEST_THREADS ?= 1
# Debian packages for headless rendering through Mesa EGL (docs/rendering.md §1; ffmpeg comes with imageio-ffmpeg)
APT_PACKAGES ?= libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgbm1 libxrender1

.PHONY: demo test venv system-deps bench clean

# the demo runs Label Studio rounds, so it needs the server's venv too; DEMO_ARGS e.g. --reduced / --force
demo: $(VENV)/.installed-test $(LS_VENV)/.installed
	$(VENV)/bin/vimo demo --out $(DEMO_OUT) $(DEMO_ARGS)

test: $(VENV)/.installed-test $(LS_VENV)/.installed
	VIMO_THREADS=$(TEST_THREADS) $(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(VENV)/.installed-test
	$(PY) benchmarks/features.py

venv: $(VENV)/.installed-test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.torch: $(VENV)/bin/python
	$(PIP) install -q "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-test: $(VENV)/.torch pyproject.toml setup.py | system-deps
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $@

$(LS_VENV)/.installed:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	$(LS_VENV)/bin/pip install -q "$(LS_SPEC)"
	touch $@

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "apt-get install:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) >/dev/null; \
	  else echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; fi; \
	fi

clean:
	rm -rf $(VENV) $(LS_VENV) $(DEMO_OUT) .pytest_cache
