# ssefs: mount S3 buckets with transparent server-side encryption.
#   make demo     the whole thing on one machine (reference backend, key, mount, ciphertext on disk)
#   make test     the test suite (real FUSE mounts; run as root)
#   make install  PREFIX=/usr/local: ssefs where mount(8) finds it for fstab type fuse.ssefs
#   make bench    benchmarks

PREFIX ?= /usr/local
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build install deps test test-real test-faults demo bench fuzz vet clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/ssefs ./cmd/ssefs-refbackend

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 bin/ssefs bin/ssefs-refbackend $(DESTDIR)$(PREFIX)/bin/

deps:
	@test/deps.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# The whole suite: unit tests with the race detector, then the end-to-end
# tests on real FUSE mounts against the reference backend, whose ssefs and
# ssefs-refbackend are race-built too (SSEFS_RACE=1). The race build does
# less of the big runs, so they run again with a normal build at full size:
# the memory bound (the race runtime's memory would dominate it), 1 GiB in
# and out through faults (its FAULT MATRIX line is printed) and 10,000
# model operations.
test: deps vet
	SSEFS_RACE=1 SSEFS_REQUIRE_AWSCLI=1 SSEFS_REQUIRE_OPENSTACK_CLI=1 $(GO) test -race -timeout 30m ./...
	@log=$$(mktemp); SSEFS_FAULT_BYTES=1G SSEFS_MODEL_OPS=10000 $(GO) test -count=1 -timeout 30m -v \
		-run '^(TestReadMemoryStaysWithinCacheSize|TestCopyThroughFaults|TestModelRandomOps|TestModelCorpus)$$' \
		./test/e2e >$$log 2>&1; rc=$$?; \
	if [ $$rc -eq 0 ]; then grep -E '^(--- |ok)|FAULT MATRIX|peak RSS|model: |hygiene: ' $$log; else cat $$log; fi; \
	rm -f $$log; exit $$rc

# Real Keystone + Barbican + Ceph RGW from Debian packages on loopback (root):
# installs them, starts the lab in REALSTACK_DIR, runs test/realstack (the
# guide, RGW's behaviour, the rgw profile side by side with real RGW), the
# mount suite of test/e2e against the lab, and the at-rest check, then stops
# the lab whatever the tests said (its data stays for a warm restart).
REALSTACK_DIR ?= /tmp/ssefs-realstack
test-real: deps
	REALSTACK_DIR=$(REALSTACK_DIR) GO=$(GO) test/realstack/run.sh

# Reliability and security at full size (issue 7): 1 GiB in and out through
# the fault proxy, 10,000 model operations, crash, concurrency and hygiene.
FAULT_BYTES ?= 1G
MODEL_OPS ?= 10000
test-faults: deps
	SSEFS_FAULT_BYTES=$(FAULT_BYTES) SSEFS_MODEL_OPS=$(MODEL_OPS) $(GO) test -count=1 -timeout 60m -v \
		-run 'Fault|Killed|Restart|OpenTrunc|FailuresAreClear|AfterFailedClose|Model|Concurrent|EINTR|SignalDuringClose|Leaks|AllowOther|KeyFileReadOnce' \
		./test/faultproxy/ ./test/e2e/

demo: deps build
	@test/demo.sh

# The bench table (test/bench): ssefs against the direct-SDK limit on the
# reference backend, and s3fs/rclone when installed. BENCH_MB=256 for a
# quick run; see test/bench for the other knobs.
BENCH_MB ?= 1024
bench: deps
	SSEFS_BENCH=1 SSEFS_BENCH_MB=$(BENCH_MB) $(GO) test -count=1 -run '^TestBench$$' -v -timeout 60m ./test/bench

# Each fuzz target for FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	@test/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
