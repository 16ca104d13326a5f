"""tests/tools/summarize.py: a skipped cmocka test counts as skipped, never
as passed or failed, in whatever form cmocka's TAP output writes it; the
closing lines stay 'N skipped (not counted as passed)' then 'N passed, N failed'."""
import os
import shutil
import subprocess

import pytest

import clilib as L

SUMMARIZE = os.path.join(L.REPO, "tests", "tools", "summarize.py")
PY = "/usr/bin/python3"

JUNIT_EMPTY = '<testsuites><testsuite name="pytest" tests="0" failures="0" errors="0" ' \
              'skipped="0"/></testsuites>\n'

# A cmocka test binary with one pass, one skip() and (optionally) one failure.
CMOCKA_SRC = r"""
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
static void passes(void **s) { (void)s; }
static void skips(void **s) { (void)s; skip(); }
static void fails(void **s) { (void)s; assert_true(FAIL); }
int main(void)
{
	const struct CMUnitTest t[] = {cmocka_unit_test(passes), cmocka_unit_test(skips),
	                               cmocka_unit_test(fails)};
	return cmocka_run_group_tests(t, NULL, NULL);
}
"""


def summarize(res):
    r = L.run([PY, SUMMARIZE, str(res)])
    lines = r.stdout.splitlines()
    return r.returncode, lines


def results(tmp_path, taps, junit=JUNIT_EMPTY):
    res = tmp_path / "results"
    res.mkdir()
    for name, text in taps.items():
        (res / f"{name}.tap").write_text(text)
    (res / "pytest.xml").write_text(junit)
    return res


@pytest.mark.parametrize("skipline", [
    "not ok 2 # SKIP skips",          # cmocka 1.1.x
    "ok 2 # SKIP skips",              # plain TAP
    "ok 2 - skips # skip no corpus",  # TAP, lower case with a reason
    "not ok 2 - skips # SKIP",
])
def test_skip_forms(tmp_path, skipline):
    res = results(tmp_path, {"t": f"1..2\nok 1 - passes\n{skipline}\n# ok - t\nexit=0\n"})
    rc, lines = summarize(res)
    assert lines[-2:] == ["1 skipped (not counted as passed)", "1 passed, 0 failed"], lines
    assert rc == 0


def test_failures_still_count(tmp_path):
    res = results(tmp_path, {"t": "1..3\nok 1 - a\nnot ok 2 # SKIP b\nnot ok 3 - c\n"
                                  "# not ok - t\nexit=1\n"})
    rc, lines = summarize(res)
    assert lines[-2:] == ["1 skipped (not counted as passed)", "1 passed, 1 failed"], lines
    assert rc == 1


def test_crash_after_a_skip(tmp_path):
    """A plan of 3 with only 2 lines: the missing one is a failure, the skip is not."""
    res = results(tmp_path, {"t": "1..3\nok 1 - a\nnot ok 2 # SKIP b\nexit=139\n"})
    rc, lines = summarize(res)
    assert lines[-2:] == ["1 skipped (not counted as passed)", "1 passed, 1 failed"], lines
    assert rc == 1


def test_pytest_skips_added(tmp_path):
    junit = ('<testsuites><testsuite name="pytest" tests="5" failures="1" errors="0" '
             'skipped="2"/></testsuites>\n')
    res = results(tmp_path, {"t": "1..1\nnot ok 1 # SKIP x\nexit=0\n"}, junit)
    rc, lines = summarize(res)
    assert lines[-2:] == ["3 skipped (not counted as passed)", "2 passed, 1 failed"], lines


def test_real_cmocka_skip(tmp_path):
    """What this machine's cmocka really prints for skip(), not a guess of it."""
    if not shutil.which("cc"):
        pytest.skip("SKIP: no C compiler to build a cmocka test")
    src = tmp_path / "t.c"
    src.write_text(CMOCKA_SRC)
    for fail in (0, 1):
        exe = tmp_path / f"t{fail}"
        r = L.run(["cc", f"-DFAIL={0 if fail else 1}", "-o", str(exe), str(src), "-lcmocka"])
        if r.returncode != 0:
            pytest.skip(f"SKIP: cannot build against cmocka: {r.stderr.strip()}")
        p = subprocess.run([str(exe)], env={**os.environ, "CMOCKA_MESSAGE_OUTPUT": "TAP"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        res = tmp_path / f"res{fail}"
        res.mkdir()
        (res / "t.tap").write_text(p.stdout + f"exit={p.returncode}\n")
        (res / "pytest.xml").write_text(JUNIT_EMPTY)
        rc, lines = summarize(res)
        want = f"2 passed, {fail} failed" if not fail else "1 passed, 1 failed"
        assert lines[-2:] == ["1 skipped (not counted as passed)", want], (p.stdout, lines)
        assert rc == fail
