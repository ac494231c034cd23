#!/usr/bin/env bash
# Starts the real-stack lab on loopback: Keystone and Barbican (Debian's
# Python packages, served by wsgi_serve.py) and a single-node Ceph (mon,
# memstore OSD, radosgw beast over HTTPS and plain HTTP) that encrypts SSE-C
# and SSE-KMS objects, with Barbican as the KMS. Everything lives in
# $REALSTACK_DIR (default /tmp/ssefs-realstack). Prints the export lines a
# client needs and writes them to LAB/env.sh (0600).
#
# Idempotent: what already runs is left alone, what exists is reused. A
# memstore OSD that lost its data (killed instead of stopped) is detected and
# the Ceph cluster rebuilt; Keystone and Barbican keep their SQLite data.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$LAB" "$PIDS" "$LOGS"
chmod 0700 "$LAB"
# One start.sh or stop.sh at a time per lab.
exec 9>"$LAB/lock"
flock 9
load_ports
save_ports

T0=$(date +%s)
PART_T=$T0
# part WHAT prints how long the part that just ended took.
part() {
	local now
	now=$(date +%s)
	echo "start.sh: $1 $((now - PART_T)) s" >&2
	PART_T=$now
}

KS_URL=http://127.0.0.1:$KEYSTONE_PORT
BARBICAN_URL=http://127.0.0.1:$BARBICAN_PORT
HTTP_URL=http://127.0.0.1:$RGW_HTTP_PORT
HTTPS_URL=https://127.0.0.1:$RGW_HTTPS_PORT
TLS=$LAB/tls

# --- secrets: made once, kept for the life of the lab dir -------------------
secrets() {
	if [ ! -f "$LAB/secrets.env" ]; then
		local f=$LAB/secrets.env.tmp
		(
			umask 077
			{
				for v in ADMIN BARBICAN RGW DEMO OTHER; do
					echo "${v}_PASSWORD=$(openssl rand -hex 16)"
				done
				# Barbican's simple_crypto key-encryption key.
				echo "KEK=$(openssl rand -base64 32)"
				echo "S3_ACCESS_KEY=$(openssl rand -hex 10 | tr a-f A-F)"
				echo "S3_SECRET_KEY=$(openssl rand -hex 20)"
			} >"$f"
		)
		mv "$f" "$LAB/secrets.env"
	fi
	# shellcheck source=/dev/null
	. "$LAB/secrets.env"
}

# --- TLS: a self-signed CA and a server certificate for 127.0.0.1 ----------
tls() {
	[ -f "$TLS/server.pem" ] && return
	rm -rf "$TLS"
	mkdir -p "$TLS"
	(
		cd "$TLS"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
			-keyout ca.key -out ca.pem -subj "/CN=ssefs realstack CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -sha256 \
			-keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
		printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			"basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" \
			"subjectKeyIdentifier=hash" \
			"authorityKeyIdentifier=keyid,issuer" >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 3650 -sha256 -extfile server.ext -out server.pem 2>/dev/null
		chmod 0644 ca.pem server.pem
	)
}

# --- Keystone ----------------------------------------------------------------
# wal DBFILE switches an SQLite file to WAL before first use: without it,
# Keystone and Barbican answer 500 "database is locked" under load.
wal() {
	"$PY" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL").fetchall()' "$1"
}

keystone_conf() {
	local ks=$1
	cat >"$ks/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$ks/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $ks/fernet-keys
[credential]
key_repository = $ks/credential-keys
[identity]
# The fewest bcrypt rounds: a token costs ~1.8 s at the default 12 on this
# machine, and every client, Barbican and RGW asks for tokens.
password_hash_rounds = 4
EOF
}

