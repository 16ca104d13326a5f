"""Hardening of the shim against what real programs do to fds and paths.

Each test failed before its fix.  Expectations come from the plaintext tree,
the kernel's semantics for a read-only mount, or the cipher dir on disk:
  1. the shim's own fds (cache memfd, log file) survive a program that
     closes and dup2()s over every number it did not open, and a file is
     still served as its own plaintext afterwards (never another file),
  2. an O_PATH|O_NOFOLLOW fd on a virtual symlink, and an fd on a fifo,
     show the plaintext view and cannot change the cipher entry,
  3. a streaming fd that reaches code outside the shim (an exec'd child)
     fails to read, never reads as an empty file,
  4. a stream that cannot be completed fails mmap/dup/fdopen with EIO,
  5. missing ancestors of the mount list their one child, and chdir into
     one never leaves an exec'd child in the cipher dir,
  6. a mount path under a symlinked directory works by both spellings,
  7. debug tracing covers fd-level calls; keys are mlocked and turn core
     dumps off,
  8. a big file is decrypted on all cores (UNSEAL_THREADS, default: online
     CPUs), counted as the distinct threads that wrote its plaintext.
"""
import os
import resource
import subprocess

import pytest
from testlib import cipher_name, private_cipher
from shimlib import gocryptfs_mounted, snapshot

PY = "/usr/bin/python3"


