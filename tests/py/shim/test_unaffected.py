"""A process that never touches the mount behaves exactly as without the shim."""
import os
import shutil
import subprocess

import pytest

CASES = [
    ["ls", "/"],  # names only: /tmp's size/mtime change while tests run
    ["ls", "-la", "/usr"],
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


def test_unaffected_env(shim):
    """`env` sees the same environment, apart from the shim's own variables
    (which the caller set), and the shim prints nothing."""
    ref = subprocess.run(["env"], env=shim.plain_env(), capture_output=True)
    got = subprocess.run(["env"], env=shim.shim_env(), capture_output=True)
    ours = (b"LD_PRELOAD=", b"UNSEAL_")
    assert ref.returncode == got.returncode == 0
    assert sorted(ln for ln in got.stdout.splitlines() if not ln.startswith(ours)) == \
        sorted(ref.stdout.splitlines())
    assert got.stderr == ref.stderr == b""


def test_unaffected_writes_elsewhere(shim):
    """Writes, renames and unlinks outside the mount still work."""
    d = os.path.join(shim.tmp, "rw")
    code = ("import os,sys\nd=sys.argv[1];os.makedirs(d,exist_ok=True)\n"
            "open(d+'/a','w').write('x'*5000)\nos.rename(d+'/a',d+'/b')\n"
            "print(os.path.getsize(d+'/b'));os.remove(d+'/b');print(os.listdir(d))")
    got = subprocess.run(["/usr/bin/python3", "-c", code, d], env=shim.shim_env(),
                         capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout == "5000\n[]\n", got.stderr[-2000:]


def test_unaffected_never_reads_key_or_cipher(shim):
    """Lazy by construction: a process that never names the mount never
    opens the password file, gocryptfs.conf or anything in the cipher dir
    (the per-call cost is a prefix compare; no key is loaded eagerly)."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    if not shutil.which("strace"):
        pytest.skip("SKIP: strace not installed")
    out = os.path.join(shim.tmp, "unaffected.strace")
    r = subprocess.run(["strace", "-f", "-qq", "-o", out, "-e", "trace=%file,%desc",
                        "/usr/bin/python3", "-c",
                        "import os;os.listdir('/usr');open('/etc/os-release').read()"],
                       env=shim.shim_env(), capture_output=True)
    assert r.returncode == 0, r.stderr[-2000:]
    trace = open(out, errors="replace").read()
    assert "libunseal" in trace, "the shim was not loaded: the test proves nothing"
    # start-up canonicalises the configured paths (readlink/stat of the
    # cipher dir and mount themselves); nothing inside is ever touched
    assert shim.cipher + "/" not in trace and shim.pwfile not in trace
    assert not [ln for ln in trace.splitlines()
                if shim.cipher in ln and ln.split("(")[0].split()[-1] in ("open", "openat")]
