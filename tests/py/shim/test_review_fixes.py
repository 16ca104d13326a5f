"""Review fixes in the shim (round 3, "shimfix2").

Each test failed before its fix; expectations come from the kernel's
read-only semantics, the cipher directory on disk or the plaintext tree:
  1. mutations through tracked fds (fchmod on a virtual dir changed the
     cipher directory),
  3. the program's mappings of virtual files are excluded from core dumps,
  4. the key hand-off fd is checked and not leaked to grandchildren,
  5. a replaced cipher directory does not give stale names (dir IV cache).
"""
import os
import subprocess

import pytest
from shimlib import snapshot
from testlib import cipher_name, private_cipher


# ------------------------------------------- 1. mutations through our fds


@pytest.mark.parametrize("target,kind", [("", "dir"), ("nested", "dir"), ("one.bin", "file")])
def test_fd_mutations_are_erofs(shim, consumer, target, kind):
    cdir = private_cipher(shim, "rv-fdmut")
    b = consumer("rv_fdmut")
    watch = [cdir, os.path.join(cdir, cipher_name(shim, cdir, "one.bin"))]
    watch += [os.path.join(cdir, d) for d in os.listdir(cdir)
              if os.path.isdir(os.path.join(cdir, d))]
    before = {p: snapshot(p) for p in watch}
    env = shim.shim_env(UNSEAL_CIPHER_DIR=cdir)
    r = subprocess.run([b, os.path.join(shim.mount, target), kind], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 * 21, r.stdout
    bad = [ln for ln in lines if not ln.endswith("=-1/EROFS")]
    assert not bad, "not refused with EROFS:\n" + "\n".join(bad)
    after = {p: snapshot(p) for p in watch}
    changed = [p for p in watch if before[p] != after[p]]
    assert not changed, f"cipher entries changed: {changed}\n{before}\n{after}"


# ------------------------------------------------------------ 2. fork


def test_fork_while_listing_does_not_deadlock(shim, consumer):
    """The vdir lock (and the keys' pool lock) are held across fork()."""
    b = consumer("rv_forkdir")
    r = subprocess.run([b, shim.mount, "300"], env=shim.shim_env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "hung=0 bad=0", r.stdout + r.stderr[-2000:]


# ------------------------------------------------- 3. mappings not dumped


@pytest.mark.parametrize("mode", ["private", "shared"])
@pytest.mark.parametrize("env", [{}, {"UNSEAL_STREAM": "1"}], ids=["default", "stream"])
def test_program_mapping_is_dontdump(shim, consumer, mode, env):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    b = consumer("rv_mapdd")
    r = subprocess.run([b, os.path.join(shim.mount, "mid.bin"), mode], env=shim.shim_env(env),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    flags = r.stdout.split()
    assert flags and flags[0] == "VmFlags:", r.stdout
    assert "dd" in flags[1:], f"plaintext mapping would be dumped: {r.stdout}"


# ------------------------------------------------------------ 4. keys


@pytest.mark.parametrize("mode,want", [
    ("drop", "open=OK byte={b} env=0 fd=0"),  # read, then closed and unset
    ("keep", "open=OK byte={b} env=1 fd=1"),  # this child hands off again
    ("fake", "open=EACCES byte=0 env=0 fd=0"),  # 64-byte sealed memfd refused
])
def test_key_handoff_fd_checked_and_not_leaked(shim, consumer, mode, want):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    b = consumer("rv_handoff")
    with open(os.path.join(shim.plain, "one.bin"), "rb") as f:
        first = f.read(1)[0]
    env = shim.shim_env(UNSEAL_KEY_HANDOFF="1")
    r = subprocess.run([b, "parent", os.path.join(shim.mount, "one.bin"), mode], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want.format(b=first), r.stdout + r.stderr


def test_exit_while_threads_decrypt(shim, consumer):
    """Regression (did not reproduce a crash before the fix): the destructor
    leaves the keys alone while other threads may still use them."""
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode")
    b = consumer("rv_exitrace")
    for _ in range(5):
        r = subprocess.run([b, os.path.join(shim.mount, "big40.bin")],
                           env=shim.shim_env(UNSEAL_STREAM="1"), capture_output=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]


# ------------------------------------------------------- 5. dir IV cache


def test_replaced_cipher_dir_gets_fresh_iv(shim, consumer):
    cdir = private_cipher(shim, "rv-diriv")
    b = consumer("rv_diriv")
    subs = {len(os.listdir(os.path.join(cdir, d))): os.path.join(cdir, d)
            for d in os.listdir(cdir) if os.path.isdir(os.path.join(cdir, d))}
    nested, emoji = subs.get(4), subs.get(2)  # diriv + a, x, up_one / diriv + 1 file
    assert nested and emoji, f"cannot identify cipher dirs: {subs}"
    emoji_plain = [d for d in os.listdir(shim.plain) if d.startswith("emoji-")][0]
    r = subprocess.run([b, os.path.join(shim.mount, "nested"), nested, emoji],
                       env=shim.shim_env(UNSEAL_CIPHER_DIR=cdir), capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    first = sorted(ln[3:] for ln in out if ln.startswith("1: "))
    second = sorted(ln[3:] for ln in out if ln.startswith("2: "))
    assert first == sorted(os.listdir(os.path.join(shim.plain, "nested"))), out
    assert second == sorted(os.listdir(os.path.join(shim.plain, emoji_plain))), out
