"""Python (/usr/bin/python3) and numpy consumers, plaintext vs shim."""
import hashlib
import os
import subprocess
import textwrap

import pytest
from shimlib import assert_same

PY = "/usr/bin/python3"

# Prelude for every snippet: R is the root, out() prints one sorted line.
PRELUDE = """
import os, sys, hashlib, errno
R = sys.argv[1]
def h(b): return hashlib.sha256(b).hexdigest()[:24]
def rel(p): return os.path.relpath(p, R)
"""


def py(shim, code, *args, extra_env=None, pre="", **kw):
    src = PRELUDE + pre + textwrap.dedent(code)
    ref, got = shim.run_both(lambda root: [PY, "-c", src, root] + list(args),
                             extra_env=extra_env, **kw)
    assert ref.rc == 0, f"reference run failed:\n{ref.err}"
    assert_same(ref, got, code.strip().splitlines()[0])
    return ref, got


def test_read_binary_all_files(shim):
    py(shim, """
        for d, dirs, files in os.walk(R):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                if os.path.isfile(p):
                    with open(p, 'rb') as fh:
                        b = fh.read()
                    print(rel(p), len(b), h(b))
        """)


def test_text_mode(shim):
    ref, _ = py(shim, """
        with open(os.path.join(R, 'text.txt'), encoding='utf-8') as f:
            n = 0
            for line in f:
                n += 1
            print(n, f.tell())
        with open(os.path.join(R, 'text.txt')) as f:
            t = f.read()
        print(len(t), h(t.encode()), t[:40])
        """)
    assert ref.text.startswith("3000 ")


def test_walk_listdir_scandir(shim):
    py(shim, """
        for d, dirs, files in os.walk(R):
            dirs.sort()
            print('walk', rel(d), sorted(dirs), sorted(files))
        for d in ['', 'nested', 'nested/a', 'emptydir', 'dirlink']:
            print('listdir', d, sorted(os.listdir(os.path.join(R, d))))
        with os.scandir(R) as it:
            ents = sorted(it, key=lambda e: e.name)
        for e in ents:
            st = e.stat(follow_symlinks=False)
            sz = st.st_size if not e.is_dir(follow_symlinks=False) else -1
            print('scandir', e.name, e.is_file(), e.is_dir(), e.is_symlink(), sz,
                  oct(st.st_mode & 0o170000))
        for p in ['one.bin', 'b4097.bin', 'big40.bin', 'link_deep', 'dirlink/sib.bin', 'text.txt']:
            print('stat', p, os.stat(os.path.join(R, p)).st_size,
                  os.path.getsize(os.path.join(R, p)))
        print('lstat link', os.lstat(os.path.join(R, 'link_deep')).st_size)
        print('exists', os.path.exists(os.path.join(R, 'nope')),
              os.path.isdir(os.path.join(R, 'dirlink')), os.path.islink(os.path.join(R, 'dirlink')))
        """)


def test_scandir_fd_and_fwalk(shim):
    """os.scandir(fd) and os.fwalk: fdopendir + fstatat(dirfd, name)."""
    py(shim, """
        for root, dirs, files, fd in os.fwalk(R):
            dirs.sort()
            sizes = [os.stat(f, dir_fd=fd).st_size for f in sorted(files)
                     if os.path.isfile(os.path.join(root, f))]
            print(rel(root), sorted(files), sizes)
        """)


def test_glob_recursive(shim):
    py(shim, """
        import glob
        for pat in ['**', '**/*.bin', '*/a/**/*.bin', 'nested/*', '*.np?']:
            print(pat, sorted(rel(p) for p in glob.glob(os.path.join(R, pat), recursive=True)))
        """)


def test_realpath_readlink(shim):
    py(shim, """
        for p in ['link_deep', 'dirlink/b/up3', 'nested/up_one', 'dirlink', 'dangling', 'a/../one.bin']:
            print(p, rel(os.path.realpath(os.path.join(R, p))))
        print(os.readlink(os.path.join(R, 'link_deep')), os.readlink(os.path.join(R, 'nested/a/b/up3')))
        """)


def test_mmap(shim):
    py(shim, """
        import mmap
        for p in ['mid.bin', 'b4097.bin', 'big40.bin']:
            with open(os.path.join(R, p), 'rb') as f:
                m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            print(p, len(m), h(m[:]), m[4095:4099].hex())
            m.close()
        """)


