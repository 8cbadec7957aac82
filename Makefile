# Every target does its own set-up, idempotently: on a fresh clone `make dev` and `make test`
# are all it takes (Python 3.12, Node.js and npm on the machine).
PORT ?= 8000
EMBEDDED_DATA_FILE ?= .data/embedded.json
URL ?= http://127.0.0.1:$(PORT)
ISSUER_PORT ?= 8001
VERCEL_VERSION := 59.25.4
PYTHON ?= $(shell command -v python3.12 || echo python3)
VENV := .venv/.installed
VERCEL_CLI := .tools/vercel-$(VERCEL_VERSION)
# README's TypeScript client command, and the compiler its test checks the output with.
OPENAPI_TYPESCRIPT_VERSION := 7.13.0
TYPESCRIPT_VERSION := 5.9.3
TYPESCRIPT_TOOLS := .tools/openapi-typescript-$(OPENAPI_TYPESCRIPT_VERSION)

.PHONY: dev issuer token smoke migrate test test-fast lint format bench loadtest clean

$(VENV): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else \
		"Python 3.12 is required (found " + sys.version.split()[0] + "): install it, e.g. pyenv install 3.12")'
	$(PYTHON) -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -q -r requirements-dev.txt
	touch $@

$(VERCEL_CLI):
	@command -v npm >/dev/null || { echo "npm is required for the Vercel CLI: install Node.js 20+ (https://nodejs.org)"; exit 1; }
	npm install --prefix .tools --no-audit --no-fund --loglevel=error vercel@$(VERCEL_VERSION)
	touch $@

$(TYPESCRIPT_TOOLS):
	@command -v npm >/dev/null || { echo "npm is required for openapi-typescript: install Node.js 20+ (https://nodejs.org)"; exit 1; }
	npm install --prefix .tools --no-audit --no-fund --loglevel=error \
		openapi-typescript@$(OPENAPI_TYPESCRIPT_VERSION) typescript@$(TYPESCRIPT_VERSION)
	touch $@

# The page at / and the API under /api/, as a deployment serves them. Without MONGO_URL, on the
# development database, kept in EMBEDDED_DATA_FILE across reloads and restarts (blank: in memory
# only); FRESH=1 deletes it first, to start empty.
dev: $(VENV)
	$(if $(FRESH),rm -f $(EMBEDDED_DATA_FILE))
	EMBEDDED_DATA_FILE=$(EMBEDDED_DATA_FILE) .venv/bin/python -m harness.dev_server --reload --port $(PORT)

# A test sign-in provider for `make dev` (README, Users): `make issuer` serves one on this machine,
# `make token USER=alice` prints a token from it for alice (USER: your login name, else alice).
issuer: $(VENV)
	.venv/bin/python -m harness.issuer serve --port $(ISSUER_PORT)

token: $(VENV)
	@.venv/bin/python -m harness.issuer token "$${USER:-alice}" --port $(ISSUER_PORT)

# The post-deploy checklist: `make smoke URL=https://...`; WRITE=1 also creates and reads back.
smoke: $(VENV)
	.venv/bin/python -m scripts.smoke $(URL) $(if $(WRITE),--write)

# Upgrade every stored document to today's shape, in the database the settings name (without
# MONGO_URL, `make dev`'s development database, while make dev is stopped): a dry run;
# `make migrate APPLY=1` writes. OWNER=<sub> also gives the items nobody owns to that user.
migrate: $(VENV)
	EMBEDDED_DATA_FILE=$(EMBEDDED_DATA_FILE) .venv/bin/python -m scripts.migrate $(if $(APPLY),--apply) $(if $(OWNER),--owner "$$OWNER")

# The status page's browser tests need Chromium (apt-get install -y chromium); skipped without it.
test: $(VENV) $(VERCEL_CLI) $(TYPESCRIPT_TOOLS)
	.venv/bin/python -m pytest

test-fast: $(VENV)
	.venv/bin/python -m pytest -m "not slow"

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: $(VENV)
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

loadtest: $(VENV)
	.venv/bin/python -m scripts.loadtest

bench: $(VENV) $(VERCEL_CLI)
	.venv/bin/python -m scripts.bench

clean:
	rm -rf .venv .tools .vercel .pytest_cache .ruff_cache
