# devorch — build, test, demo, bench. See README.md.
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED ?= 0
BIN := bin/devorch
DEBIAN_PKGS := busybox-static docker-registry docker-compose tmux iproute2 iptables openssl openssh-client openssh-server
TEST_TIMEOUT ?= 20m

.PHONY: all build cross test test-down test-under-load deps check-docker test-images unit vet demo bench clean hosts-up hosts-down

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/devorch

# cross builds devorch for every platform users run it on, so that a
# platform-specific call outside a build-tagged file fails make test.
CROSS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@set -e; for p in $(CROSS); do echo "go build ./cmd/devorch for $$p"; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -o /dev/null ./cmd/devorch; done

# deps installs the Debian packages the suite needs, when root and missing.
deps:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run as root, or install them)" >&2; exit 1; fi; \
	  echo "installing:$$missing"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  systemctl disable --now docker-registry >/dev/null 2>&1 || true; \
	  case "$$missing" in *openssh-server*) (systemctl disable --now ssh || /etc/init.d/ssh stop) >/dev/null 2>&1 || true;; esac; \
	fi

# check-docker fails loudly when no Docker daemon answers.
check-docker:
	@docker info >/dev/null 2>&1 || { echo "make test needs a running Docker daemon (docker info failed)" >&2; exit 1; }

test-images: deps check-docker
	$(GO) run ./cmd/testimages

# vet also fails when gofmt would change a file or go mod tidy would change
# go.mod or go.sum (a dependency marked indirect that is direct, or unused).
vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { echo "go mod tidy would change go.mod or go.sum:" >&2; $(GO) mod tidy -diff >&2; exit 1; }

# test starts nine extra Docker hosts (scripts/testhosts.sh) for the
# multi-host tests and always stops them, whatever the outcome: h1-h3 (h3
# also on tcp+TLS, h2 also over ssh); h4 is restarted by a monitor test; h5,
# h6 and h9 are one Docker Swarm (h5 its manager, TEST_SWARM) for the
# overlay network tests (h5, h6) and the Swarm target's (all three); h7 and
# h8 stay plain for tests that run devorch hosts join.
TEST_IMAGES := devorch-test/testapp:latest devorch-test/busybox:latest
TEST_HOSTS := 9
TEST_SWARM := 5 6 9
test: deps check-docker vet build cross test-images
	@set -e; \
	trap 'scripts/testhosts.sh down >/dev/null 2>&1 || true' EXIT; \
	DEVORCH_TESTHOST_IMAGES="$(TEST_IMAGES)" scripts/testhosts.sh up $(TEST_HOSTS); \
	scripts/testhosts.sh swarm $(TEST_SWARM); \
	eval "$$(scripts/testhosts.sh env)"; \
	echo "test hosts: $$DEVORCH_TEST_HOSTS"; \
	echo "test swarm: $${DEVORCH_TEST_SWARM:-none}"; \
	echo "tls: $${DEVORCH_TEST_TLS:-none}  ssh: $${DEVORCH_TEST_SSH:-none}"; \
	DEVORCH_REQUIRE_DOCKER=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# test-down runs the down test's twenty rounds of up, no-op up and down of a
# 20-service stack (make test runs four).
test-down: deps check-docker test-images
	DEVORCH_REQUIRE_DOCKER=1 DEVORCH_DOWN_ROUNDS=20 $(GO) test -count=1 -timeout 40m -run TestDownLeavesNothingRoundAfterRound -v ./engine

# test-under-load runs make test LOAD_RUNS times in a row (default 3) while
# scripts/under-load.sh keeps the machine busy as a shared CI machine is
# (3 CPU burners, a docker info loop, a docker run loop), always stops the
# load, and prints each run's wall time. It stops at the first failed run.
LOAD_RUNS ?= 3
test-under-load: deps check-docker test-images
	scripts/under-load.sh --runs $(LOAD_RUNS) -- $(MAKE) --no-print-directory test

hosts-up: test-images
	DEVORCH_TESTHOST_IMAGES="$(TEST_IMAGES)" scripts/testhosts.sh up $(TEST_HOSTS)
	scripts/testhosts.sh swarm $(TEST_SWARM)
	@scripts/testhosts.sh env

hosts-down:
	scripts/testhosts.sh down

demo: build
	@./examples/demo.sh

bench: build
	@./bench/run.sh

clean:
	rm -rf bin