keystone() {
	local ks=$LAB/keystone km
	km=(keystone-manage --config-file "$ks/keystone.conf")
	if [ ! -f "$ks/bootstrapped" ]; then
		stop_daemon keystone 10 || true
		rm -rf "$ks"
		mkdir -p "$ks"
		keystone_conf "$ks"
		wal "$ks/keystone.db"
		{
			"${km[@]}" db_sync
			"${km[@]}" fernet_setup --keystone-user root --keystone-group root
			"${km[@]}" credential_setup --keystone-user root --keystone-group root
			"${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
				--bootstrap-admin-url "$KS_URL/v3" --bootstrap-public-url "$KS_URL/v3" \
				--bootstrap-internal-url "$KS_URL/v3" --bootstrap-region-id RegionOne
		} >>"$LOGS/keystone-manage.log" 2>&1
		touch "$ks/bootstrapped"
	fi
	if ! pid_of keystone >/dev/null; then
		launch keystone "$PY" "$HERE/wsgi_serve.py" keystone "$KEYSTONE_PORT" "$ks/keystone.conf"
	fi
	wait_for 120 "Keystone at $KS_URL/v3" answers "$KS_URL/v3"
	if [ ! -f "$ks/ids.env" ]; then
		KS_URL=$KS_URL BARBICAN_URL=$BARBICAN_URL ADMIN_PASSWORD=$ADMIN_PASSWORD \
			BARBICAN_PASSWORD=$BARBICAN_PASSWORD RGW_PASSWORD=$RGW_PASSWORD \
			DEMO_PASSWORD=$DEMO_PASSWORD OTHER_PASSWORD=$OTHER_PASSWORD \
			"$PY" "$HERE/keystone_setup.py" >"$ks/ids.env.tmp"
		mv "$ks/ids.env.tmp" "$ks/ids.env"
	fi
	# shellcheck source=/dev/null
	. "$ks/ids.env"
}

# --- Barbican ----------------------------------------------------------------
barbican() {
	local b=$LAB/barbican
	mkdir -p "$b" "$LAB/.barbican"
	# Barbican's own paste pipelines (Debian ships them only in
	# barbican-common, which we do not install): /v1 goes through
	# keystonemiddleware, / answers the version document unauthenticated.
	cat >"$b/api-paste.ini" <<'EOF'
[composite:main]
use = egg:Paste#urlmap
/: barbican_version
/v1: barbican-api-keystone

[pipeline:barbican_version]
pipeline = versionapp

[pipeline:barbican-api-keystone]
pipeline = authtoken context apiapp

[app:apiapp]
paste.app_factory = barbican.api.app:create_main_app

[app:versionapp]
paste.app_factory = barbican.api.app:create_version_app

[filter:context]
paste.filter_factory = barbican.api.middleware.context:ContextMiddleware.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
EOF
	cat >"$LAB/.barbican/barbican.conf" <<EOF
[DEFAULT]
use_stderr = true
sql_connection = sqlite:///$b/barbican.db
db_auto_create = true
host_href = $BARBICAN_URL
[secretstore]
enabled_secretstore_plugins = store_crypto
[crypto]
enabled_crypto_plugins = simple_crypto
[simple_crypto_plugin]
kek = $KEK
[keystone_authtoken]
www_authenticate_uri = $KS_URL/v3
auth_url = $KS_URL/v3
auth_type = password
username = barbican
password = $BARBICAN_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
service_token_roles_required = true
EOF
	chmod 0600 "$LAB/.barbican/barbican.conf"
	[ -f "$b/barbican.db" ] || wal "$b/barbican.db"
	if ! pid_of barbican >/dev/null; then
		# HOME only for Barbican: oslo.config finds ~/.barbican/barbican.conf.
		HOME=$LAB launch barbican "$PY" "$HERE/wsgi_serve.py" barbican "$BARBICAN_PORT" "$b/api-paste.ini"
	fi
	wait_for 120 "Barbican at $BARBICAN_URL" answers "$BARBICAN_URL/"
}

