"""The shim's configuration surface: an existing empty mount directory is
accepted, a non-empty one is refused with a clear message (and never
shadowed), UNSEAL_LOG=debug traces the calls on the mount, UNSEAL_LOG_FILE
takes the log away from stderr, and the default level is silent."""
import os
import subprocess

import pytest

NAME = "b4097.bin"


def _cat(env, path):
    return subprocess.run(["cat", path], env=env, capture_output=True, timeout=60)


def _plain_bytes(shim):
    with open(os.path.join(shim.plain, NAME), "rb") as f:
        return f.read()


@pytest.fixture
def live(shim):
    if shim.selfcheck:
        pytest.skip("SKIP: selfcheck mode has no shim to configure")
    return shim


def test_existing_empty_mount_dir_is_accepted(live, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = _cat(live.shim_env(UNSEAL_MOUNT=str(mnt)), str(mnt / NAME))
    assert r.returncode == 0, r.stderr
    assert r.stdout == _plain_bytes(live)
    assert os.listdir(mnt) == []  # nothing was written into it


def test_non_empty_mount_dir_is_refused_and_not_shadowed(live, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (mnt / "mine.txt").write_text("real file\n")
    env = live.shim_env(UNSEAL_MOUNT=str(mnt))
    r = _cat(env, str(mnt / NAME))
    assert r.returncode != 0
    err = r.stderr.decode()
    assert f"unseal: config: {mnt}: " in err and "not an empty directory" in err, err
    assert r.stdout == b""
    # the real directory keeps working exactly as without the shim
    r = _cat(env, str(mnt / "mine.txt"))
    assert r.returncode == 0 and r.stdout == b"real file\n"


def test_debug_log_traces_calls_on_the_mount(live):
    path = os.path.join(live.mount, NAME)
    env = live.shim_env(UNSEAL_LOG="debug")
    r = subprocess.run(["sh", "-c", 'stat -c %s "$1" && cat "$1" >/dev/null', "sh", path],
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"4097"
    err = r.stderr.decode()
    assert f"unseal: open: {path}" in err, err
    assert f"{path}" in err.split(f"unseal: open: {path}")[0], \
        "the stat before the open is traced too"


def test_log_file_and_default_silence(live, tmp_path):
    path = os.path.join(live.mount, NAME)
    log = tmp_path / "shim.log"
    r = _cat(live.shim_env(UNSEAL_LOG="debug", UNSEAL_LOG_FILE=str(log)), path)
    assert r.returncode == 0 and r.stdout == _plain_bytes(live)
    assert r.stderr == b""
    assert f"unseal: open: {path}" in log.read_text()
    r = _cat(live.shim_env(), path)
    assert r.returncode == 0 and r.stderr == b""


def test_debug_traces_readlink_and_readdir(live):
    link = os.path.join(live.mount, "link_deep")
    env = live.shim_env(UNSEAL_LOG="debug")
    r = subprocess.run(["sh", "-c", 'readlink "$1" && ls "$2" >/dev/null', "sh", link,
                        live.mount], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"nested/a/b/c/deep.bin\n"
    err = r.stderr.decode()
    assert f": {link}" in err and "readlink" in err, err
    assert "unseal: readdir: " in err and ": one.bin" in err, err


def test_unknown_log_level_is_reported(live):
    r = _cat(live.shim_env(UNSEAL_LOG="loud"), os.path.join(live.mount, NAME))
    assert r.returncode == 0 and r.stdout == _plain_bytes(live)
    assert "UNSEAL_LOG: unknown level 'loud'" in r.stderr.decode()
