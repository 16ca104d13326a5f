#!/bin/sh
# Run every test: the cmocka unit binaries (TAP), then pytest.  Skips are
# printed with their reason and never counted as passed.  Last line:
# "N passed, N failed", after a line "N skipped".
B=${B:-build}
PY=/usr/bin/python3
# pytest finds the build through UNSEAL_BUILD (tests/py/testlib.py).
export UNSEAL_BUILD="${UNSEAL_BUILD:-$PWD/$B}"
mkdir -p "$B/results"
rm -f "$B"/results/*.tap "$B/results/pytest.xml"
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$B/results/$name.tap" 2>&1
	echo "exit=$?" >>"$B/results/$name.tap"
	grep -E '^(not ok|ok .*# SKIP)|^#' "$B/results/$name.tap" | head -40
done
echo "== pytest"
# -p no:cacheprovider: keep the tree clean; -rs prints every SKIP reason.
"$PY" -m pytest tests/py -q -rs -p no:cacheprovider --junitxml="$B/results/pytest.xml" ${PYTEST_ARGS:-}
"$PY" tests/tools/summarize.py "$B/results"