# --- Ceph ---------------------------------------------------------------------
ceph_conf() {
	local fsid=$1
	cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# Without cephx, radosgw's default secure monitor session never comes up
# ("get_initial_auth_request returned -13"): use crc.
ms mon client mode = crc
ms client mode = crc
run dir = $CEPH/run
admin socket = $CEPH/run/\$cluster-\$name.asok
log file = $LOGS/ceph-\$name.log
mon data = $CEPH/mon/\$cluster-\$id
osd data = $CEPH/osd/\$cluster-\$id
rgw data = $CEPH/rgw/\$cluster-\$id
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool delete = true
mon warn on pool no redundancy = false

[osd]
# RAM, no disk. memstore writes itself out only on a clean shutdown, which
# fast shutdown skips: without this every stop loses all data.
osd objectstore = memstore
memstore device bytes = 4294967296
osd fast shutdown = false
osd class load list = *
osd class default list = *

[$RGW_NAME]
rgw frontends = beast endpoint=127.0.0.1:$RGW_HTTP_PORT ssl_endpoint=127.0.0.1:$RGW_HTTPS_PORT ssl_certificate=$TLS/server.pem ssl_private_key=$TLS/server.key
# rgw crypt require ssl stays at its default (true): SSE over the plain
# endpoint is refused, which the tests check.
rgw crypt s3 kms backend = barbican
rgw barbican url = $BARBICAN_URL
rgw keystone url = $KS_URL
rgw keystone api version = 3
rgw keystone barbican user = rgw
rgw keystone barbican password = $RGW_PASSWORD
rgw keystone barbican project = service
rgw keystone barbican domain = Default
# Deleted data leaves the data pool (and RAM) after about a minute.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF
}

osd_up() {
	ceph_cmd ceph osd dump 2>/dev/null | grep -q '^osd\.0 up'
}

mon_up() {
	ceph_cmd ceph mon stat
}

start_mon() {
	pid_of mon >/dev/null || launch mon ceph-mon -f -c "$CONF" -i a
	wait_for 60 "ceph-mon" mon_up
}

start_osd() {
	if ! pid_of osd >/dev/null; then
		# From here on only a clean stop (stop.sh) may say the data on disk
		# is current.
		rm -f "$CEPH/osd-clean-stop"
		launch osd ceph-osd -f -c "$CONF" -i 0
	fi
	wait_for 90 "osd.0 up" osd_up
}

# ceph_build makes a new cluster from nothing: monmap, mon, osd.0.
ceph_build() {
	local fsid uuid id
	# A radosgw whose OSD lost its data hangs in its shutdown: the data is
	# gone anyway, so do not wait long.
	stop_daemon rgw 5 || true
	stop_daemon osd 30 || true
	stop_daemon mon 30 || true
	rm -rf "$CEPH"
	mkdir -p "$CEPH/run" "$CEPH/mon" "$CEPH/osd/ceph-0" "$CEPH/rgw"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	uuid=$(cat /proc/sys/kernel/random/uuid)
	ceph_conf "$fsid"
	monmaptool --create --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
		"$CEPH/monmap" >/dev/null
	ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH/monmap" --keyring /dev/null
	start_mon
	id=$(ceph_cmd ceph osd new "$uuid")
	[ "$id" = 0 ] || {
		echo "ceph osd new said $id, want 0" >&2
		exit 1
	}
	ceph-osd -c "$CONF" --mkfs -i 0 --osd-uuid "$uuid" >>"$LOGS/osd-mkfs.log" 2>&1
	ceph_cmd ceph osd crush add osd.0 1 root=default host=lab >>"$LOGS/osd-mkfs.log" 2>&1
	start_osd
	touch "$CEPH/built"
}

# rados_healthy fails when RADOS calls hang or fail: what a memstore OSD that
# lost its data while the monitor still knows the pools looks like.
rados_healthy() {
	local pools
	pools=$(ceph_cmd rados lspools) || return 1
	if grep -qx .rgw.root <<<"$pools"; then
		ceph_cmd rados -p .rgw.root ls >/dev/null || return 1
	fi
}

