# The two commands that matter: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint format schema migrations clean

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

run: $(VENV)/.runtime ## serve the API with the demo program (embedded SQLite + Redis)
	$(BIN)/coalition run

# Worker processes for the suite; 0 runs it in this one. Redis pub/sub ignores database
# numbers, so on a Redis given by URL two workers' live-event tests could hear each other.
TEST_WORKERS ?= $(if $(COALITION_TEST_REDIS_URL),0,2)

test: $(VENV)/.dev ## the whole suite, on SQLite and PostgreSQL, with real Redis
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(VENV)/.dev ## throughput and latency against the raw asyncpg + redis-py floor
	$(BIN)/python -m tests.bench

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(VENV)/.runtime ## re-export schema.graphql after changing the GraphQL layer
	$(BIN)/coalition schema > schema.graphql

migrations: $(VENV)/.dev ## write a migration for model changes
	$(BIN)/tortoise -c app.storage.TORTOISE_ORM makemigrations

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .hypothesis
