# One entry point for set-up, tests and the service. A fresh clone needs only `make test` / `make run`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: test run bench venv browser clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

## Debian's chromium for the browser tests (machines run as root); the tests skip visibly if it cannot be had.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "note: could not install chromium; browser tests will skip"; \
	  else echo "note: chromium missing and not root; browser tests will skip"; fi; }

test: $(STAMP) browser
	$(BIN)/python -m pytest

## Schema by migrations, the demo survey once, then the app (SQLite in instance/ unless DATABASE_URL is set).
run: $(STAMP)
	$(BIN)/flask --app survey db-upgrade-or-init
	$(BIN)/flask --app survey demo --if-empty
	$(BIN)/flask --app survey run --host 127.0.0.1 --port 5000

bench: $(STAMP)
	$(BIN)/python bench/model_bench.py
	$(BIN)/python bench/submit_bench.py
	$(BIN)/python bench/report_bench.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
