"""A process that never touches the mount behaves exactly as without the shim."""
import os
import subprocess

import pytest

CASES = [
    ["ls", "-la", "/"],
    ["ls", "-lR", "/etc/ssl"],
    ["sha256sum", "/bin/ls", "/etc/os-release"],
    ["/usr/bin/python3", "-c",
     "import os,sys,json,hashlib;print(sorted(os.listdir('/usr/lib/python3')));"
     "print(hashlib.sha256(open(sys.executable,'rb').read()).hexdigest());"
     "print(os.path.realpath('/bin'));print(json.dumps({'a':[1,2]}))"],
    ["find", "/usr/share/zoneinfo/Europe", "-type", "f"],
    ["sh", "-c", "cd /etc && pwd && cat hostname && ls . > /dev/null && echo ok"],
]


@pytest.mark.parametrize("argv", CASES, ids=lambda a: a[0] + (" " + a[1] if len(a) > 1 else ""))
def test_unaffected(shim, argv):
    ref = subprocess.run(argv, env=shim.plain_env(), capture_output=True)
    got = subprocess.run(argv, env=shim.shim_env(), capture_output=True)
    assert ref.returncode == got.returncode == 0, got.stderr[-2000:]
    assert got.stdout == ref.stdout
    assert got.stderr == ref.stderr  # the shim is silent at the default log level


def test_unaffected_writes_elsewhere(shim):
    """Writes, renames and unlinks outside the mount still work."""
    d = os.path.join(shim.tmp, "rw")
    code = ("import os,sys\nd=sys.argv[1];os.makedirs(d,exist_ok=True)\n"
            "open(d+'/a','w').write('x'*5000)\nos.rename(d+'/a',d+'/b')\n"
            "print(os.path.getsize(d+'/b'));os.remove(d+'/b');print(os.listdir(d))")
    got = subprocess.run(["/usr/bin/python3", "-c", code, d], env=shim.shim_env(),
                         capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout == "5000\n[]\n", got.stderr[-2000:]
