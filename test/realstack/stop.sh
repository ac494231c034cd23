#!/usr/bin/env bash
# Stops the real-stack lab's daemons by their PID files, gracefully: SIGTERM
# and a wait, SIGKILL only after a timeout. The memstore OSD writes its data
# out on a clean stop (osd fast shutdown = false), which start.sh relies on:
# stop.sh marks a clean OSD stop so the next start reuses the cluster.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$PIDS" ] || exit 0
# One start.sh or stop.sh at a time per lab.
exec 9>"$LAB/lock"
flock 9
rc=0
for d in "${DAEMONS_STOP_ORDER[@]}"; do
	running=false
	pid_of "$d" >/dev/null && running=true
	case $d in
	# Writing out memstore (all stored data) can take a while.
	osd) limit=180 ;;
	*) limit=30 ;;
	esac
	if stop_daemon "$d" "$limit"; then
		if [ "$d" = osd ] && $running; then
			touch "$CEPH/osd-clean-stop"
		fi
		$running && echo "stop.sh: $d stopped" >&2
	else
		rc=1
		[ "$d" = osd ] && rm -f "$CEPH/osd-clean-stop"
	fi
done
exit "$rc"
