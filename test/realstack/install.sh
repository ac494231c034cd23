#!/usr/bin/env bash
# Installs the Debian packages the real-stack lab needs: Keystone and Barbican
# as Python libraries (not the keystone/barbican-api packages, which bring
# dbconfig-common, /etc configs and services listening on every address),
# a single-node Ceph with radosgw, and the client tools the tests drive.
# Nothing is started: no systemd here, and start.sh runs every daemon itself.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "install.sh must run as root (apt-get)" >&2
	exit 1
fi

pkgs=(
	python3-keystone python3-barbican python3-pastedeploy python3-keystonemiddleware
	ceph-mon ceph-osd radosgw ceph-common
	awscli openssl curl
)
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
# Other engineers may be running apt on this machine: wait for the lock
# instead of failing.
apt=(apt-get -o DPkg::Lock::Timeout=600)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]} ..." >&2
	"${apt[@]}" update -qq >/dev/null
	"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install.sh: done in $(( $(date +%s) - start )) s (${#missing[@]} packages asked for)" >&2
