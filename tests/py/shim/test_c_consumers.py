"""C and C++ consumers from tests/consumers/, plaintext run vs shim run."""
import difflib
import hashlib
import os
import subprocess

import pytest
from shimlib import assert_same

BIG = "big40.bin"


def both(shim, binary, *rels, **kw):
    ref, got = shim.run_both(lambda root: [binary] + [os.path.join(root, r) for r in rels], **kw)
    assert_same(ref, got, f"{os.path.basename(binary)} {' '.join(rels)}")
    # the shim prints nothing at the default log level
    assert got.err == ref.err, got.err[-2000:]
    return ref, got


@pytest.mark.parametrize("name", ["b4097.bin", "mid.bin", "empty.bin", "one.bin", BIG])
def test_stdio(shim, consumer, name):
    both(shim, consumer("stdio_read"), name, "text.txt")


@pytest.mark.parametrize("name", ["model.safetensors", "b4096.bin", BIG, "link_deep"])
def test_llama_mmap(shim, consumer, name):
    ref, _ = both(shim, consumer("llama_mmap"), name)
    assert b"map fnv=" in ref.out


@pytest.mark.parametrize("name", ["mid.bin", "b4097.bin" + "", "nested/a/sib.bin"])
def test_mmap_private_offset(shim, consumer, name):
    both(shim, consumer("mmap_private"), name)


@pytest.mark.parametrize("name", ["mid.bin", BIG])
def test_pread_threads(shim, consumer, name):
    """Per-read comparison is inside the program (virtual vs plaintext path)."""
    binary = consumer("pread_threads")
    plain = os.path.join(shim.plain, name)
    ref, got = shim.run_both(lambda root: [binary, os.path.join(root, name), plain])
    assert got.rc == 0 and got.out == b"reads=2400 mismatches=0\n", got.err[-2000:]
    assert_same(ref, got, "pread_threads")


def test_fd_reuse(shim, consumer):
    real = os.path.join(shim.tmp, "real-reuse.txt")
    with open(real, "wb") as f:
        f.write(b"real file content, not virtual\n" * 100)
    binary = consumer("fd_reuse")
    ref, got = shim.run_both(lambda root: [binary, os.path.join(root, "b4096.bin"),
                                           os.path.join(root, "nested"), real])
    assert_same(ref, got, "fd_reuse")
    assert ref.text.count("same_fd=1") == 3, ref.text


@pytest.mark.parametrize("name", ["mid.bin", "b4097.bin", "arr.npy"])
def test_dup_fdopen_readv(shim, consumer, name):
    both(shim, consumer("dup_fdopen"), name)


@pytest.mark.parametrize("name", ["mid.bin", "b4095.bin", "empty.bin"])
def test_sendfile_copy_file_range(shim, consumer, name):
    binary = consumer("copy_fd")
    outs = {}

    def argv(root):
        tag = "plain" if root == shim.plain else "shim"
        o = [os.path.join(shim.tmp, f"copy-{tag}-{i}") for i in (1, 2)]
        outs[tag] = o
        return [binary, os.path.join(root, name)] + o

    both_ref, both_got = shim.run_both(argv)
    assert_same(both_ref, both_got, "copy_fd")
    want = open(os.path.join(shim.plain, name), "rb").read()
    for o in outs["shim"]:
        assert open(o, "rb").read() == want, f"{o} differs from plaintext {name}"


def test_vfork_close_range_and_fork(shim, consumer):
    ref, got = both(shim, consumer("forks"), "mid.bin", "nested/a/sib.bin")
    assert b"fork child open2: " in ref.out and b"exit=0" in ref.out


def test_paths(shim, consumer):
    both(shim, consumer("paths"), "")


@pytest.mark.parametrize("flags", [("-O2", "-D_FORTIFY_SOURCE=2"), ("-D_FILE_OFFSET_BITS=64",),
                                   ("-O2", "-D_FORTIFY_SOURCE=2", "-D_FILE_OFFSET_BITS=64")])
