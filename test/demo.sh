#!/usr/bin/env bash
# make demo: the whole of ssefs on one machine. Starts the reference backend
# (an S3 server that really encrypts at rest) in a temporary directory, makes
# an SSE-C key, mounts a bucket, copies a file in, reads it back, and shows
# that the backend's file for that object holds only ciphertext.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
work=$(mktemp -d /tmp/ssefs-demo.XXXXXX)
backend_pid=
mnt=$work/mnt

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
	[ -n "$backend_pid" ] && kill "$backend_pid" 2>/dev/null && wait "$backend_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

if [ "$(id -u)" != 0 ] && ! command -v fusermount3 >/dev/null; then
	echo "FUSE is missing: sudo apt-get install -y fuse3" >&2
	exit 1
fi

step "start the reference backend (S3 + key manager) in $work/backend"
"$bin/ssefs-refbackend" --data "$work/backend" --s3-listen 127.0.0.1:0 --kms-listen 127.0.0.1:0 \
	--bucket demo >"$work/env" 2>"$work/backend.log" &
backend_pid=$!
for _ in $(seq 100); do grep -q AWS_ENDPOINT_URL "$work/env" 2>/dev/null && break; sleep 0.1; done
grep -q AWS_ENDPOINT_URL "$work/env" || { cat "$work/backend.log" >&2; exit 1; }
# shellcheck disable=SC1090
. "$work/env"
echo "S3 endpoint $AWS_ENDPOINT_URL, bucket demo"

step "make an SSE-C key"
echo "\$ ssefs keys gen $work/demo.key"
"$bin/ssefs" keys gen "$work/demo.key"

step "mount the bucket with that key"
mkdir "$mnt"
echo "\$ ssefs mount demo $mnt --endpoint $AWS_ENDPOINT_URL --sse-c-key-file $work/demo.key"
"$bin/ssefs" mount demo "$mnt" --endpoint "$AWS_ENDPOINT_URL" --sse-c-key-file "$work/demo.key" \
	--log-file "$work/ssefs.log" --staging-dir "$work/staging"

step "copy a file in and read it back"
printf 'Hello from ssefs! This line rests encrypted on the server with your key.\n' >"$work/hello.txt"
echo "\$ cp hello.txt $mnt/ && cat $mnt/hello.txt"
cp "$work/hello.txt" "$mnt/"
ls -l "$mnt"
readback=$(cat "$mnt/hello.txt")
echo "read back through the mount: $readback"
cmp "$work/hello.txt" "$mnt/hello.txt"

step "what the backend stores for demo/hello.txt"
files=$("$bin/ssefs-refbackend" locate --data "$work/backend" demo hello.txt)
for f in $files; do
	echo "$f ($(stat -c %s "$f") bytes):"
	xxd "$f" | head -n 6
done
if grep -qr --binary-files=text "Hello from ssefs" "$work/backend"; then
	echo "FAIL: the plaintext was found in the backend's files" >&2
	exit 1
fi
echo "the plaintext appears nowhere under $work/backend: only ciphertext rests on the server"

step "unmount and stop"
umount "$mnt"
kill "$backend_pid" && wait "$backend_pid" 2>/dev/null || true
backend_pid=

step "result"
first=$(printf "%s\n" $files | head -n 1)
echo "through the mount (plaintext): $readback"
echo "on the server's disk (ciphertext, $first):"
xxd "$first" | head -n 3
