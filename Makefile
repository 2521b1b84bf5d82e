# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed here, so both work on a fresh machine with only Python 3.11 and pip.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# MLServer pins an old pydantic and FastAPI, so it lives in its own environment; the tests
# start it as a third-party Open Inference Protocol server.
MLSERVER_VENV := .venv-mlserver
MLSERVER_VERSION := 1.6.1
STAMPS := .stamps
MODEL := examples/income/model.joblib

.PHONY: demo test venv mlserver model browser lint clean

demo: venv model
	$(BIN)/python -m examples.income.demo

test: venv mlserver model browser
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Debian's chromium renders the HTML pages in the browser tests.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

venv: $(STAMPS)/venv
mlserver: $(STAMPS)/mlserver
model: $(MODEL)

$(STAMPS)/venv: pyproject.toml tests/plugin/pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,example]'
	# a third-party explanation method, to test the `explainers` entry-point group
	$(BIN)/python -m pip install --quiet -e tests/plugin
	@touch $@

# The same scikit-learn as the main environment, so both load the same model.joblib.
$(STAMPS)/mlserver: $(STAMPS)/venv
	test -x $(MLSERVER_VENV)/bin/python || $(PYTHON) -m venv $(MLSERVER_VENV)
	$(MLSERVER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLSERVER_VENV)/bin/python -m pip install --quiet \
		mlserver==$(MLSERVER_VERSION) mlserver-sklearn==$(MLSERVER_VERSION) \
		scikit-learn==$$($(BIN)/python -c 'import sklearn; print(sklearn.__version__)')
	@touch $@

$(MODEL): $(STAMPS)/venv examples/income/train.py
	$(BIN)/python -m examples.income.train

clean:
	rm -rf $(VENV) $(MLSERVER_VENV) $(STAMPS) $(MODEL) examples/income/data test-output
