# HYDRA — make setup | demo | evaluate | test | lint
# Everything runs from the virtual environment in .venv, which `make setup` creates and keeps current.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hydra-installed

# Market data: $HYDRA_DATA_DIR, else ../shared/data when present, else user_data/data
# (filled by `make download-data`). Freqtrade reads <root>/binance.
DATA_ROOT ?= $(or $(HYDRA_DATA_DIR),$(if $(wildcard ../shared/data/binance),../shared/data,user_data/data))
DATADIR := $(DATA_ROOT)/binance
DEMO_TIMERANGE ?= 20230701-20240630
DOWNLOAD_TIMERANGE ?= 20230101-
MARKETS_PORT ?= 18700

.PHONY: setup demo evaluate test lint download-data clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "HYDRA needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# Load .env for local freqtrade/hydra runs (Docker uses env_file instead).
	@$(BIN)/python -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "hydra_dotenv.pth").write_text("import hydra_plugins.core.env as _h; _h.load_for_command()\n")'
	@touch $(STAMP)

user_data/backtest_results:
	mkdir -p user_data/backtest_results user_data/data user_data/logs

demo: setup user_data/backtest_results
	@if [ ! -d "$(DATADIR)/futures" ]; then $(MAKE) download-data; fi
	$(BIN)/hydra markets run --port $(MARKETS_PORT) -- \
		$(BIN)/freqtrade backtesting --strategy Hydra \
		-c config/config.json -c config/offline.json \
		--datadir $(DATADIR) --timerange $(DEMO_TIMERANGE) \
		--breakdown month --cache none --enable-protections --export signals
	@echo "The HTML report of this backtest: $(BIN)/hydra report backtest --datadir $(DATADIR)"

# Hydra, its ablations, Freqtrade's SampleStrategy and buy-and-hold on the demo's span: one table, one report.
evaluate: setup user_data/backtest_results
	@if [ ! -d "$(DATADIR)/futures" ]; then $(MAKE) download-data; fi
	$(BIN)/hydra evaluate --datadir $(DATADIR) --timerange $(DEMO_TIMERANGE)

download-data: setup
	$(BIN)/freqtrade download-data -c config/config.json --datadir user_data/data/binance \
		--timeframes 15m 1h --timerange $(DOWNLOAD_TIMERANGE)
	@# In futures mode Freqtrade adds the 1h mark candles and the funding rates by itself.

lint: setup
	$(BIN)/ruff check hydra_plugins user_data tests benchmarks scripts
	$(BIN)/ruff format --check hydra_plugins user_data tests benchmarks scripts
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
