# One command to run the system, one to test it. Both create the virtualenv when missing.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults test-faults-soak test-fuzz-soak lint typecheck pytest clean browser-deps
#: what the browser tests drive (Debian packages); CI installs them before the tests
BROWSER_PACKAGES := chromium fonts-noto-cjk

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nianbao run

test: $(STAMP) $(if $(CI),browser-deps) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

#: fault injection alone (`make test` runs it too, with everything under tests/);
#: NIANBAO_FAULT_SEED=N replays a run
test-faults: $(STAMP)
	$(BIN)/pytest tests/faults -m faults

#: the fault run at length: 1,000 faults (200 rounds of the four services and the nats-server)
#: while 400 sites file, with the same figures (~2.5 h on 2 busy cores; not part of `make test`)
test-faults-soak: $(STAMP)
	NIANBAO_FAULT_ROUNDS=200 NIANBAO_FAULT_SITES=400 $(BIN)/pytest tests/faults/test_faults.py -m faults

#: the fuzzing at length: at least 10,000 schemathesis cases, none answered with a 5xx (on
#: PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set)
test-fuzz-soak: $(STAMP)
	NIANBAO_FUZZ_EXAMPLES=125 NIANBAO_FUZZ_MIN_CASES=10000 $(BIN)/pytest tests/security/test_fuzzing.py

browser-deps:
	@command -v apt-get >/dev/null || { echo "no apt-get: the browser tests will skip"; exit 0; }; \
	missing=$$(for p in $(BROWSER_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
