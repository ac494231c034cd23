#!/usr/bin/env bash
# Installs what ssefs's demo and tests need on Debian, or says exactly what
# to install when not run as root.
set -euo pipefail
need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
[ -x /usr/bin/aws ] || need+=(awscli)
command -v rsync >/dev/null || need+=(rsync)
command -v openssl >/dev/null || need+=(openssl)
command -v xxd >/dev/null || need+=(xxd)
[ -x /usr/bin/openstack ] || need+=(python3-openstackclient)
/usr/bin/python3 -c 'import barbicanclient' 2>/dev/null || need+=(python3-barbicanclient)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "ssefs needs these Debian packages: ${need[*]}" >&2
	echo "install them with: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
	exit 1
fi
echo "installing ${need[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