def test_paths_variants(shim, consumer, flags):
    """Fortified (__open_2, __read_chk, __realpath_chk) and 64-bit-offset builds."""
    both(shim, consumer("paths", *flags), "")


@pytest.mark.parametrize("flags", [("-O2", "-D_FORTIFY_SOURCE=2", "-D_FILE_OFFSET_BITS=64")])
def test_stdio_variants(shim, consumer, flags):
    both(shim, consumer("stdio_read", *flags), "mid.bin", "text.txt")
    both(shim, consumer("dup_fdopen", *flags), "mid.bin")


def test_walk(shim, consumer):
    both(shim, consumer("walk"), "")


def _realdir(shim):
    d = os.path.join(shim.tmp, "fts-realdir")
    if not os.path.isdir(d):
        os.makedirs(os.path.join(d, "sub"))
        with open(os.path.join(d, "sub", "r.txt"), "wb") as f:
            f.write(b"real\n")
    return d


@pytest.mark.parametrize("flags", [(), ("-D_FILE_OFFSET_BITS=64",)])
def test_fts(shim, consumer, flags):
    """fts_open/read/children/set/close (and fts64_* with 64-bit offsets) on
    the mount, incl. a root list mixing virtual, missing and real paths,
    against glibc's fts on the plaintext tree."""
    binary = consumer("fts_walk", *flags)
    real = _realdir(shim)
    ref, got = shim.run_both(lambda root: [binary, root, real])
    assert_same(ref, got, "fts_walk")
    assert b"== physical compar (43)" in ref.out and b"deep.bin F lvl=5" in ref.out, ref.text


def test_fts_cycle_and_dirlinks(shim, consumer):
    """A symlink cycle (FTS_DC in logical walks) and two links to one
    directory, in a second small tree encrypted by the real gocryptfs."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    from conftest import _encrypt_gocryptfs
    base = os.path.join(shim.tmp, "cyc")
    plain, cipher = os.path.join(base, "plain"), os.path.join(base, "cipher")
    mount = shim.base + "-virt-cyc/model"
    if not os.path.isdir(cipher):
        os.makedirs(os.path.join(plain, "d", "sub"))
        with open(os.path.join(plain, "d", "sub", "f.bin"), "wb") as f:
            f.write(os.urandom(5000))
        os.symlink("../..", os.path.join(plain, "d", "sub", "up"))  # -> plain/
        os.symlink("d/sub", os.path.join(plain, "alias1"))
        os.symlink("./d/sub", os.path.join(plain, "alias2"))
        ok, why = _encrypt_gocryptfs(plain, cipher, shim.pwfile, base)
        if not ok:
            pytest.skip(f"SKIP: {why}")
    binary = consumer("fts_walk")
    ref = subprocess.run([binary, plain], env=shim.plain_env(), capture_output=True)
    got = subprocess.run([binary, mount], capture_output=True,
                         env=shim.shim_env({"UNSEAL_CIPHER_DIR": cipher, "UNSEAL_MOUNT": mount}))
    from shimlib import Result
    ref_r, got_r = Result(ref, plain), Result(got, mount)
    assert_same(ref_r, got_r, "fts_walk cycle")
    assert b" DC lvl=" in ref.stdout, ref.stdout.decode()


def test_fts_real_tree_passes_through(shim, consumer):
    """A walk of real paths only is glibc's fts, unchanged under the shim."""
    binary = consumer("fts_walk")
    real = _realdir(shim)
    ref = subprocess.run([binary, shim.plain, real], env=shim.plain_env(), capture_output=True)
    got = subprocess.run([binary, shim.plain, real], env=shim.shim_env(), capture_output=True)
    assert ref.returncode == got.returncode == 0 and ref.stdout == got.stdout, got.stderr[-2000:]


@pytest.mark.parametrize("flags", [("-O2", "-D_FORTIFY_SOURCE=2", "-D_FILE_OFFSET_BITS=64")])
def test_more_paths_variants(shim, consumer, flags):
    """__openat64_2/__open64_2, stat64 family and mmap64 from a fortified LFS build."""
    both(shim, consumer("more_paths", *flags), "")


