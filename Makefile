# Fireworks developer commands. `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MYSQL_STAMP := $(VENV)/.installed-mysql

.PHONY: setup demo test lint typecheck pytest nightly faults docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	# the `visdom` extra (outside `all`): Visdom 0.2.4 is an sdist that builds only with setuptools<81
	printf 'setuptools<81\n' > $(VENV)/build-constraints.txt
	PIP_CONSTRAINT=$(VENV)/build-constraints.txt PIP_BUILD_CONSTRAINT=$(VENV)/build-constraints.txt \
	  $(BIN)/pip install --quiet -c constraints.txt -e ".[visdom]"
	touch $(STAMP)

# mysqlclient (the `mysql` extra: the C driver for MariaDB/MySQL) compiles against the MariaDB client
# headers; the test suite runs the database contract through it as well as through pymysql.
$(MYSQL_STAMP): $(STAMP)
	@if ! pkg-config --exists mariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing the MariaDB client headers that mysqlclient builds against (apt-get install libmariadb-dev)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; \
	  else \
	    echo "mysqlclient needs the MariaDB client headers: install libmariadb-dev and pkg-config (Debian/Ubuntu)"; \
	    echo "or mariadb-connector-c-devel (Fedora), then run make again"; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/pip install --quiet -c constraints.txt -e ".[mysql]"
	touch $(MYSQL_STAMP)

setup: $(STAMP) $(MYSQL_STAMP)

demo: $(STAMP)
	$(BIN)/fireworks demo

lint: $(STAMP)
	$(BIN)/ruff check fireworks tests benchmarks examples
	$(BIN)/ruff format --check fireworks tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy fireworks

pytest: $(STAMP) $(MYSQL_STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q

# the long runs (the differential harness of the Source core, real DataLoader workers); `make pytest` runs
# a short profile of the same harness every time
nightly: $(STAMP) $(MYSQL_STAMP)
	$(BIN)/pytest -q -m nightly

# the fault-injection suite alone (also part of `make pytest`); FIREWORKS_FAULT_POINTS=100 for a thorough run (tens of minutes)
faults: $(STAMP) $(MYSQL_STAMP)
	$(BIN)/pytest -q -m faults tests/faults

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

test: lint typecheck pytest docs

.PHONY: wheel-check lowest-deps

# build the wheel and sdist, install the wheel into a fresh venv outside the tree and use it there (.ci/wheel-check)
wheel-check: $(STAMP)
	PYTHON=$(BIN)/python .ci/wheel-check

# the test suite on the lowest release of each core dependency that pyproject.toml allows (.ci/lowest-deps)
lowest-deps:
	.ci/lowest-deps

bench: $(STAMP) $(MYSQL_STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[bench]"
	$(BIN)/pip install --quiet --no-deps torchdata
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
