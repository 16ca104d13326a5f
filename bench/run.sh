#!/bin/bash
# `make bench`: speed and memory, side by side in one run, as ratios.
#   1. raw AES-256-GCM engines on 4 KiB gocryptfs blocks (build/bench/crypto_bench)
#   2. `unseal verify` of a 1 GiB file: one thread / all threads, each engine
#   3. `cat` of the 1 GiB file: plain file, gocryptfs FUSE mount, unseal shim
#   4. scrypt unwrap, and process start -> key from the test KBS (0.4.0, 0.1.0)
# Env: BENCH_MIB (default 1024), BENCH_DIR (default a temp dir under /var/tmp).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
UNSEAL=$PWD/$B/unseal
LIB=$PWD/$B/libunseal.so
PY=/usr/bin/python3
MIB=${BENCH_MIB:-1024}
W=${BENCH_DIR:-$(mktemp -d /var/tmp/unseal-bench.XXXXXX)}
MNT="" KBS_PID=""
cleanup() {
	[ -n "$MNT" ] && fusermount3 -u "$MNT" 2>/dev/null
	[ -n "$KBS_PID" ] && kill "$KBS_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
now() { date +%s.%N; }
# run CMD..., print "<seconds> <maxrss_kib>"
timed() {
	local t0 t1 rss
	t0=$(now)
	rss=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1)
	t1=$(now)
	echo "$(echo "$t1 - $t0" | bc -l) $rss"
}
mbs() { echo "scale=0; $MIB * 1048576 / $1 / 1000000" | bc -l; }
row() { printf '%-44s %9s MB/s %8s s %9s KiB maxrss\n' "$1" "$2" "$3" "$4"; }

echo "# unseal bench, $(date -u +%FT%TZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo
echo "## 1. raw engines (4 KiB blocks, 16-byte IV, 24-byte AAD)"
if [ -x "$B/bench/crypto_bench" ]; then "$B/bench/crypto_bench"; else echo "crypto_bench not built"; fi

echo
echo "## 2. unseal verify of a ${MIB} MiB file (decrypt + authenticate every block)"
mkdir -p "$W/plain"
head -c $((MIB * 1048576)) /dev/urandom >"$W/plain/big.bin"
printf 'bench-password\n' >"$W/pw"
"$UNSEAL" encrypt --quiet --scryptn 10 --passfile "$W/pw" "$W/plain" "$W/cipher" || exit 1
CFILE=$(find "$W/cipher" -type f -size +1M | head -n 1)
cat "$CFILE" >/dev/null # warm the page cache: we measure decryption, not the disk
for eng in openssl ipsec-mb; do
	for th in 1 "$(nproc)"; do
		read -r s r < <(UNSEAL_CRYPTO=$eng timed "$UNSEAL" verify --quiet --threads "$th" --passfile "$W/pw" "$W/cipher")
		row "verify engine=$eng threads=$th" "$(mbs "$s")" "$(printf %.3f "$s")" "$r"
	done
done

echo
echo "## 3. cat ${MIB} MiB to /dev/null (warm cache): plain vs gocryptfs FUSE vs unseal shim"
cat "$W/plain/big.bin" >/dev/null
read -r s r < <(timed cat "$W/plain/big.bin"); plain_s=$s
row "cat plain file" "$(mbs "$s")" "$(printf %.3f "$s")" "$r"
if command -v gocryptfs >/dev/null && [ -w /dev/fuse ]; then
	MNT=$W/fuse; mkdir -p "$MNT"
	gocryptfs -q -ro -passfile "$W/pw" "$W/cipher" "$MNT" || MNT=""
fi
fuse_s=""
if [ -n "$MNT" ]; then
	cat "$MNT/big.bin" >/dev/null
	best=""
	for _ in 1 2 3; do
		read -r s r < <(timed cat "$MNT/big.bin")
		if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fr=$r; fi
	done
	fuse_s=$best
	row "cat via gocryptfs FUSE (best of 3)" "$(mbs "$fuse_s")" "$(printf %.3f "$fuse_s")" "$fr"
else
	echo "SKIP gocryptfs FUSE: /dev/fuse or gocryptfs unavailable"
fi
for eng in ipsec-mb openssl; do
	best=""
	for _ in 1 2 3; do
		read -r s r < <(UNSEAL_CRYPTO=$eng timed "$UNSEAL" run --cipher "$W/cipher" --mount /unseal-bench-mnt \
			--passfile "$W/pw" -- cat /unseal-bench-mnt/big.bin)
		if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; sr=$r; fi
	done
	row "cat via unseal shim engine=$eng (best of 3)" "$(mbs "$best")" "$(printf %.3f "$best")" "$sr"
	[ "$eng" = ipsec-mb ] && shim_s=$best
done
for mode in 1; do
	read -r s r < <(UNSEAL_STREAM=$mode timed "$UNSEAL" run --cipher "$W/cipher" --mount /unseal-bench-mnt \
		--passfile "$W/pw" -- cat /unseal-bench-mnt/big.bin)
	row "cat via unseal shim, streaming mode" "$(mbs "$s")" "$(printf %.3f "$s")" "$r"
done
[ -n "$fuse_s" ] && printf 'ratio: shim is %.2fx the speed of gocryptfs FUSE (plain page cache: %.2fx)\n' \
	"$(echo "$fuse_s / $shim_s" | bc -l)" "$(echo "$fuse_s / $plain_s" | bc -l)"

echo
echo "## 4. key: scrypt unwrap and start -> key on loopback"
if [ -x "$B/bench/unwrap_bench" ]; then "$B/bench/unwrap_bench" ../shared/testdata/gocryptfs-golden/cipher/gocryptfs.conf ../shared/testdata/gocryptfs-golden/password.txt; fi
for prof in p4 p0; do
	$PY tests/kbs/kbs_server.py --profile $prof --port 0 --resource "default/aliyun/model-key=@$W/pw" >"$W/kbs.out" 2>/dev/null &
	KBS_PID=$!
	for _ in $(seq 100); do grep -q '^KBS_PORT=' "$W/kbs.out" 2>/dev/null && break; sleep 0.1; done
	PORT=$(sed -n 's/^KBS_PORT=//p' "$W/kbs.out")
	ts=()
	for _ in 1 2 3 4 5; do
		read -r s r < <(timed "$UNSEAL" attest --kbs-url "http://127.0.0.1:$PORT" --key-uri kbs:///default/aliyun/model-key --tee sample)
		ts+=("$s")
	done
	med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p)
	printf 'start -> key, profile %s, sample TEE: median of 5 = %.1f ms\n' "$prof" "$(echo "$med * 1000" | bc -l)"
	kill "$KBS_PID"; wait "$KBS_PID" 2>/dev/null; KBS_PID=""
done
