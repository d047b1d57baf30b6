# DocuVault — the entry points (DESIGN §8). `make up` and `make test` work on a fresh machine.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
RUN := uv run --frozen --no-sync

.PHONY: install up down ps logs test test-faults lint format schemas topology bench audit

install:  ## system packages, uv and the locked workspace
	@infra/bootstrap.sh

up: install  ## the whole stack, running; prints the URLs and a token
	@$(RUN) docuvault-stack up

down:  ## stop what `make up` started
	@if [ -x .venv/bin/python ]; then $(RUN) docuvault-stack down; else echo "nothing to stop"; fi

ps:
	@$(RUN) docuvault-stack ps

logs:
	@$(RUN) docuvault-stack logs $(if $(FOLLOW),--follow)

test: install  ## unit, integration and end-to-end tests on a private stack
	@$(RUN) pytest $(PYTEST_ARGS)

test-faults: install  ## faults injected mid-flight on a private broker and database cluster
	@$(RUN) pytest faults -p no:cacheprovider $(PYTEST_ARGS)

lint:
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) mypy libs/*/src services/*/src libs/*/tests services/*/tests tests faults bench examples

format:
	@$(RUN) ruff check --fix .
	@$(RUN) ruff format .

schemas:  ## regenerate the JSON Schemas and the AsyncAPI document (frozen ones are kept)
	@$(RUN) python -m docuvault.contracts write-schemas libs/contracts/schemas

topology:  ## render infra/rabbitmq/definitions.json and entrypoint.sh (compose) from topology.json
	@$(RUN) python -m docuvault.devstack.definitions --write infra/rabbitmq

bench: install  ## every benchmark part, or only PART=name (see README, Benchmarks)
	@$(RUN) python -m bench $(PART)

audit: install  ## known vulnerabilities in the locked dependencies (notes: infra/audit-ignore.toml)
	@$(RUN) python -m docuvault.devstack.audit $(AUDIT_ARGS)
