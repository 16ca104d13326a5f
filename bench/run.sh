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
case $B in /*) ;; *) B=$PWD/$B ;; esac
UNSEAL=$B/unseal
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
# CPU seconds (user+sys) a process has used so far, from /proc/PID/stat.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# run CMD..., print "<seconds> <maxrss_kib> <cpu_s>" (cpu = the command's user+sys,
# plus the gocryptfs daemon's while FUSE_PID is set)
timed() {
	local t0 t1 out d0=0 d1=0
	[ -n "${FUSE_PID:-}" ] && d0=$(proc_cpu "$FUSE_PID")
	t0=$(now)
	out=$(/usr/bin/time -f '%M %U %S' "$@" 2>&1 >/dev/null | tail -n 1)
	t1=$(now)
	[ -n "${FUSE_PID:-}" ] && d1=$(proc_cpu "$FUSE_PID")
	set -- $out
	echo "$(echo "$t1 - $t0" | bc -l) $1 $(echo "$2 + $3 + $d1 - $d0" | bc -l)"
}
mbs() { echo "scale=0; $MIB * 1048576 / $1 / 1000000" | bc -l; }
row() { printf '%-46s %6s MB/s %7s s %7s s cpu %9s KiB maxrss\n' "$1" "$2" "$3" "${5:--}" "$4"; }
# best of 3: sets BEST_S BEST_R BEST_C
best3() {
	local s r c
	BEST_S=""
	for _ in 1 2 3; do
		read -r s r c < <(timed "$@")
		if [ -z "$BEST_S" ] || [ "$(echo "$s < $BEST_S" | bc)" = 1 ]; then
			BEST_S=$s BEST_R=$r BEST_C=$c
		fi
	done
}

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
		read -r s r c < <(UNSEAL_CRYPTO=$eng timed "$UNSEAL" verify --quiet --threads "$th" --passfile "$W/pw" "$W/cipher")
		row "verify engine=$eng threads=$th" "$(mbs "$s")" "$(printf %.3f "$s")" "$r" "$(printf %.2f "$c")"
	done
done

echo
echo "## 3. ${MIB} MiB, warm cache: plain file vs gocryptfs FUSE mount vs unseal shim"
echo "(cpu = user+sys of the reader, plus the gocryptfs daemon for FUSE)"
cat "$W/plain/big.bin" >/dev/null
TOUCH="import numpy as np,sys; a=np.memmap(sys.argv[1],dtype=np.uint64,mode='r'); print(int(a[::512].sum()))"
SHIM=("$UNSEAL" run --cipher "$W/cipher" --mount /unseal-bench-mnt --passfile "$W/pw" --)
V=/unseal-bench-mnt/big.bin
best3 cat "$W/plain/big.bin"; plain_s=$BEST_S
row "cat: plain file" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
if command -v gocryptfs >/dev/null && [ -w /dev/fuse ]; then
	MNT=$W/fuse; mkdir -p "$MNT"
	gocryptfs -q -ro -passfile "$W/pw" "$W/cipher" "$MNT" || MNT=""
	[ -n "$MNT" ] && FUSE_PID=$(pgrep -n -f "gocryptfs.*$W/cipher")
fi
fuse_s=""
if [ -n "$MNT" ]; then
	cat "$MNT/big.bin" >/dev/null
	best3 cat "$MNT/big.bin"; fuse_s=$BEST_S
	row "cat: gocryptfs FUSE" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
else
	echo "SKIP gocryptfs FUSE: /dev/fuse or gocryptfs unavailable"
fi
for eng in ipsec-mb openssl; do
	UNSEAL_CRYPTO=$eng best3 "${SHIM[@]}" cat "$V"
	row "cat: unseal shim, engine=$eng" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
	[ "$eng" = ipsec-mb ] && shim_s=$BEST_S
done
UNSEAL_STREAM=1 best3 "${SHIM[@]}" cat "$V"; stream_s=$BEST_S
row "cat: unseal shim, streaming mode" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
best3 $PY -c "$TOUCH" "$W/plain/big.bin"
row "mmap+touch every page: plain file" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
if [ -n "$MNT" ]; then
	best3 $PY -c "$TOUCH" "$MNT/big.bin"; fmm_s=$BEST_S
	row "mmap+touch every page: gocryptfs FUSE" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
fi
best3 "${SHIM[@]}" $PY -c "$TOUCH" "$V"; smm_s=$BEST_S
row "mmap+touch every page: unseal shim" "$(mbs "$BEST_S")" "$(printf %.3f "$BEST_S")" "$BEST_R" "$(printf %.2f "$BEST_C")"
FUSE_PID=""
if [ -n "$fuse_s" ]; then
	printf 'ratio (speed vs gocryptfs FUSE): cat default %.2fx, cat streaming %.2fx, mmap %.2fx; plain page cache %.2fx\n' \
		"$(echo "$fuse_s / $shim_s" | bc -l)" "$(echo "$fuse_s / $stream_s" | bc -l)" \
		"$(echo "$fmm_s / $smm_s" | bc -l)" "$(echo "$fuse_s / $plain_s" | bc -l)"
fi
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
		read -r s r c < <(timed "$UNSEAL" attest --kbs-url "http://127.0.0.1:$PORT" --key-uri kbs:///default/aliyun/model-key --tee sample)
		ts+=("$s")
	done
	med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p)
	printf 'start -> key, profile %s, sample TEE: median of 5 = %.1f ms\n' "$prof" "$(echo "$med * 1000" | bc -l)"
	kill "$KBS_PID"; wait "$KBS_PID" 2>/dev/null; KBS_PID=""
done
