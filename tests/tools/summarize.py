"""Sum cmocka TAP files and pytest's JUnit XML into one closing line."""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

res = sys.argv[1]
passed = failed = skipped = 0
for tap in sorted(glob.glob(os.path.join(res, "*.tap"))):
    ok = bad = sk = 0
    planned = None
    code = 0
    for line in open(tap, errors="replace"):
        m = re.match(r"^1\.\.(\d+)", line)
        if m:
            planned = int(m.group(1))
        # A TAP skip directive, whichever way the line starts: cmocka 1.1
        # writes "not ok N # SKIP name", TAP itself says "ok N # SKIP".
        if re.match(r"^(not )?ok\b[^#]*#\s*SKIP\b", line, re.I):
            sk += 1
        elif line.startswith("ok "):
            ok += 1
        elif line.startswith("not ok "):
            bad += 1
        m = re.match(r"^exit=(\d+)", line)
        if m:
            code = int(m.group(1))
    if planned is not None and ok + bad + sk < planned:
        bad += planned - (ok + bad + sk)  # crashed mid-run
    if code != 0 and bad == 0:
        bad = 1  # died before reporting, or failed without a TAP line
        print(f"FAIL {os.path.basename(tap)}: exit code {code}")
    passed, failed, skipped = passed + ok, failed + bad, skipped + sk

xml = os.path.join(res, "pytest.xml")
if os.path.exists(xml):
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for s in suites:
        t, f, e, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        passed += t - f - e - sk
        failed += f + e
        skipped += sk
else:
    print("FAIL pytest: no result file")
    failed += 1

# Skips get their own line: the closing line is exactly "N passed, N failed".
print(f"{skipped} skipped (not counted as passed)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
