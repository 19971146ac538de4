# Developer entry points. `make run` and `make test` are the contract (DESIGN.md); the rest are
# the checks CI runs (.ci/run), so a developer can run the same thing before pushing.
#
# Variables a caller may set:
#   PYTHON       interpreter that creates .venv (default: the first of python3.13/3.12/3.11/python3
#                that is 3.11 or newer)
#   PYTEST_ARGS  pytest arguments (default "-n 2": two test processes), e.g. "-n 0 -x -k leads"
#   BENCH_ARGS   arguments for bench/run.py, e.g. `make bench BENCH_ARGS="--scale 10"`
#   FAULTS_ARGS  arguments for bench/faults.py, e.g. `make faults FAULTS_ARGS="--only campaign"`
#   RUN_ADDR     where `make run` serves (default 127.0.0.1:8000)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Reinstall only when a requirements file is newer than the last successful install.
VENV_STAMP := $(VENV)/.requirements-installed
REQUIREMENTS := requirements.txt requirements-dev.txt
RUN_ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?= -n 2
BENCH_ARGS ?=
FAULTS_ARGS ?=
PYTHON_CANDIDATES := python3.13 python3.12 python3.11 python3

# Prints the first interpreter (PYTHON if given, else a candidate) that is at least 3.11.
define find_python
for candidate in $(or $(PYTHON),$(PYTHON_CANDIDATES)); do \
	if command -v "$$candidate" >/dev/null 2>&1 \
		&& "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
		command -v "$$candidate"; exit 0; \
	fi; \
done; exit 1
endef

.PHONY: help venv run test bench faults lint fmt check clean distclean

help:
	@echo "make run        install, migrate, load demo data, start web + Celery worker + beat"
	@echo "make test       run the whole test suite (embedded PostgreSQL; DATABASE_URL's when set)"
	@echo "make bench      run bench/run.py (arguments in BENCH_ARGS)"
	@echo "make faults     kill workers, flush the broker, stop the database: bench/faults.py's figures"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make fmt        apply ruff's safe fixes and format"
	@echo "make check      migrations up to date + Django's deploy checks under production settings"
	@echo "make venv       create .venv (Python 3.11+) and install requirements when they change"
	@echo "make clean      remove caches and test artifacts (keeps .venv and the dev database)"
	@echo "make distclean  clean, plus .venv and var/ (embedded database, broker, dev secret key)"

venv: $(VENV_STAMP)
	@:

$(VENV_PYTHON):
	@python="$$($(find_python))" || { \
		echo "error: Python 3.11 or newer is needed to create $(VENV)." >&2; \
		echo "  Tried: $(or $(PYTHON),$(PYTHON_CANDIDATES)). Install one, or run 'make PYTHON=/path/to/python3.11 ...'." >&2; \
		exit 1; }; \
	echo "Creating $(VENV) with $$python ($$("$$python" -V 2>&1))"; \
	"$$python" -m venv $(VENV) || { \
		echo "error: '$$python -m venv' failed; on Debian/Ubuntu install the python3-venv package." >&2; \
		rm -rf $(VENV); exit 1; }

$(VENV_STAMP): $(REQUIREMENTS) | $(VENV_PYTHON)
	@$(VENV_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(VENV) runs $$($(VENV_PYTHON) -V 2>&1); 3.11+ is needed. Remove $(VENV) and retry." >&2; \
		exit 1; }
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: venv
	RUN_ADDR=$(RUN_ADDR) bin/dev --setup

test: venv
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Pages first (seeds crm_bench once), then the stage jobs with targets of their own: a segment's
# count on a million contacts, a 100,000-row lead import, the nightly health recompute of
# 100,000 accounts and queuing an email campaign to 100,000 recipients (each of the last two on
# its own database, seeded once).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/crm_bench
bench: venv
	$(VENV_PYTHON) bench/run.py $(BENCH_ARGS)
	$(VENV_PYTHON) bench/segments.py $(BENCH_DATABASE_URL)
	DATABASE_URL=$(BENCH_DATABASE_URL) DEBUG=false $(VENV_PYTHON) manage.py bench_lead_import --rows 100000
	$(VENV_PYTHON) bench/retention_health.py
	$(VENV_PYTHON) bench/campaigns.py

# Faults against real processes on a throwaway installation (its own embedded PostgreSQL, Redis
# and SMTP sink): a campaign under worker SIGKILLs, a broker flush, a 100,000-row import killed
# twice, concurrent edits and a 30 s database outage. Figures in var/faults.json. Needs
# redis-server.
faults: venv
	$(VENV_PYTHON) bench/faults.py $(FAULTS_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The deploy check runs with throwaway production values: it checks the settings' shape, and
# production refuses to import without a secret key and allowed hosts.
check: venv
	$(VENV_PYTHON) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=crm.settings.production \
	SECRET_KEY="$$($(VENV_PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	ALLOWED_HOSTS=example.com \
		$(VENV_PYTHON) manage.py check --deploy --fail-level WARNING

clean:
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.pyc' -type f -exec rm -f {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis .coverage htmlcov test-results playwright-report
	rm -rf var/staticfiles var/test-*

distclean: clean
	-[ -x $(VENV_PYTHON) ] && $(VENV_PYTHON) -m crm.localdb stop
	rm -rf $(VENV) var
