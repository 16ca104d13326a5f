#!/bin/sh
# Install the Debian packages unseal needs to build, test and demo.
# As root it runs apt-get; otherwise it prints the exact command.
PKGS="gcc g++ make pkg-config libssl-dev libcurl4-openssl-dev libcjson-dev uthash-dev
libipsec-mb-dev libcmocka-dev python3 python3-pytest python3-cryptography python3-jwcrypto
python3-numpy gocryptfs fuse3 strace util-linux coreutils findutils bc time bash openssl
rustc nodejs"
missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "unseal: deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || { echo "unseal: deps: apt-get update failed" >&2; exit 1; }
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		{ echo "unseal: deps: apt-get install failed:$missing" >&2; exit 1; }
else
	echo "unseal: deps: missing Debian packages:$missing" >&2
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi
