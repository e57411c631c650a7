# Set-up and everyday commands. `make demo` and `make test` build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT := out

.PHONY: demo test fuzz lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/velora warmup
	$(BIN)/velora --version
	$(BIN)/velora wire examples/pendulum.yaml --plot $(OUT)/wiring.png --force
	$(BIN)/velora wire examples/cartpole.yaml --plot $(OUT)/wiring-design.png --force
	$(BIN)/velora run examples/pendulum.yaml --input examples/pendulum.csv --sequence-column episode --time-column t --output $(OUT)/predictions.csv --plot $(OUT)/run.png --force
	$(BIN)/velora export examples/pendulum.yaml -o $(OUT)/pendulum.safetensors --force
	$(BIN)/velora inspect $(OUT)/pendulum.safetensors
	$(BIN)/velora train examples/oscillator.yaml --data examples/oscillator.csv --sequence-column run --time-column t --val-split 0.2 --epochs 20 --lr 0.005 --batch-size 4 --window 0 -o $(OUT)/oscillator.safetensors --plot-loss $(OUT)/loss.png --force
	$(BIN)/velora run $(OUT)/oscillator.safetensors --input examples/oscillator.csv --sequence-column run --time-column t --output $(OUT)/oscillator-preds.csv --plot $(OUT)/oscillator-run.png --force --quiet

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_sequence.py
	$(BIN)/python benchmarks/bench_checkpoint.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_threads.py
	$(BIN)/python benchmarks/bench_run.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_gpu.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_memory.py

# Property tests only, at random and with 20 times the examples (make test is deterministic).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -m hypothesis

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
