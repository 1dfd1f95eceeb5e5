# Two entry points (see README): `make play` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: play play-real test test-slow lint collect minetest-deps clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, from the pinned CPU build, so nothing can swap in a CUDA build
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,minetest]'
	touch $(STAMP)

play: $(STAMP)
	$(BIN)/python scripts/play.py $(ARGS)

play-real: $(STAMP)
	$(BIN)/python scripts/play.py --real $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

collect: $(STAMP)
	$(BIN)/python scripts/collect.py --game crafter --episodes 20 --policy explore --size 72 72 --out data/crafter72

# System packages of the Minetest game: installed with apt when run as root, otherwise printed.
MINETEST_APT := apt-get install -y --no-install-recommends minetest minetest-data xvfb
minetest-deps:
	@if [ -x /usr/games/minetest ] && command -v Xvfb >/dev/null; then \
		echo "minetest and Xvfb are installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive $(MINETEST_APT); \
	else \
		echo "Minetest needs system packages; run as root:"; \
		echo "  sudo apt-get update && sudo $(MINETEST_APT)"; \
	fi

clean-venv:
	rm -rf $(VENV)
