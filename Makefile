# The two commands: `make run` starts the app on its embedded default, `make test` runs the tests.
# Both create .venv on first use (Python 3.11+ required).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# amqtt (the MQTT test broker) pins websockets 15, which ours excludes: it gets its own venv.
AMQTT_VENV := .venv-amqtt
AMQTT_STAMP := $(AMQTT_VENV)/.installed

.PHONY: run test lint serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py $(ARGS)

serve: $(STAMP)
	$(BIN)/python main.py serve $(ARGS)

test: $(STAMP) $(AMQTT_STAMP) tests/node/node_modules/.package-lock.json bench/node/node_modules/.package-lock.json
	$(BIN)/ruff check .
	$(BIN)/mypy
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(AMQTT_VENV)

# The MQTT 3.1.1 broker of tests/servers/mqtt_broker.py, run as a subprocess by the MQTT stories.
$(AMQTT_STAMP):
	$(PYTHON) -m venv $(AMQTT_VENV)
	$(AMQTT_VENV)/bin/pip install --quiet --upgrade pip
	$(AMQTT_VENV)/bin/pip install --quiet 'amqtt>=0.11,<0.13'
	touch $(AMQTT_STAMP)

# The `ws` package for tests/node/check_protocol.mjs (the Node conformance test skips without node).
tests/node/node_modules/.package-lock.json: tests/node/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/node && npm install --no-audit --no-fund --silent && touch node_modules/.package-lock.json; \
	else echo "npm not found: the Node conformance test will be skipped"; fi

# The `ws` package for bench/node/fanout_server.mjs (the fan-out benchmark's Node column).
bench/node/node_modules/.package-lock.json: bench/node/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd bench/node && npm install --no-audit --no-fund --silent && touch node_modules/.package-lock.json; \
	else echo "npm not found: the fan-out benchmark will skip its Node column"; fi
