# echo-epc: see README.md. Every target runs from a clean clone on Debian 12 after `make setup`.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# ZooKeeper and its Java runtime for the replicated store; qemu and a Debian kernel for the SCTP
# VM tier (the host kernel may lack SCTP); lksctp-tools and libsctp-dev for pysctp; tshark to
# check our bytes against Wireshark's dissectors; iproute2 for network namespaces and TUN; the
# Python toolchain for the venv and packages that compile.
APT_PACKAGES := zookeeper default-jre-headless qemu-system-x86 linux-image-amd64 lksctp-tools \
	libsctp-dev tshark iproute2 kmod busybox-static procps python3 python3-venv python3-dev gcc

.PHONY: setup apt venv test test-host test-sctp bench lint run clean

setup: apt venv
	@echo "ready: $(shell $(BIN)/python --version), ZooKeeper $$(dpkg-query -W -f='$${Version}' zookeeper), kernel for the SCTP VM $$(ls /boot/vmlinuz-* | tail -n1); next: make run, make test"

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(BIN)/python
	@$(BIN)/pip install -q -e '.[test]'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

test: test-host test-sctp

test-host:
	$(BIN)/pytest

test-sctp:
	tests/run_in_vm.sh

bench:
	$(BIN)/python -m bench $(if $(ONLY),--only $(ONLY))

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The whole local core in the foreground (configs/local: PGW, SGW, two MMEs, the agent on one
# SQLite file, ./store.db), with the demo subscribers; Ctrl-C drains it. STORE=zookeeper for a
# ZooKeeper at 127.0.0.1:2181 (ZOOKEEPER=host:port,... for another).
SUBSCRIBERS ?= configs/local/subscribers.csv
run:
	$(BIN)/python -m epc.localcore --subscribers $(SUBSCRIBERS) $(if $(STORE),--store $(STORE)) $(if $(ZOOKEEPER),--zookeeper $(ZOOKEEPER))

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache bench/results.json store.db*
