# kgrec: `make quickstart` runs the main job on the embedded store; `make test` runs everything.
#
# Heavy dependencies (torch, ...) live in a virtual environment outside the clone, keyed by the
# dependency list in pyproject.toml, so a fresh clone with unchanged dependencies downloads
# nothing. The clone's own .venv is a thin layer on top holding kgrec itself (editable).

PYTHON ?= python3
KGREC_CACHE ?= $(HOME)/.cache/kgrec
# set but empty: the default, as for kgrec and tools/neo4j (not /venv-... at the root)
ifeq ($(strip $(KGREC_CACHE)),)
override KGREC_CACHE := $(HOME)/.cache/kgrec
endif
DEPS_KEY := $(shell $(PYTHON) tools/venv_key.py)
ifeq ($(strip $(DEPS_KEY)),)
$(error $(PYTHON) cannot read pyproject.toml (above); kgrec needs Python 3.11 or newer: make PYTHON=python3.11 ...)
endif
DEPS_VENV ?= $(KGREC_CACHE)/venv-$(DEPS_KEY)
VENV := .venv
PY := $(VENV)/bin/python
# set but empty: the default too, as in .ci/run (kgrec reads an empty one as unset: no data)
ifeq ($(strip $(KGREC_DATA)),)
override KGREC_DATA := $(abspath ../shared/datasets)
endif
export KGREC_DATA KGREC_CACHE

.PHONY: setup setup-sparse sparse-from-cache sparse-install setup-recbole quickstart test lint format neo4j-start neo4j-stop neo4j-status clean

# Under the lock of the shared dependency environment (see `locked`, below): two at once would
# each `rm -rf` the environment the other installs into (and .venv, in one clone).
setup:
	$(call locked,$(DEPS_VENV),$(VENV)/.kgrec-$(DEPS_KEY))

# The check before `rm -rf` of an environment folder $(1) (DEPS_VENV, RECBOLE_VENV: settings a
# user may point at a folder of their own): it is removed only where it is not there, empty or
# made by kgrec (.kgrec-made, written as soon as kgrec makes it, or a .complete* marker).
define refuse_foreign_venv
	@if [ -e $(1) ] && [ -n "$$(ls -A $(1))" ] && [ ! -f $(1)/.kgrec-made ] && \
		! ls $(1)/.complete* >/dev/null 2>&1; then \
		echo "$(3): $(1) is no environment kgrec made (no .kgrec-made or .complete marker" \
			"in it): kgrec leaves it alone; remove it yourself, or set $(2) to another" \
			"folder" >&2; \
		exit 1; \
	fi
endef

# `make $(2)` in a sub-make under the lock of environment folder $(1) (DEPS_VENV, RECBOLE_VENV):
# two at once would each `rm -rf` the environment the other installs into, so the second waits
# (flock on $(1).lock, beside the folder, where the system has flock), then finds the first's
# marker and has nothing to do. `make -q` first: nothing is said when all is up to date. `+`:
# `make -n` runs this line too (make sees no $(MAKE) in a $(call)), and the sub-make prints what
# it would do.
define locked
	@+mkdir -p $(dir $(patsubst %/,%,$(1))) && if command -v flock >/dev/null 2>&1; then \
		flock $(patsubst %/,%,$(1)).lock $(MAKE) -q --no-print-directory $(2) 2>/dev/null || \
		flock $(patsubst %/,%,$(1)).lock $(MAKE) --no-print-directory $(2); \
	else \
		$(MAKE) -q --no-print-directory $(2) 2>/dev/null || $(MAKE) --no-print-directory $(2); \
	fi
endef

# No file prerequisites: the key in the path is what says whether the dependencies changed.
# Only the .complete marker makes the environment valid, so an interrupted install is redone.
$(DEPS_VENV)/.complete:
	$(call refuse_foreign_venv,$(DEPS_VENV),DEPS_VENV (or KGREC_CACHE),setup)
	@echo "setup: installing dependencies into $(DEPS_VENV) (first time for this dependency list)"
	rm -rf $(DEPS_VENV)
	$(PYTHON) -m venv $(DEPS_VENV)
	touch $(DEPS_VENV)/.kgrec-made
	$(DEPS_VENV)/bin/pip install -q --upgrade pip "setuptools>=77" wheel
	$(PYTHON) tools/venv_key.py --list > $(DEPS_VENV)/requirements.txt
	cp tools/constraints.txt $(DEPS_VENV)/constraints.txt
	$(DEPS_VENV)/bin/pip install -r $(DEPS_VENV)/requirements.txt -c $(DEPS_VENV)/constraints.txt
	touch $@

# .venv is kgrec's when it holds one of kgrec's markers: .kgrec-made, written as soon as kgrec
# has made it, or .kgrec-KEY, once set up. A .venv of the user's own is never removed.
OWN_VENV = ls $(VENV)/.kgrec-* >/dev/null 2>&1
NOT_OWN_VENV = $(VENV) is not an environment kgrec made (it holds no $(VENV)/.kgrec-* marker)

# The dependency environment .venv reaches, as its marker records it. Another than DEPS_VENV
# (KGREC_CACHE or DEPS_VENV changed; the old one perhaps removed since) remakes .venv: the
# phony venv-elsewhere is then a prerequisite, never up to date.
VENV_DEPS = $(shell cat $(VENV)/.kgrec-$(DEPS_KEY) 2>/dev/null)
.PHONY: venv-elsewhere
venv-elsewhere:

# setuptools' notice at each editable install of kgrec's several top-level packages ("Editable
# installation. ... Please be careful with folders in your working directory with the same name
# as your package"), which says nothing here, where those folders are the package: left out of
# the install's output (any PYTHONWARNINGS of the user's come first, and stay)
QUIET_EDITABLE = PYTHONWARNINGS="$${PYTHONWARNINGS:+$$PYTHONWARNINGS,}ignore:Editable installation"