def test_copyfile_copytree(shim):
    """shutil.copyfile uses sendfile; copytree copies symlinks as links."""
    code = """
        import shutil
        dst = sys.argv[2]
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        shutil.copyfile(os.path.join(R, 'mid.bin'), os.path.join(dst, 'mid.copy'))
        shutil.copytree(R, os.path.join(dst, 'tree'), symlinks=True)
        for d, dirs, files in os.walk(os.path.join(dst, 'tree')):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                if os.path.islink(p):
                    print('L', os.path.relpath(p, dst), os.readlink(p))
                else:
                    print('F', os.path.relpath(p, dst), h(open(p, 'rb').read()))
        print(h(open(os.path.join(dst, 'mid.copy'), 'rb').read()))
        """
    src = PRELUDE + textwrap.dedent(code)
    outs = {}
    for tag, root, env in (("plain", shim.plain, shim.plain_env()),
                           ("shim", shim.mount, shim.shim_env())):
        dst = os.path.join(shim.tmp, "pycopy-" + tag)
        r = subprocess.run([PY, "-c", src, root, dst], env=env, capture_output=True)
        outs[tag] = r
        assert r.returncode == 0 or tag == "shim", r.stderr
    assert outs["shim"].returncode == 0, outs["shim"].stderr.decode()[-3000:]
    assert outs["shim"].stdout == outs["plain"].stdout
    want = open(os.path.join(shim.plain, "mid.bin"), "rb").read()
    assert open(os.path.join(shim.tmp, "pycopy-shim", "mid.copy"), "rb").read() == want
    tree_equal(shim.plain, os.path.join(shim.tmp, "pycopy-shim", "tree"))


def tree_equal(a, b):
    """Exact comparison of two real trees: names, types, link targets, bytes."""
    def scan(root):
        out = {}
        for d, dirs, files in os.walk(root):
            for n in dirs + files:
                p = os.path.join(d, n)
                r = os.path.relpath(p, root)
                if os.path.islink(p):
                    out[r] = ("L", os.readlink(p))
                elif os.path.isdir(p):
                    out[r] = ("D",)
                else:
                    out[r] = ("F", hashlib.sha256(open(p, "rb").read()).hexdigest())
        return out
    sa, sb = scan(a), scan(b)
    assert sorted(sa) == sorted(sb), (sorted(set(sa) ^ set(sb)))[:20]
    bad = [k for k in sa if sa[k] != sb[k]]
    assert not bad, f"differing entries: {bad[:20]}"