def test_walk_lfs(shim, consumer):
    """readdir64/scandir64/glob64/nftw64 (the -D_FILE_OFFSET_BITS=64 names)."""
    both(shim, consumer("walk", "-D_FILE_OFFSET_BITS=64"), "")


def test_robust_errno_signal_threads_ctor(shim, consumer):
    real = os.path.join(shim.tmp, "robust-real.txt")
    with open(real, "wb") as f:
        f.write(b"real bytes, not virtual\n" * 300)
    binary = consumer("robust")
    ref, got = shim.run_both(lambda root: [binary, root, real])
    assert_same(ref, got, "robust")
    assert b"threads: bad=0" in ref.out and b"ctor open: OK n=7" in ref.out, ref.text


def test_more_paths(shim, consumer):
    """//, ., .. (physical, after symlinks), trailing slashes, O_CLOEXEC via
    F_GETFD, O_PATH/O_DIRECTORY/O_NOFOLLOW combinations, __fxstat*,
    faccessat, MAP_POPULATE, partial munmap and mremap after close."""
    ref, _ = both(shim, consumer("more_paths"), "")
    for want in (b"dirlink/../one.bin: ENOENT", b"cloexec=1", b"mremap grow: fnv=",
                 b"open dirlink flags=600000: ENOTDIR", b"fopen re: cloexec=1"):
        assert want in ref.out, want


def test_erofs_like_a_readonly_mount(shim, consumer):
    """Mutations from C (open for write, creat, truncate, rename, mkdir,
    unlink, link, ...) give exactly the errnos of a real read-only bind
    mount of the plaintext tree: EROFS, or the lookup/EXDEV/EEXIST/EISDIR
    error the kernel checks first."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    if os.geteuid() != 0:
        pytest.skip("SKIP: a read-only bind mount (the oracle) needs root")
    binary = consumer("erofs")
    real = os.path.join(shim.tmp, "erofs-real.txt")
    with open(real, "wb") as f:
        f.write(b"real file\n")
    ro = os.path.join(shim.tmp, "ro-bind")
    os.makedirs(ro, exist_ok=True)
    r = subprocess.run(["mount", "--bind", shim.plain, ro], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"SKIP: cannot bind-mount the oracle: {r.stderr.strip()}")
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", ro], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"SKIP: cannot remount the oracle read-only: {r.stderr.strip()}")
        ref = subprocess.run([binary, ro, real], env=shim.plain_env(), capture_output=True)
    finally:
        subprocess.run(["umount", ro], capture_output=True)
    got = subprocess.run([binary, shim.mount, real], env=shim.shim_env(), capture_output=True)
    assert ref.returncode == 0 and b"open O_WRONLY: EROFS" in ref.stdout, ref.stdout
    assert got.returncode == ref.returncode and got.stdout == ref.stdout, (
        "\n".join(difflib.unified_diff(ref.stdout.decode().splitlines(),
                                       got.stdout.decode().splitlines(), "ro-mount", "shim",
                                       lineterm="")) + got.stderr.decode()[-2000:])
    assert open(real, "rb").read() == b"real file\n"


@pytest.mark.parametrize("name", ["mid.bin", "text.txt", "empty.bin"])
def test_exec_child_inherits(shim, consumer, name):
    ref, got = both(shim, consumer("exec_cat"), name)
    want = open(os.path.join(shim.plain, name), "rb").read()
    assert ref.raw == want * 2
    assert hashlib.sha256(got.raw).digest() == hashlib.sha256(want * 2).digest()


@pytest.mark.parametrize("name", ["mid.bin", BIG, "one.bin"])
def test_cxx_ifstream(shim, consumer, name):
    both(shim, consumer("ifstream"), name)


def test_consumers_build_clean(consumer):
    """Every consumer compiles warning-free (-Werror) as the Makefile does."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "consumers")
    for f in sorted(os.listdir(src)):
        if f.endswith((".c", ".cc")):
            assert os.access(consumer(f.rsplit(".", 1)[0]), os.X_OK)
    r = subprocess.run(["cc", "--version"], capture_output=True)
    assert r.returncode == 0
