#!/usr/bin/env bash
# run.sh is `make test-real`: installs the lab's packages, starts the lab in
# $REALSTACK_DIR, and runs against it, over HTTPS with the lab's CA:
#   1. test/realstack: the guide's steps with Debian's aws CLI, the RGW
#      behaviour table, and the rgw-profile conformance cases side by side
#      with ssefs-refbackend --profile rgw (the difference table must be
#      empty);
#   2. the mount suite of test/e2e (SSE-C and SSE-KMS, keys CLI against real
#      Barbican, rekey) with SSEFS_E2E_BACKEND=realstack;
#   3. the key manager's gophercloud/Keystone/CLI tests against real Barbican;
#   4. the at-rest check: no plaintext marker the suite wrote is in RADOS.
# The lab is stopped whatever the tests said (its data stays for a warm
# restart). Prints how long each part took.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

GO=${GO:-go}
export REALSTACK_DIR=${REALSTACK_DIR:-/tmp/ssefs-realstack}
LAB=$(realpath -m "$REALSTACK_DIR")
ENV_FILE=$LAB/env.sh
MARKERS=$LAB/e2e-markers.txt
# The mount suite on the lab, the keys CLI, rekey and doctor. Tests (or
# subtests) that need the aws profile or a server they can stop skip
# themselves there with a message.
E2E_RUN=${REALSTACK_E2E_RUN:-'^(TestPlaintextNeverAtRest|TestFileToolsKeepEncryption|TestAWSCLIAndMountShareSSECObjects|TestMixedBucketAndRotation|TestCloseAndFsyncMeanOnTheServer|TestTLSWithPrivateCA|TestKeysCLI.*|TestRekey.*|TestDoctor.*|TestSSECOverPlainHTTPRefusedBeforeDetaching|TestKMSDeletedSecretReadsFailCleanly)$'}

T0=$(date +%s)
PART_T=$T0
TIMES=()
# part NAME records how long the part that just ended took.
part() {
	local now
	now=$(date +%s)
	TIMES+=("$(printf '%-44s %5d s' "$1" $((now - PART_T)))")
	PART_T=$now
}
summary() {
	echo "test-real: timings"
	printf '  %s\n' "${TIMES[@]}"
	echo "  total                                        $(($(date +%s) - T0)) s"
}

test/realstack/install.sh || exit 1
part "install (apt-get)"
if ! test/realstack/start.sh >/dev/null; then
	test/realstack/stop.sh
	exit 1
fi
part "lab start"

rc=0
REALSTACK_ENV=$ENV_FILE "$GO" test -tags realstack -count=1 -v -timeout 20m ./test/realstack/ 2>&1 |
	grep -vE '^=== (RUN|PAUSE|CONT)'
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
part "test/realstack (guide, behaviour, side by side)"

# The key manager's own protocol tests (gophercloud, Keystone, openstack CLI),
# unchanged, against real Keystone + Barbican: issue 2's "same test code".
REALSTACK_ENV=$ENV_FILE SSEFS_REQUIRE_OPENSTACK_CLI=1 \
	"$GO" test -count=1 -timeout 20m ./test/refbackend/keymanager/ || rc=1
part "keymanager tests against real Barbican"

rm -f "$MARKERS"
SSEFS_E2E_BACKEND=realstack REALSTACK_ENV=$ENV_FILE \
	"$GO" test -count=1 -v -timeout 30m -run "$E2E_RUN" ./test/e2e/ 2>&1 |
	grep -vE '^=== (RUN|PAUSE|CONT)'
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
part "test/e2e mount suite on the lab"

REALSTACK_MARKERS=$MARKERS REALSTACK_ENV=$ENV_FILE \
	"$GO" test -tags realstack -count=1 -v -run '^TestAtRestAfterSuite$' ./test/realstack/ 2>&1 |
	grep -vE '^=== RUN'
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
part "at-rest check (rados-scan.sh)"

test/realstack/status.sh | grep -E 'rss|total' || true
test/realstack/stop.sh || rc=1
part "lab stop"
summary
exit "$rc"
