#!/usr/bin/env bash
# Shows which of the real-stack lab's daemons run (PID, RSS) and whether
# their endpoints answer. Exits non-zero unless all of them run.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ ! -d "$LAB" ]; then
	echo "no lab in $LAB"
	exit 1
fi
load_ports
rc=0
total=0
for d in keystone barbican mon osd rgw; do
	if pid=$(pid_of "$d"); then
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		total=$((total + rss))
		printf '%-9s running  pid %-7s rss %6d MiB\n' "$d" "$pid" $((rss / 1024))
	else
		printf '%-9s stopped\n' "$d"
		rc=1
	fi
done
printf '%-9s                        %6d MiB\n' total $((total / 1024))
echo "keystone http://127.0.0.1:$KEYSTONE_PORT/v3: $(http_status "http://127.0.0.1:$KEYSTONE_PORT/v3")"
echo "barbican http://127.0.0.1:$BARBICAN_PORT/: $(http_status "http://127.0.0.1:$BARBICAN_PORT/")"
echo "rgw http://127.0.0.1:$RGW_HTTP_PORT/: $(http_status "http://127.0.0.1:$RGW_HTTP_PORT/")"
echo "rgw https://127.0.0.1:$RGW_HTTPS_PORT/: $(http_status "https://127.0.0.1:$RGW_HTTPS_PORT/" --cacert "$LAB/tls/ca.pem")"
exit "$rc"