# pyproject.toml: kgrec's own entry points and packages (the dependencies are in the key)
$(VENV)/.kgrec-$(DEPS_KEY): $(DEPS_VENV)/.complete pyproject.toml \
		$(if $(filter $(DEPS_VENV),$(VENV_DEPS)),,venv-elsewhere)
	@if { [ -e $(VENV) ] || [ -L $(VENV) ]; } && ! $(OWN_VENV); then \
		echo "setup: $(NOT_OWN_VENV): kgrec leaves it alone; move it away (kgrec makes its own" \
			"$(VENV) here) and run make setup again" >&2; \
		exit 1; \
	fi
	rm -rf $(VENV)
	$(PYTHON) -m venv --without-pip $(VENV)
	touch $(VENV)/.kgrec-made
	$(DEPS_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		> $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_kgrec_deps.pth
	$(QUIET_EDITABLE) $(DEPS_VENV)/bin/pip --python $(PY) install -q --no-deps --no-build-isolation -e .
	echo $(DEPS_VENV) > $@

# Optional: torch-scatter and torch-sparse, for one test only, which checks kgrec's neighbour
# sampler (kgrec/sampling.py, plain torch) against PyG's NeighborLoader; nothing else needs them.
# PyPI has only their sources, a ~40 minute build on 2 cores, so the wheels are built once per
# torch and Python version and kept in $(KGREC_CACHE)/wheels. `make test` installs them when
# they are cached. Each build has a folder of its own (mktemp: two at once never share one),
# moved into place with a .complete marker only once both wheels are there, so a build that
# failed or was stopped is redone; one that finishes after another has is dropped.
WHEEL_TAG_OF = $(DEPS_VENV)/bin/python -c 'import sys, torch; print(f"{torch.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")'
WHEEL_TAG = $(shell $(WHEEL_TAG_OF))
SPARSE_WHEELS = $(KGREC_CACHE)/wheels/torch-$(WHEEL_TAG)

setup-sparse: setup
	@set -e; if [ ! -f $(SPARSE_WHEELS)/.complete ]; then \
		echo "setup-sparse: building torch-scatter and torch-sparse (about 40 minutes, once)"; \
		mkdir -p $(KGREC_CACHE)/wheels; \
		tmp=$$(mktemp -d $(SPARSE_WHEELS).build-XXXXXX); \
		trap 'rm -rf "$$tmp"' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
		$(DEPS_VENV)/bin/pip wheel --no-build-isolation --no-deps -w "$$tmp" \
			torch-scatter torch-sparse; \
		for w in torch_scatter torch_sparse; do \
			ls "$$tmp"/$$w-*.whl >/dev/null 2>&1 || \
			{ echo "setup-sparse: pip wheel wrote no $$w wheel" >&2; exit 1; }; \
		done; \
		touch "$$tmp"/.complete; \
		if [ ! -f $(SPARSE_WHEELS)/.complete ]; then \
			rm -rf $(SPARSE_WHEELS); \
			mv -T "$$tmp" $(SPARSE_WHEELS) || [ -f $(SPARSE_WHEELS)/.complete ]; \
		fi; \
	fi
	$(MAKE) --no-print-directory sparse-from-cache

# Under the lock of the shared dependency environment (see `locked`): two `make test` at once
# would each find torch_sparse missing and `pip install` the wheels into it at the same time; the
# second waits, then imports torch_sparse and installs nothing. sparse-install is its sub-make;
# it reads the wheels' folder in the shell, so that `make -q` (which expands the recipe) does not
# start torch for $(WHEEL_TAG) too.
sparse-from-cache: setup
	$(call locked,$(DEPS_VENV),sparse-install)

sparse-install:
	@wheels=$(KGREC_CACHE)/wheels/torch-$$($(WHEEL_TAG_OF)); \
	if [ -f "$$wheels/.complete" ]; then \
		$(DEPS_VENV)/bin/python -c 'import torch_sparse' 2>/dev/null || \
		$(DEPS_VENV)/bin/pip install -q --no-index --no-deps "$$wheels"/*.whl; \
	else \
		echo "note: torch-sparse is not built (make setup-sparse); the check against PyG's sampler will skip"; \
	fi

# Optional: RecBole 1.2.1 in an environment of its own, for the peers benchmark (bench/peers.py).
# RecBole needs older numpy/pandas/scipy/setuptools than kgrec, so it never shares kgrec's
# environment; `make test` does not need it. faiss-cpu is for NCL's k-means. The marker is keyed
# by the requirement list, so a change of pins (or an interrupted install) redoes the install.
RECBOLE_VENV ?= $(KGREC_CACHE)/recbole-venv
RECBOLE_TORCH ?= torch
RECBOLE_REQS := recbole==1.2.1 "numpy<2" "pandas<2.3" "scipy<1.12" "setuptools<80" $(RECBOLE_TORCH) faiss-cpu
# with the Python version, as DEPS_KEY: an environment of another Python is set up anew
RECBOLE_KEY := $(shell { $(PYTHON) -c 'import sys; print(sys.version.split()[0])'; \
	echo '$(RECBOLE_REQS)'; } | sha256sum | cut -c1-12)

# make splits a path at spaces: `rm -rf $(DEPS_VENV)` of "/home/me/kgrec cache/venv-..." would
# remove /home/me/kgrec. So these folders must be one word.
$(foreach v,DEPS_VENV RECBOLE_VENV,$(if $(filter-out 1,$(words $($(v)))),$(error $(v) is \
	"$($(v))" (from KGREC_CACHE="$(KGREC_CACHE)"?): make cannot use a path with a space in it; \
	set KGREC_CACHE to a folder without one)))

setup-recbole:
	$(call locked,$(RECBOLE_VENV),$(RECBOLE_VENV)/.complete-$(RECBOLE_KEY))

$(RECBOLE_VENV)/.complete-$(RECBOLE_KEY):
	$(call refuse_foreign_venv,$(RECBOLE_VENV),RECBOLE_VENV,setup-recbole)
	@echo "setup-recbole: installing RecBole 1.2.1 into $(RECBOLE_VENV)"
	rm -rf $(RECBOLE_VENV)
	$(PYTHON) -m venv $(RECBOLE_VENV)
	touch $(RECBOLE_VENV)/.kgrec-made
	$(RECBOLE_VENV)/bin/pip install -q --upgrade pip "setuptools<80" wheel
	$(RECBOLE_VENV)/bin/pip install $(RECBOLE_REQS)
	TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 $(RECBOLE_VENV)/bin/python -c \
		'import recbole, faiss, recbole.quick_start; print("recbole", recbole.__version__)'
	touch $@

quickstart: setup
	$(VENV)/bin/kgrec quickstart

lint: setup
	$(DEPS_VENV)/bin/ruff check .
	$(DEPS_VENV)/bin/ruff format --check .

format: setup
	$(DEPS_VENV)/bin/ruff check --fix .
	$(DEPS_VENV)/bin/ruff format .

# Starts the local Neo4j (unless it runs already), runs lint and the whole test suite against
# it, stops Neo4j if it started it. The tests empty that server's database, never $NEO4J_URI's.
# /bin/sh (dash) runs no EXIT trap when a signal kills it: INT and TERM (Ctrl-C) exit instead.
test: setup sparse-from-cache
	@set -e; export KGREC_PYTHON="$(abspath $(PY))"; \
	if tools/neo4j/neo4j status >/dev/null; then \
		echo "test: using the Neo4j server that runs already"; \
	else \
		tools/neo4j/neo4j start; \
		trap 'tools/neo4j/neo4j stop' EXIT; \
		trap 'exit 130' INT; \
		trap 'exit 143' TERM; \
	fi; \
	$(MAKE) --no-print-directory lint; \
	$(PY) -m pytest $(PYTEST_ARGS)

neo4j-start: setup
	KGREC_PYTHON="$(abspath $(PY))" tools/neo4j/neo4j start

neo4j-stop:
	tools/neo4j/neo4j stop

neo4j-status:
	tools/neo4j/neo4j status

clean:
	@if $(OWN_VENV); then rm -rf $(VENV); elif [ -e $(VENV) ] || [ -L $(VENV) ]; then \
		echo "clean: $(NOT_OWN_VENV): left as it is"; fi
	rm -rf .pytest_cache .ruff_cache build *.egg-info
