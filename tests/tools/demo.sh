#!/bin/bash
# `make demo`: the main job end to end, on loopback.
#  1. generate a sample model, encrypt it with a random password (rootless);
#  2. verify it, decrypt it and show the trees are equal;
#  3. start the test KBS (dev mode) holding the password, fetch it by attestation;
#  4. run an unmodified Python loader under `unseal run` against the virtual path,
#     with the key released by the KBS, and compare with the plaintext run.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
UNSEAL=$B/unseal
PY=/usr/bin/python3
W=$(mktemp -d /tmp/unseal-demo.XXXXXX)
KBS_PID=""
cleanup() {
	[ -n "$KBS_PID" ] && kill "$KBS_PID" 2>/dev/null && wait "$KBS_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. sample model -> $W/plain"
$PY tests/tools/make_sample_model.py "$W/plain" --mib 16
(cd "$W/plain" && find . -type f -printf '%10s  %p\n' | sort -k2)

step "2. encrypt with a random password (gocryptfs v2 format, no FUSE, no root)"
umask 077
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$W/password"
"$UNSEAL" encrypt --quiet --passfile "$W/password" "$W/plain" "$W/cipher"
"$UNSEAL" info "$W/cipher"
ls "$W/cipher"

step "3. verify every name and block, decrypt, compare trees"
"$UNSEAL" verify --passfile "$W/password" "$W/cipher"
"$UNSEAL" decrypt --quiet --passfile "$W/password" "$W/cipher" "$W/decrypted"
diff -r "$W/plain" "$W/decrypted" && echo "decrypted tree == plaintext tree"

step "4. test KBS (dev mode, protocol 0.4.0) on 127.0.0.1 holding the password"
$PY tests/kbs/kbs_server.py --dev --profile p4 --port 0 \
	--resource "default/aliyun/model-key=@$W/password" >"$W/kbs.out" 2>"$W/kbs.log" &
KBS_PID=$!
for _ in $(seq 100); do grep -q '^KBS_PORT=' "$W/kbs.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^KBS_PORT=//p' "$W/kbs.out")
[ -n "$PORT" ] || { echo "unseal: demo: test KBS did not start:"; cat "$W/kbs.log"; exit 1; }
URL="http://127.0.0.1:$PORT"
"$UNSEAL" attest --kbs-url "$URL" --key-uri kbs:///default/aliyun/model-key --tee sample

step "5. the loader on the plaintext directory"
$PY tests/tools/demo_infer.py "$W/plain" | tee "$W/out.plain"

MNT=/tmp/unseal-demo-model-$$
step "6. the same unmodified loader under the shim at $MNT (key from the KBS)"
"$UNSEAL" run --cipher "$W/cipher" --mount "$MNT" --kbs-url "$URL" \
	--key-uri kbs:///default/aliyun/model-key --tee sample -- \
	$PY tests/tools/demo_infer.py "$MNT" | tee "$W/out.shim"
[ ! -e "$MNT" ] || { echo "unseal: demo: $MNT exists on disk"; exit 1; }

step "7. result"
if diff "$W/out.plain" "$W/out.shim"; then
	echo "OK: identical output from the encrypted model through the shim (no FUSE, no root)"
else
	echo "FAIL: outputs differ"; exit 1
fi
