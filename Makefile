# Two entry points for a newcomer: `make demo` and `make test`.
# Both work from a fresh clone with only Python 3.11 and make: they create
# .venv, install what is missing (Debian packages via apt-get when root) and run.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# torch first and pinned: 2.13.0 is the CPU wheel on local disk; an unpinned
# torch pulled in by the project would download several GB of CUDA wheels.
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps

.PHONY: demo test install system-deps clean help

help:
	@echo "make demo   run the main job on embedded defaults (local broker, Ctrl-C stops)"
	@echo "make test   run the whole test suite"

demo: $(STAMP)
	$(BIN)/sdo-monitor demo

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Native libraries Python packages need but do not ship: OpenJPEG for sunpy's
# JPEG2000 reader (glymur). Tools the tests drive: promtool and the Prometheus
# server (rule tests, scrape test; Debian's package may also enable its own
# service), Chromium (status page test), kcat (an independent Kafka client for
# the demo's topics, and the test that reads them). Installed only where missing, and
# only as root; without them those tests skip and say why.
$(SYSTEM_STAMP):
	@mkdir -p $(VENV)
	@missing=""; \
	ldconfig -p 2>/dev/null | grep -q libopenjp2 || missing="$$missing libopenjp2-7"; \
	command -v promtool >/dev/null && command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "warning: missing system packages:$$missing (install them as root)"; \
	  fi; \
	fi
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