def run(argv, env, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(argv, env=env, capture_output=True, text=True, **kw)


def fields(out):
    return dict(kv.split("=", 1) for ln in out.splitlines() for kv in ln.split())


# --------------------------------------------------- 1. the shim's own fds


def test_internal_fds_survive_fd_churn(shim, consumer):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    b = consumer("rv_ifd")
    name = "nested/a/sib.bin"
    ref = run([b, os.path.join(shim.plain, name), os.path.join(shim.tmp, "ifd-scratch-p")],
              shim.plain_env())
    assert ref.returncode == 0, ref.stderr
    scratch = os.path.join(shim.tmp, "ifd-scratch")
    log = os.path.join(shim.tmp, "ifd.log")
    got = run([b, os.path.join(shim.mount, name), scratch],
              shim.shim_env(UNSEAL_LOG_FILE=log))
    assert got.returncode == 0, got.stderr
    r, g = fields(ref.stdout), fields(got.stdout)
    # what the program did open it could close; the shim's fds said EBADF
    assert g["ok"] == r["ok"] and r["ebadf"] == "0", (ref.stdout, got.stdout)
    assert int(g["ebadf"]) >= 1, got.stdout
    # the file is its own plaintext after the churn, decrypted again
    assert g["reopen"] == "same" and g["fnv"] == r["fnv"], (ref.stdout, got.stdout)
    assert "cached plaintext lost, decrypting again" in got.stderr, got.stderr
    # the log file number was taken over: the shim fell back to stderr and
    # never wrote into the program's file
    assert g["scratch"] == "0" and os.path.getsize(scratch) == 0


@pytest.mark.parametrize("mode", ["rawclose", "closefrom"])
def test_internal_fds_change_hands_behind_the_shim(shim, consumer, mode):
    """Numbers closed or reused without the shim seeing it: the program's
    own fds are never closed or refused, a lost cache is decrypted again,
    and closefrom() keeps working where close_range() is unavailable."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    b = consumer("rv_ifd2")
    log = os.path.join(shim.tmp, f"ifd2-{mode}.log")
    got = run([b, mode, os.path.join(shim.mount, "nested/a/sib.bin")],
              shim.shim_env(UNSEAL_LOG_FILE=log))
    assert got.returncode == 0, got.stdout + got.stderr
    if mode == "rawclose":
        assert got.stdout.splitlines() == ["dup2_fail_close=EBADF", "close_own=0",
                                           "reopen=same", "m_open=1"], got.stdout + got.stderr
    else:
        ref = run([b, mode, os.path.join(shim.plain, "nested/a/sib.bin")], shim.plain_env())
        assert ref.stdout == got.stdout == "a=EBADF b=EBADF v=EBADF\n", (ref.stdout, got.stdout)


# ---------------------------------------- 2. symlink and fifo fds: read-only


def test_opath_symlink_fd_is_the_plaintext_link(shim, consumer):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    b = consumer("rv_fdmut")
    cdir = private_cipher(shim, "rv-link")
    links = [os.path.join(cdir, f) for f in os.listdir(cdir)
             if os.path.islink(os.path.join(cdir, f))]
    before = {p: snapshot(p) for p in links}
    want = os.readlink(os.path.join(shim.plain, "link_deep"))
    got = run([b, os.path.join(shim.mount, "link_deep"), "link"],
              shim.shim_env(UNSEAL_CIPHER_DIR=cdir))
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    muts = [ln for ln in lines if ln.startswith("link:")]
    assert len(muts) == 21 and all(ln.endswith("=-1/EROFS") for ln in muts), got.stdout
    assert f"readlinkat={want}" in lines, got.stdout
    assert f"fstat=link size={len(want)}" in lines, got.stdout
    assert {p: snapshot(p) for p in links} == before


def test_fifo_fd_is_read_only(shim, consumer, need_fuse):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    cdir = private_cipher(shim, "rv-fifo")
    with gocryptfs_mounted(shim, cdir, "fifo") as mnt:
        os.mkfifo(os.path.join(mnt, "pipe"))  # named by the real gocryptfs
    fifos = [os.path.join(cdir, f) for f in os.listdir(cdir)
             if not os.path.isfile(os.path.join(cdir, f)) and not os.path.isdir(os.path.join(cdir, f))
             and not os.path.islink(os.path.join(cdir, f))]
    assert len(fifos) == 1
    before = snapshot(fifos[0])
    env = shim.shim_env(UNSEAL_CIPHER_DIR=cdir)
    st = run([PY, "-c", "import os,sys,stat;print(stat.S_ISFIFO(os.stat(sys.argv[1]).st_mode))",
              os.path.join(shim.mount, "pipe")], env)
    assert st.stdout.strip() == "True", st.stdout + st.stderr
    got = run([consumer("rv_fdmut"), os.path.join(shim.mount, "pipe"), "fifo"], env)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert len(lines) == 2 * 21 and all(ln.endswith("=-1/EROFS") for ln in lines), got.stdout
    assert snapshot(fifos[0]) == before


# -------------------------------------- 3./4. streaming fds outside the shim


CHILD = ("import os,subprocess,sys\n"
         "fd=os.open(sys.argv[1],os.O_RDONLY); os.set_inheritable(fd,True)\n"
         "for cmd in ('wc -c </dev/fd/%d','wc -c <&%d'):\n"
         " r=subprocess.run(['sh','-c',cmd%fd],pass_fds=[fd],capture_output=True,text=True)\n"
         " print(r.returncode, r.stdout.strip() or '-')\n")


def test_stream_fd_in_exec_child_never_reads_empty(shim):
    name = "mid.bin"
    size = os.path.getsize(os.path.join(shim.plain, name))
    path = os.path.join(shim.mount, name)
    ok = run([PY, "-c", CHILD, path], shim.shim_env())
    assert ok.stdout.splitlines() == [f"0 {size}"] * 2, ok.stdout + ok.stderr
    if shim.selfcheck:
        return
    got = run([PY, "-c", CHILD, path], shim.shim_env(UNSEAL_STREAM="1"))
    # the child is told (a failed open or read), never handed an empty file
    rcs = [line.split()[0] for line in got.stdout.splitlines()]
    assert len(rcs) == 2 and "0" not in rcs, got.stdout + got.stderr


def test_stream_fill_failure_is_eio(shim):
    cdir = private_cipher(shim, "rv-streambad")
    path = os.path.join(cdir, cipher_name(shim, cdir, "mid.bin"))
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(18 + 4128 + 200)  # block 1's ciphertext
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))
    code = ("import os,sys,mmap,errno,ctypes\n"
            "libc=ctypes.CDLL(None,use_errno=True); libc.fdopen.restype=ctypes.c_void_p\n"
            "def fdopen(fd):\n"
            " if not libc.fdopen(fd,b'r'): raise OSError(ctypes.get_errno(),'fdopen')\n"
            "fd=os.open(sys.argv[1],os.O_RDONLY)\n"
            "print('head', len(os.pread(fd,4096,0)))\n"
            "for what,fn in (('mmap',lambda:mmap.mmap(fd,0,access=mmap.ACCESS_READ)),\n"
            "                ('dup',lambda:os.dup(fd)),('fdopen',lambda:fdopen(fd))):\n"
            " try: fn(); print(what,'ok')\n"
            " except OSError as e: print(what, errno.errorcode[e.errno])\n")
    r = run([PY, "-c", code, os.path.join(shim.mount, "mid.bin")],
            shim.shim_env(UNSEAL_CIPHER_DIR=cdir, UNSEAL_STREAM="1"))
    assert r.stdout.splitlines() == ["head 4096", "mmap EIO", "dup EIO", "fdopen EIO"], (
        r.stdout + r.stderr[-2000:])
    assert f"{shim.mount}/mid.bin: block 1: " in r.stderr, r.stderr[-2000:]


# ----------------------------------------------- 5./6. ancestors, aliases


ANC = ("import os,sys,glob,subprocess\n"
       "m=sys.argv[1]; top=os.path.dirname(os.path.dirname(m))\n"
       "print(os.listdir(top), os.listdir(os.path.dirname(m)))\n"
       "print(glob.glob(top+'/*/'+os.path.basename(m)) == [m])\n"
       "os.chdir(os.path.dirname(m)); print(os.getcwd() == os.path.dirname(m))\n"
       "print(sorted(os.listdir('.')) == [os.path.basename(m)])\n"
       "print(open(os.path.basename(m)+'/one.bin','rb').read().hex())\n"
       "r=subprocess.run(['sh','-c','pwd; ls'],capture_output=True,text=True)\n"
       "print(r.stdout.splitlines()[0])\n")


def test_missing_ancestors_list_and_chdir(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    mount = shim.mount + "-anc/a/b/m"
    r = run([PY, "-c", ANC, mount], shim.shim_env(UNSEAL_MOUNT=mount))
    one = open(os.path.join(shim.plain, "one.bin"), "rb").read().hex()
    lines = r.stdout.splitlines()
    assert lines[:5] == ["['b'] ['m']", "True", "True", "True", one], r.stdout + r.stderr
    # the exec'd child runs in a real directory above the mount, never in
    # the cipher dir (which a fresh shim would show as the mount itself)
    child_cwd = lines[5]
    assert os.path.isdir(child_cwd) and not child_cwd.startswith(shim.cipher), lines
    assert mount.startswith(child_cwd.rstrip("/") + "/"), lines


ANC_DIR = ("import os,sys,subprocess\n"
           "top=os.path.dirname(os.path.dirname(sys.argv[1]))\n"
           "fd=os.open(top,os.O_RDONLY|os.O_DIRECTORY)\n"
           "print(os.listdir(fd), os.fstat(fd).st_ino==os.stat(top).st_ino)\n"
           "d=os.open('b',os.O_RDONLY,dir_fd=fd); print(os.listdir(d))\n"
           "r=subprocess.run(['find',top,'-maxdepth','3','-name','one.bin'],"
           "capture_output=True,text=True); print(r.stdout.strip(), r.returncode)\n"
           "r=subprocess.run([sys.argv[2],top],capture_output=True,text=True); print(r.stdout.strip())\n")


def test_missing_ancestor_fds_and_rewind(shim, consumer):
    """open(O_DIRECTORY) of a missing ancestor, *at() relative to it, find
    (fts over openat/fdopendir), and rewinddir of its listing."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    mount = shim.mount + "-ancfd/a/b/m"
    r = run([PY, "-c", ANC_DIR, mount, consumer("rv_rewind")], shim.shim_env(UNSEAL_MOUNT=mount))
    assert r.stdout.splitlines() == ["['b'] True", "['m']", f"{mount}/one.bin 0",
                                     "3 3 .,..,b .,..,b"], r.stdout + r.stderr


def symlinked_dir(shim, tag):
    """A real directory and a symlink to it, under the session tmp dir."""
    real = os.path.join(shim.tmp, tag + "-real")
    link = os.path.join(shim.tmp, tag + "-link")
    os.makedirs(real, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(real, link)
    return real, link


def test_mount_alias_in_relative_paths_and_link_targets(shim, need_fuse):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    _, link = symlinked_dir(shim, "alias2")
    mount = link + "/miss/m"
    # an absolute symlink inside the tree that spells the mount by its alias
    cdir = private_cipher(shim, "rv-aliaslink")
    with gocryptfs_mounted(shim, cdir, "aliaslink") as mnt:
        os.symlink(mount + "/one.bin", os.path.join(mnt, "abs_alias_link"))
    code = ("import os,sys\n"
            "os.chdir(sys.argv[2]); print(open('alias2-link/miss/m/one.bin','rb').read().hex())\n"
            "print(os.path.isdir(sys.argv[2]+'/alias2-link/miss'), os.listdir(sys.argv[2]+'/alias2-link/miss'))\n"
            "print(open(sys.argv[1]+'/abs_alias_link','rb').read().hex())\n")
    r = run([PY, "-c", code, mount, shim.tmp],
            shim.shim_env(UNSEAL_MOUNT=mount, UNSEAL_CIPHER_DIR=cdir))
    one = open(os.path.join(shim.plain, "one.bin"), "rb").read().hex()
    assert r.stdout.splitlines() == [one, "True ['m']", one], r.stdout + r.stderr


def test_mount_under_a_symlinked_directory(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    real, link = symlinked_dir(shim, "alias")
    code = ("import os,sys\n"
            "m=sys.argv[1]\n"
            "print(os.path.realpath(m))\n"
            "a=open(m+'/one.bin','rb').read(); b=open(os.path.realpath(m)+'/one.bin','rb').read()\n"
            "print(a.hex(), a==b)\n"
            "print(sorted(os.listdir(m)) == sorted(os.listdir(os.path.realpath(m))))\n"
            "os.chdir(m); print(os.getcwd())\n")
    r = run([PY, "-c", code, link + "/m"], shim.shim_env(UNSEAL_MOUNT=link + "/m"))
    one = open(os.path.join(shim.plain, "one.bin"), "rb").read().hex()
    assert r.stdout.splitlines() == [real + "/m", f"{one} True", "True", real + "/m"], (
        r.stdout + r.stderr)


# ---------------------------------------------- 7. tracing and core dumps


def test_debug_traces_fd_level_calls(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    code = ("import os,sys,mmap\n"
            "fd=os.open(sys.argv[1],os.O_RDONLY); os.fstat(fd); os.pread(fd,10,0)\n"
            "m=mmap.mmap(fd,0,access=mmap.ACCESS_READ); os.close(fd)\n")
    path = os.path.join(shim.mount, "b4097.bin")
    r = run([PY, "-c", code, path], shim.shim_env(UNSEAL_LOG="debug"))
    assert r.returncode == 0, r.stderr
    traced = {ln.split(": ")[2] for ln in r.stderr.splitlines()
              if ln.startswith("unseal: trace: ") and path in ln}
    assert {"fstat", "pread64", "mmap", "close"} <= traced, r.stderr


def test_keys_live_in_locked_memory(shim):
    """The derived keys are mlock()ed once loaded (VmLck), and nothing is
    locked by a process that never touched the mount."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    code = ("import sys\n"
            "def lck():\n"
            " return [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmLck')][0]\n"
            "print(lck())\n"
            "open(sys.argv[1],'rb').read()\n"
            "print(lck())\n")
    r = run([PY, "-c", code, os.path.join(shim.mount, "one.bin")], shim.shim_env())
    before, after = (int(x) for x in r.stdout.split())
    assert before == 0 and after >= 4, r.stdout + r.stderr


def test_key_load_turns_core_dumps_off(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if hard == 0:
        pytest.skip("SKIP: core dumps are already off (hard RLIMIT_CORE 0)")
    code = ("import resource,sys\n"
            "h=resource.getrlimit(resource.RLIMIT_CORE)[1]\n"
            "resource.setrlimit(resource.RLIMIT_CORE,(h,h))\n"
            "print(resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
            "open(sys.argv[1],'rb').read() if sys.argv[2]=='touch' else None\n"
            "print(resource.getrlimit(resource.RLIMIT_CORE)[0])\n")
    path = os.path.join(shim.mount, "one.bin")
    h = str(hard)
    r = run([PY, "-c", code, path, "touch"], shim.shim_env())
    assert r.stdout.split() == [h, "0"], r.stdout + r.stderr
    r = run([PY, "-c", code, path, "touch"], shim.shim_env(UNSEAL_ALLOW_CORE="1"))
    assert r.stdout.split() == [h, h], r.stdout + r.stderr
    # a process that never touches the mount keeps its limit
    r = run([PY, "-c", code, path, "no"], shim.shim_env())
    assert r.stdout.split() == [h, h], r.stdout + r.stderr


# ------------------------------------------------- 8. all cores decrypt


@pytest.mark.parametrize("threads", [None, "2", "1"])
def test_big_file_decrypted_on_all_threads(shim, threads):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    path = os.path.join(shim.mount, "big40.bin")
    size = os.path.getsize(os.path.join(shim.plain, "big40.bin"))
    want = int(threads) if threads else min(os.cpu_count(), 64)
    extra = {"UNSEAL_THREADS": threads} if threads else {}
    r = run([PY, "-c", "import sys;open(sys.argv[1],'rb').read(1)", path],
            shim.shim_env(UNSEAL_LOG="debug", **extra))
    assert r.returncode == 0, r.stderr[-2000:]
    got = [ln for ln in r.stderr.splitlines() if ln.startswith(f"unseal: open: {path}: decrypted ")]
    assert got == [f"unseal: open: {path}: decrypted {size} bytes on {want} threads"], got