ceph_start() {
	if [ ! -f "$CEPH/built" ]; then
		echo "start.sh: building a new Ceph cluster" >&2
		ceph_build
	else
		# Rewrite the config (ports, passwords, paths) keeping the fsid.
		ceph_conf "$(sed -n 's/^fsid = //p' "$CONF")"
		if ! pid_of osd >/dev/null && [ ! -f "$CEPH/osd-clean-stop" ]; then
			echo "start.sh: the memstore OSD was not stopped cleanly (its data is gone): rebuilding Ceph" >&2
			ceph_build
		else
			if ! start_mon || ! start_osd; then
				echo "start.sh: the monitor or osd.0 does not come up: rebuilding Ceph" >&2
				ceph_build
			fi
		fi
	fi
	if ! rados_healthy; then
		echo "start.sh: RADOS calls fail or hang (a memstore OSD that lost its data?): rebuilding Ceph" >&2
		ceph_build
	fi
	part "ceph mon+osd"
	if ! pid_of rgw >/dev/null; then
		launch rgw radosgw -f -c "$CONF" -n "$RGW_NAME"
	fi
	# The first start creates RGW's pools, which takes a while.
	wait_for 180 "radosgw at $HTTP_URL" answers "$HTTP_URL/"
	wait_for 30 "radosgw at $HTTPS_URL" answers "$HTTPS_URL/" --cacert "$TLS/ca.pem"
	if [ ! -f "$CEPH/s3user" ]; then
		if ! ceph_cmd radosgw-admin user info --uid ssefs >/dev/null 2>&1; then
			ceph_cmd radosgw-admin user create --uid ssefs --display-name "ssefs realstack" \
				--access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" >/dev/null
		fi
		touch "$CEPH/s3user"
	fi
	part "radosgw"
}

# --- env.sh ------------------------------------------------------------------
# q VALUE quotes VALUE for a POSIX shell.
q() {
	printf "'%s'" "${1//\'/\'\\\'\'}"
}

write_env() {
	local f=$LAB/env.sh.tmp
	(
		umask 077
		{
			echo "export AWS_ENDPOINT_URL=$(q "$HTTPS_URL")"
			echo "export SSEFS_RGW_HTTP_ENDPOINT=$(q "$HTTP_URL")"
			echo "export AWS_ACCESS_KEY_ID=$(q "$S3_ACCESS_KEY")"
			echo "export AWS_SECRET_ACCESS_KEY=$(q "$S3_SECRET_KEY")"
			echo "export AWS_REGION=us-east-1"
			echo "export AWS_CA_BUNDLE=$(q "$TLS/ca.pem")"
			# RGW 16 answers 411 to aws-chunked uploads with trailing
			# checksums, which current SDKs send over HTTPS by default.
			echo "export AWS_REQUEST_CHECKSUM_CALCULATION=when_required"
			echo "export OS_AUTH_URL=$(q "$KS_URL/v3")"
			echo "export OS_USERNAME=demo"
			echo "export OS_PASSWORD=$(q "$DEMO_PASSWORD")"
			echo "export OS_PROJECT_NAME=demo"
			echo "export OS_USER_DOMAIN_NAME=Default"
			echo "export OS_PROJECT_DOMAIN_NAME=Default"
			echo "export OS_DOMAIN_NAME=Default"
			echo "export OS_IDENTITY_API_VERSION=3"
			echo "export SSEFS_KMS_SERVICE_USER_ID=$(q "$RGW_USER_ID")"
			echo "export SSEFS_OTHER_USER=other"
			echo "export SSEFS_OTHER_PASSWORD=$(q "$OTHER_PASSWORD")"
			echo "export SSEFS_OTHER_PROJECT=other"
		} >"$f"
	)
	mv "$f" "$LAB/env.sh"
}

secrets
tls
part "secrets+tls"
keystone
part "keystone"
barbican
part "barbican"
ceph_start
write_env
cat "$LAB/env.sh"
echo "start.sh: ready in $(($(date +%s) - T0)) s; env in $LAB/env.sh" >&2
