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

## Debian's chromium (and a CJK font, so Chinese renders) for the browser tests; the machines run as root.
## The tests skip with the reason if chromium still cannot be had.
BROWSER_PKGS := chromium fonts-droid-fallback
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PKGS)) >/dev/null 2>&1 \
	      || echo "note: could not install $(BROWSER_PKGS); browser tests may skip"; \
	  else echo "note: chromium or a CJK font is missing and this is not root; browser tests may skip"; fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest

## Schema by migrations, the demo survey once, then the app (SQLite in instance/ unless DATABASE_URL is set).
run: $(STAMP)
	$(BIN)/flask --app survey db-upgrade-or-init
	$(BIN)/flask --app survey demo --if-empty
	$(BIN)/flask --app survey run --host 127.0.0.1 --port 5000

bench: $(STAMP)
	$(BIN)/python bench/model_bench.py
	$(BIN)/python bench/mlr_bench.py
	$(BIN)/python bench/bootstrap_bench.py
	$(BIN)/python bench/submit_bench.py
	$(BIN)/python bench/abuse_bench.py
	$(BIN)/python bench/fault_bench.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/moments_bench.py
	$(BIN)/python bench/upload_bench.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