def test_write_and_remove_are_erofs(shim):
    """On the mount (only): write opens and mutations fail with EROFS, and the
    process goes on.  Not compared with the plaintext run (root may write there)."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode has no read-only mount")
    code = PRELUDE + textwrap.dedent("""
        def tryit(name, fn):
            try:
                fn()
                print(name, 'OK')
            except OSError as e:
                print(name, type(e).__name__, errno.errorcode.get(e.errno))
        p = os.path.join(R, 'one.bin')
        tryit('open w', lambda: open(p, 'wb'))
        tryit('open a', lambda: open(p, 'ab'))
        tryit('open r+', lambda: open(p, 'r+b'))
        tryit('create', lambda: open(os.path.join(R, 'new.bin'), 'wb'))
        tryit('remove', lambda: os.remove(p))
        tryit('rename', lambda: os.rename(p, os.path.join(R, 'x')))
        tryit('mkdir', lambda: os.mkdir(os.path.join(R, 'newdir')))
        tryit('rmdir', lambda: os.rmdir(os.path.join(R, 'emptydir')))
        tryit('chmod', lambda: os.chmod(p, 0o777))
        tryit('symlink', lambda: os.symlink('one.bin', os.path.join(R, 'newlink')))
        tryit('missing', lambda: open(os.path.join(R, 'nope.bin'), 'rb'))
        tryit('missing dir', lambda: os.listdir(os.path.join(R, 'nope')))
        print('still reads', len(open(p, 'rb').read()))
        """)
    r = subprocess.run([PY, "-c", code, shim.mount], env=shim.shim_env(), capture_output=True,
                       text=True)
    want = """open w PermissionError EROFS|open a PermissionError EROFS|open r+ PermissionError EROFS|create PermissionError EROFS|remove PermissionError EROFS|rename PermissionError EROFS|mkdir PermissionError EROFS|rmdir PermissionError EROFS|chmod PermissionError EROFS|symlink PermissionError EROFS|missing FileNotFoundError ENOENT|missing dir FileNotFoundError ENOENT|still reads 1"""
    # Python maps EROFS to plain OSError, not PermissionError
    want = want.replace("PermissionError EROFS", "OSError EROFS").split("|")
    assert r.stdout.splitlines() == want, r.stdout + r.stderr[-2000:]
    # nothing leaked into the cipher dir
    assert not any(n in os.listdir(shim.cipher) for n in ("new.bin", "newdir", "x"))


def test_chdir_relative_getcwd(shim):
    py(shim, """
        os.chdir(os.path.join(R, 'nested', 'a'))
        print(rel(os.getcwd()), os.getcwd() == os.path.join(R, 'nested', 'a'))
        print(h(open('b/c/deep.bin', 'rb').read()), sorted(os.listdir('.')), sorted(os.listdir('b')))
        print(os.path.realpath('b/up3') == os.path.join(R, 'b4096.bin'), os.path.exists('sib.bin'))
        os.chdir('b')
        print(rel(os.getcwd()), os.path.abspath('c'), rel(os.path.abspath('c')))
        print(h(open('../../../one.bin', 'rb').read()))
        """)


def test_unicode_and_long_names(shim):
    py(shim, """
        names = sorted(os.listdir(R))
        for n in names:
            if len(n.encode()) >= 170 or not n.isascii():
                p = os.path.join(R, n)
                if os.path.isdir(p):
                    print(len(n.encode()), n[:8], 'dir', sorted(os.listdir(p)))
                else:
                    print(len(n.encode()), n[:8], os.path.getsize(p), h(open(p, 'rb').read()))
        print(os.path.getsize(os.path.join(R, 'nested/a/' + 'Q' * 200)))
        """)


# ------------------------------------------------------------------ numpy


NUMPY = """
import numpy as np
def a(x): return h(np.ascontiguousarray(x).tobytes()) + ' ' + str(x.shape) + ' ' + str(x.dtype)
"""


def need_numpy():
    if subprocess.run([PY, "-c", "import numpy"], capture_output=True).returncode:
        pytest.skip("SKIP: numpy not importable by /usr/bin/python3")


def test_numpy_fromfile(shim):
    need_numpy()
    py(shim, pre=NUMPY, code="""
        print(a(np.fromfile(os.path.join(R, 'raw.f32'), dtype=np.float32)))
        print(a(np.fromfile(os.path.join(R, 'mid.bin'), dtype=np.uint8, count=5000, offset=4090)))
        with open(os.path.join(R, 'raw.f32'), 'rb') as f:
            f.seek(400)
            print(a(np.fromfile(f, dtype=np.float32, count=1000)), f.tell())
        """)


def test_numpy_memmap(shim):
    need_numpy()
    py(shim, pre=NUMPY, code="""
        m = np.memmap(os.path.join(R, 'raw.f32'), dtype=np.float32, mode='r')
        print(a(m), float(m[12345]))
        m2 = np.memmap(os.path.join(R, 'big40.bin'), dtype=np.uint8, mode='r', offset=4096 * 7 + 5)
        print(a(m2))
        c = np.memmap(os.path.join(R, 'mid.bin'), dtype=np.uint8, mode='c')
        c[:10] = 0
        print(a(c))
        """)


def test_numpy_load(shim):
    need_numpy()
    py(shim, pre=NUMPY, code="""
        print(a(np.load(os.path.join(R, 'arr.npy'))))
        m = np.load(os.path.join(R, 'arr.npy'), mmap_mode='r')
        print(type(m).__name__, a(m))
        with np.load(os.path.join(R, 'arrs.npz')) as z:
            for k in sorted(z.files):
                print(k, a(z[k]))
        """)


def test_safetensors_like_header(shim):
    py(shim, """
        import json, struct, mmap
        with open(os.path.join(R, 'model.safetensors'), 'rb') as f:
            n = struct.unpack('<Q', f.read(8))[0]
            hdr = json.loads(f.read(n))
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        for k in sorted(hdr):
            if k != '__metadata__':
                s, e = hdr[k]['data_offsets']
                print(k, hdr[k]['dtype'], h(m[8 + n + s: 8 + n + e]))
        """)
