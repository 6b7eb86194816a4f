# tdmgw: every target sets up what it needs (Debian packages, .venv) and is
# quick when that is already done.  Run as root on Debian 12.

PYTHON  ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMPS  := .stamps
SIPPY   := sippy==2.5.0

# Debian packages the gateway and its tests need.  Peers no one here wrote:
# libpri (far-end PBX), spandsp/speexdsp (echo peers and G.168 models),
# sipp/baresip (SIP peers), tshark (pcap decoding), dahdi-source (user.h).
APT_PACKAGES := python3-venv python3-dev gcc pkg-config libsystemd-dev \
	libpri-dev libspandsp-dev libspeexdsp-dev dahdi-source dahdi \
	sip-tester baresip tshark apache2-utils
VM_APT_PACKAGES := debootstrap qemu-system-x86 qemu-utils cpio zstd

PYTEST_ARGS ?=

.PHONY: all setup apt run test bench lint fuzz vm vm-test clean

all: test

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMPS)/venv: pyproject.toml | apt
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade 'pip>=24'
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps '$(SIPPY)'
	@touch $@

setup: apt $(STAMPS)/venv

run: setup
	$(BIN)/tdmgw run --embedded

# pytest exits 5 when it collects nothing: not a failure for CI.
test: setup
	@rc=0; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

bench: setup
	$(BIN)/python -m tests.bench $(BENCH)

fuzz: setup
	$(BIN)/python -m tests.fuzz $(FUZZ)

lint: setup
	$(BIN)/ruff check appliance drivers dsp tests
	$(BIN)/mypy appliance drivers dsp

vm-apt:
	@missing=$$(for p in $(VM_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vm: setup vm-apt
	image/vm/build.sh

vm-test: vm
	image/vm/test.sh

clean:
	rm -rf $(VENV) $(STAMPS) build *.egg-info
