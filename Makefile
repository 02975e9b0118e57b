# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
OUT    ?= out
PROMPT ?= a person walks forward in an elderly way

.PHONY: demo test lint setup setup-dev blender-demo addon clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: it resolves to the local CPU wheel (a plain `torch` would pull the CUDA build).
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	# MediaPipe for `ropar video` and its tests, without the jax it declares but the pose model never
	# uses (pyproject's video-light group holds what it does use; dev includes it).
	$(PIP) install --no-deps mediapipe==0.10.14
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/ropar generate "$(PROMPT)" --seconds 4 --seed 0 --out $(OUT)/demo.bvh --preview $(OUT)/demo.gif

# Headless Blender: three prompts from examples/prompts.txt -> one animated .blend (needs a `blender`
# binary on PATH, e.g. Debian's `apt-get install blender`; the model runs in a `ropar serve` process).
blender-demo: $(VENV)/.installed
	@command -v blender >/dev/null || { echo "blender-demo: no 'blender' on PATH (apt-get install blender)"; exit 2; }
	blender -b --factory-startup --python blender_addon/batch.py -- --prompts examples/prompts.txt \
		--out $(OUT)/blender --format blend --python $(abspath $(PY))

# The installable add-on zip (Blender >= 4.2 extension; also installs in 3.x as a classic add-on).
addon: $(VENV)/.installed
	$(PY) -m blender_addon.build

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info
