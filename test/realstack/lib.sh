# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared by the realstack scripts: where the lab lives, its ports, and the
# PID-file helpers. Sourced, never run.

# Debian's packages see only Debian's Python; another python3 may be first
# on PATH (pyenv).
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Absolute: daemons are recognised by the lab path in their command line.
LAB=$(realpath -m "${REALSTACK_DIR:-/tmp/ssefs-realstack}")
PIDS=$LAB/pids
LOGS=$LAB/logs
CEPH=$LAB/ceph
CONF=$CEPH/ceph.conf
RGW_NAME=client.rgw.lab
DATA_POOL=default.rgw.buckets.data

# Ports: overridable from the environment on the first start, then kept in
# LAB/ports.env so that later starts, stop and status agree.
load_ports() {
	if [ -f "$LAB/ports.env" ]; then
		# shellcheck source=/dev/null
		. "$LAB/ports.env"
		return
	fi
	KEYSTONE_PORT=${REALSTACK_KEYSTONE_PORT:-5000}
	BARBICAN_PORT=${REALSTACK_BARBICAN_PORT:-9311}
	RGW_HTTP_PORT=${REALSTACK_RGW_HTTP_PORT:-7480}
	RGW_HTTPS_PORT=${REALSTACK_RGW_HTTPS_PORT:-7443}
	MON_V2_PORT=${REALSTACK_MON_V2_PORT:-3300}
	MON_V1_PORT=${REALSTACK_MON_V1_PORT:-6789}
}

save_ports() {
	cat >"$LAB/ports.env" <<EOP
KEYSTONE_PORT=$KEYSTONE_PORT
BARBICAN_PORT=$BARBICAN_PORT
RGW_HTTP_PORT=$RGW_HTTP_PORT
RGW_HTTPS_PORT=$RGW_HTTPS_PORT
MON_V2_PORT=$MON_V2_PORT
MON_V1_PORT=$MON_V1_PORT
EOP
}

# Every daemon: its PID file name and a word its command line must contain
# besides the lab path (so a recycled PID is never taken for ours).
declare -A DAEMON_WORD=(
	[keystone]="wsgi_serve.py keystone"
	[barbican]="wsgi_serve.py barbican"
	[mon]=ceph-mon
	[osd]=ceph-osd
	[rgw]=radosgw
)
DAEMONS_STOP_ORDER=(rgw osd mon barbican keystone)

# pid_of NAME prints the PID of the lab's daemon NAME and succeeds if it is
# running, fails otherwise.
pid_of() {
	local f=$PIDS/$1.pid pid cmd
	[ -f "$f" ] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# (2> first: a failed < redirection reports on the stderr in force.)
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	# A zombie has an empty command line: not running.
	[[ $cmd == *"${DAEMON_WORD[$1]}"* && $cmd == *"$LAB/"* ]] || return 1
	echo "$pid"
}

# launch NAME CMD... starts CMD in its own session, detached from the
# caller's terminal and process group, logging to LOGS/NAME.log, and records
# its PID. (setsid does not fork here: a background job of a script is not a
# process group leader, so $! is the daemon itself.)
launch() {
	local name=$1
	shift
	# 9>&-: the daemon must not inherit the lock start.sh holds on fd 9.
	setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
	echo $! >"$PIDS/$name.pid"
}

# stop_daemon NAME SECONDS sends SIGTERM and waits; after SECONDS it sends
# SIGKILL and fails. Succeeds at once if NAME is not running.
stop_daemon() {
	local name=$1 limit=$2 pid i
	pid=$(pid_of "$name") || {
		rm -f "$PIDS/$name.pid"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < limit * 10; i++)); do
		if ! kill -0 "$pid" 2>/dev/null || ! pid_of "$name" >/dev/null; then
			rm -f "$PIDS/$name.pid"
			return 0
		fi
		sleep 0.1
	done
	echo "$name (pid $pid) ignored SIGTERM for ${limit}s: killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$PIDS/$name.pid"
	return 1
}

# wait_for SECONDS WHAT CMD... retries CMD every half second until it
# succeeds; after SECONDS it prints what it was waiting for and fails.
wait_for() {
	local limit=$1 what=$2 i
	shift 2
	for ((i = 0; i < limit * 2; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	echo "timed out after ${limit}s waiting for $what" >&2
	return 1
}

# http_status URL [CURL ARGS...] prints the HTTP status (000 when nothing
# answers).
http_status() {
	local url=$1
	shift
	curl -s -o /dev/null -m 10 -w '%{http_code}' "$@" "$url" || true
}

# answers URL [CURL ARGS...] succeeds once something answers HTTP at URL.
answers() {
	[ "$(http_status "$@")" != 000 ]
}

# ceph_cmd runs a Ceph client command against the lab's cluster, never for
# more than 30 s: with a broken memstore OSD every RADOS call hangs.
ceph_cmd() {
	timeout 30 "$1" -c "$CONF" "${@:2}"
}
