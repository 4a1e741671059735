# The two commands: `make run` (set up, then web server + worker) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test venv chromium migrate lint bench-api clean datumaro-venv

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# datumaro (exports are checked with it) needs numpy >= 2: its own virtual environment.
DATUMARO_VENV ?= .venv-datumaro
$(DATUMARO_VENV)/.installed: requirements-datumaro.txt
	@test -x $(DATUMARO_VENV)/bin/python || $(PYTHON) -m venv $(DATUMARO_VENV)
	$(DATUMARO_VENV)/bin/python -m pip install --quiet -r requirements-datumaro.txt
	@touch $@

datumaro-venv: $(DATUMARO_VENV)/.installed

# Debian's Chromium for the browser tests (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

migrate: venv
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py ensure_admin
	$(PY) manage.py seed_demo
	$(PY) manage.py runstack

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: venv chromium datumaro-venv
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	@# Two pytest processes side by side, about equally long: the training worker's tests (tiny
	@# models: TensorFlow's per-step work is mostly serial) and the rest. Each has its own DATA_DIR
	@# (database, broker folder, media). The worker half's output follows the rest's.
	@mkdir -p var; \
	$(VENV)/bin/pytest tests/training/worker $(PYTEST_ARGS) > var/pytest-training.log 2>&1 & training=$$!; \
	$(VENV)/bin/pytest --ignore=tests/training/worker $(PYTEST_ARGS); rest=$$?; \
	wait $$training; trained=$$?; \
	echo "=== tests/training/worker (ran alongside) ==="; cat var/pytest-training.log; \
	test $$rest -eq 0 && test $$trained -eq 0

bench-api: venv
	$(PY) bench/annotation_api.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
