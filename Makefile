# Custos: `make run` serves the embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run cluster lint test test-services system-deps migrate bench bench-quick bench-console bench-reset mutation schema clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Each extra set is installed once, and again only when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[$(subst +,$(comma),$*)]"
	touch $@

comma := ,

migrate: $(VENV)/.installed-base
	$(PY) manage.py migrate --no-input -v 1
	$(PY) manage.py ensure_signing_key
	$(PY) manage.py collectstatic --no-input -v 0

# The issuer follows HOST and PORT unless CUSTOS_ISSUER says otherwise.
run: migrate
	rm -rf var/prometheus && mkdir -p var/prometheus
	CUSTOS_ISSUER=$${CUSTOS_ISSUER:-http://$(HOST):$(PORT)} $(PY) manage.py setup_link
	CUSTOS_ISSUER=$${CUSTOS_ISSUER:-http://$(HOST):$(PORT)} PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus \
	$(VENV)/bin/gunicorn config.wsgi:application -c config/gunicorn.py --bind $(HOST):$(PORT) \
		--workers $(WORKERS) --access-logfile - --forwarded-allow-ips="" --no-control-socket

# The production topology without containers, in the foreground (docs/deploy.md, "make cluster"):
# two web nodes on 127.0.0.1:8001 and :8002, a worker and beat, on MariaDB, Redis and RabbitMQ.
cluster: $(VENV)/.installed-mysql
	$(PY) scripts/cluster.py

# npm `jose` verifies our tokens in tests/test_live_verifiers.py.
tests/js/node_modules/jose: tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

# ruff (pyproject.toml [tool.ruff]) and the floors (import-linter, [tool.importlinter]).
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The linters first; then the embedded default (SQLite, local memory), then, with
# CUSTOS_TEST_SERVICES=1, the same suite on MariaDB, Redis and RabbitMQ.
system-deps:
	@bash scripts/system-deps.sh

test: lint system-deps $(VENV)/.installed-test tests/js/node_modules/jose
	env -u CUSTOS_TEST_SERVICES -u CUSTOS_DATABASE_URL -u CUSTOS_REDIS_URL -u CUSTOS_BROKER_URL $(PY) -m pytest -q
	@if [ "$$CUSTOS_TEST_SERVICES" = "1" ]; then $(MAKE) --no-print-directory test-services; fi

# The same suite against MariaDB and Redis (CUSTOS_TEST_SERVICES=1 makes a missing service fail).
test-services: system-deps $(VENV)/.installed-test+mysql tests/js/node_modules/jose
	CUSTOS_TEST_SERVICES=1 \
	CUSTOS_DATABASE_URL=$${CUSTOS_TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306/custos} \
	CUSTOS_REDIS_URL=$${CUSTOS_TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
	CUSTOS_BROKER_URL=$${CUSTOS_TEST_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//} CUSTOS_CELERY_EAGER=1 \
	$(PY) -m pytest -q

# Custos beside a plain Django + DRF + simplejwt stack on MariaDB and Redis; writes bench/RESULTS.md.
bench: $(VENV)/.installed-test+mysql
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.run

bench-quick: $(VENV)/.installed-test+mysql
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.run --quick

# The staff console's main pages at 1M users and 1M audit events (MariaDB; the data is kept
# between runs in custos_bench_console), server-side render time into bench/RESULTS.md
bench-console: $(VENV)/.installed-test+mysql
	$(PY) -m bench.console

# Does a reset request's timing tell whether the account exists? Mann-Whitney U, p > 0.05 passes
# (bench/reset_timing.py: the embedded default under gunicorn, no services).
bench-reset: $(VENV)/.installed-test
	$(PY) -m bench.reset_timing

# Mutation run over the security-critical modules (scripts/mutation.py), not in CI: each mutant is
# loaded in a private copy under /tmp and runs the tests that execute its line; the summary goes to
# var/mutation/report.md. MODULES=tokens,keyring picks modules; MUTATION_WORKERS=1 for a busy box.
MUTATION_WORKERS ?= 2
mutation: $(VENV)/.installed-test
	nice -n 19 $(PY) scripts/mutation.py $(if $(MODULES),--modules $(MODULES)) --workers $(MUTATION_WORKERS)

schema: $(VENV)/.installed-base
	$(PY) manage.py spectacular --file docs/openapi.yaml --validate

clean:
	rm -rf $(VENV) var
