# Every target does its own set-up, idempotently: on a fresh clone `make dev` and `make test`
# are all it takes (any python3 with pip, to fetch uv; for `make test`, Node.js and npm).
PORT ?= 8000
EMBEDDED_DATA_FILE ?= .data/embedded.json
URL ?= http://127.0.0.1:$(PORT)
ISSUER_PORT ?= 8001
VERCEL_VERSION := 59.25.4
UV_VERSION := 0.13.9
# Any Python: it only fetches uv, which then finds PYTHON_VERSION on the machine or downloads it.
PYTHON ?= python3
# The deployment's Python (Vercel reads .python-version); `make test PYTHON_VERSION=3.13` runs
# .venv, and so the tests and `make dev`, on another (the rehearsal's function stays on this one).
PYTHON_VERSION ?= $(shell cat .python-version)
UV := .tools/uv-$(UV_VERSION)/bin/uv
VENV := .venv/.installed-$(PYTHON_VERSION)
VERCEL_CLI := .tools/vercel-$(VERCEL_VERSION)
# pyenv's shims run only the versions pyenv selects: select the one uv looks for.
FIND_PYTHON := PYENV_VERSION=$(PYTHON_VERSION)

# README's TypeScript client command, and the compiler its test checks the output with.
OPENAPI_TYPESCRIPT_VERSION := 7.13.0
TYPESCRIPT_VERSION := 5.9.3
TYPESCRIPT_TOOLS := .tools/openapi-typescript-$(OPENAPI_TYPESCRIPT_VERSION)

.PHONY: dev issuer token smoke migrate test test-fast lint format bench loadtest lock upgrade rehearse-latest clean

$(UV):
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { echo "make fetches uv from PyPI with \
	pip: \`$(PYTHON) -m pip\` is missing. Install pip (e.g. apt-get install python3-pip), or \
	name a Python that has it: make PYTHON=/path/to/python3"; exit 1; }
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check \
		--target .tools/uv-$(UV_VERSION) uv==$(UV_VERSION)

# The lock, as it is, on PYTHON_VERSION; an edit to pyproject.toml not yet locked stops here.
$(VENV): pyproject.toml uv.lock .python-version | $(UV)
	@$(FIND_PYTHON) $(UV) python find $(PYTHON_VERSION) >/dev/null 2>&1 \
		|| $(FIND_PYTHON) $(UV) python install $(PYTHON_VERSION) || { echo "Python \
	$(PYTHON_VERSION) is not on this machine, and uv could not download it (above). Install \
	it (pyenv install $(PYTHON_VERSION), apt-get install python$(PYTHON_VERSION), brew install \
	python@$(PYTHON_VERSION)) or give uv internet access, then run make again."; exit 1; }
	@$(FIND_PYTHON) $(UV) lock --check --offline --quiet --python $(PYTHON_VERSION) 2>/dev/null \
		|| { echo "pyproject.toml's dependencies changed since uv.lock was made: run \
	\`make lock\`"; exit 1; }
	$(FIND_PYTHON) $(UV) sync --frozen --python $(PYTHON_VERSION)
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

# After an edit to pyproject.toml: uv.lock anew (keeping every version it can), requirements.txt
# from it; the next target syncs .venv.
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --no-dev --no-emit-project --quiet --output-file requirements.txt

# Every package to the newest pyproject.toml allows; uv prints each that moved.
upgrade: | $(UV)
	$(UV) lock --upgrade
	$(UV) export --frozen --no-dev --no-emit-project --quiet --output-file requirements.txt

# The deploy rehearsal with the newest @vercel/python on the npm registry under the pinned CLI, in
# its own folder (.tools/vercel-python-<version>); `make test` keeps the CLI's own builder.
rehearse-latest: $(VENV)
	@command -v npm >/dev/null || { echo "npm is required for the Vercel CLI: install Node.js 20+ (https://nodejs.org)"; exit 1; }
	.venv/bin/python -m scripts.rehearse_latest

clean:
	rm -rf .venv .tools .vercel .pytest_cache .ruff_cache
