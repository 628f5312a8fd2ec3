# Two commands matter: `make run` and `make test`. Both set everything up.
# `make demo`, beside `make run`, plays the seed stories.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run demo chaos bench test unit lint typecheck format contracts check-contracts stack-up stack-down stack-status screenshots venv clean

$(STAMP): pyproject.toml docs/examples/seal/package-lock.json clients/js/package-lock.json
	bash deploy/local/prerequisites.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	npm ci --prefix docs/examples/seal --no-audit --no-fund --silent
	npm ci --prefix clients/js --no-audit --no-fund --silent
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

## Kafka + PostgreSQL (native, or those named by KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL),
## migrations, topics, then the four services. Ctrl-C stops the services.
run: venv
	$(BIN)/storecredit run

## With `make run` going (in another terminal): play every seed story and print each step;
## `make demo VIA=http` sends its commands and queries through the HTTP gateway.
VIA ?= kafka
demo: venv
	$(PY) -m shared.tools.demo --via $(VIA)

## The long chaos run: a workload of thousands of operations while services are killed,
## Kafka and PostgreSQL restarted and commands delivered twice (its own stack, ports 29092/55434).
chaos: venv
	STORECREDIT_CHAOS=long $(PY) -m pytest tests/chaos -s -q -p no:cacheprovider --timeout 3600

## Raw Kafka and PostgreSQL limits, the ledger's rate one transaction per message and in
## batches, two ledgers across rebalances, end-to-end checkout latency at fixed rates; in one
## run on this machine: one table, the same figures in bench-results.json, the latency plot in
## bench-latency.png. Its own topics and databases; the test stack's servers (started if
## needed, never stopped) unless KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL are set. Sizes:
## make bench BENCH_ARGS="--commands 60000 --rates 50,100,200,400 --seconds 20".
bench: venv
	$(PY) -m shared.tools.bench $(BENCH_ARGS)

## Lint, format check, types, then every test against real Kafka and PostgreSQL.
test: venv lint
	$(PY) -m pytest

## The unit tests alone: seconds, no servers, no plotting library.
unit: venv
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

## The Dashboard's screenshots in docs/images (the README shows them), taken by its
## browser test on the test stack.
screenshots: venv
	STORECREDIT_SCREENSHOTS=docs/images $(PY) -m pytest tests/e2e/test_dashboard_browser.py -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Regenerate JSON Schema and AsyncAPI documents in contracts/, and docs/configuration.md.
contracts: venv
	$(PY) -m contracts.generate
	$(PY) -m shared.tools.settings_reference

check-contracts: venv
	$(PY) -m contracts.generate --check
	$(PY) -m shared.tools.settings_reference --check

stack-up: venv
	$(BIN)/storecredit stack up
stack-down: venv
	$(BIN)/storecredit stack down
stack-status: venv
	$(BIN)/storecredit stack status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
