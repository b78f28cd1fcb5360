# Two commands set up everything: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench lint docs clean mutate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test,bench,dev,sandbox]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The demo installs only what the drill needs (breachkit and its sandbox extra), not the test,
# bench and lint extras: a sandbox drill of the data-breach playbook (docs/drill.md).
DEMO_STAMP := $(VENV)/.demo-installed

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[sandbox]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	mkdir -p demo-out
	$(BIN)/breach drill playbooks/data-breach.yaml --sandbox \
		--junit demo-out/drill.xml --markdown demo-out/drill.md

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/python -m breach.clidoc > docs/cli.md

# Mutation testing of the evidence core (slow, minutes per module; not part of CI): mutmut
# over the modules [tool.mutmut] names, one module at a time, the smaller first, against the
# tests that cover them; then the score per module. MUTATE_MODULES=... picks some; docs/mutation.md.
MUTATE_MODULES ?= notify.deadlines manifests.decrypt manifests.custody manifests.chain \
	containment.run manifests.seal manifests.verify

mutate: $(STAMP)
	$(BIN)/mutmut --version >/dev/null 2>&1 || $(BIN)/pip install -q -e '.[mutate]'
	for module in $(MUTATE_MODULES); do \
		echo "mutating $$module ..."; \
		nice -n 10 $(BIN)/mutmut run "$$module.*" >/dev/null || exit 1; \
		$(BIN)/python -m tests.mutation_score $$module | tail -1; \
	done
	$(BIN)/python -m tests.mutation_score $(MUTATE_MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-out
