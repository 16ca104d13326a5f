"""The AES-GCM engine: UNSEAL_CRYPTO really selects it in the CLI, and a
machine where ipsec-mb cannot run turns every ipsec-mb test into a visible
SKIP (pytest and cmocka alike), never a pass and never a failure.

"ipsec-mb unusable" is produced for real with a preload library whose
alloc_mb_mgr() returns NULL: the library then refuses exactly as it does on a
CPU without AES-NI (crypto/aead_imb.c takes the same path)."""
import glob
import os
import re
import shutil
import subprocess

import pytest

import clilib as L

PW = os.path.join(L.GOLDEN, "password.txt")
NOIMB_SRC = """
#include <stddef.h>
#include <stdint.h>
/* ipsec-mb's manager allocator, refusing: the engine becomes unusable. */
void *alloc_mb_mgr(uint64_t flags) { (void)flags; return NULL; }
"""


@pytest.fixture(scope="module")
def noimb(tmp_path_factory):
    if not shutil.which("cc"):
        pytest.skip("SKIP: no C compiler for the ipsec-mb-refusing preload library")
    d = tmp_path_factory.mktemp("noimb")
    (d / "noimb.c").write_text(NOIMB_SRC)
    so = d / "libnoimb.so"
    r = L.run(["cc", "-shared", "-fPIC", "-o", str(so), str(d / "noimb.c")])
    assert r.returncode == 0, r.stderr
    return str(so)


def env(engine=None, preload=None):
    e = {k: v for k, v in os.environ.items() if k not in ("UNSEAL_CRYPTO", "LD_PRELOAD")}
    if engine is not None:
        e["UNSEAL_CRYPTO"] = engine
    if preload:
        e["LD_PRELOAD"] = preload
    return e


@pytest.fixture
def cipher(tmp_path):
    return L.golden_cipher("default", str(tmp_path / "cipher"))


def test_unusable_ipsec_is_a_skip(cipher, noimb):
    r = L.unseal("verify", "--passfile", PW, cipher, env=env("ipsec-mb", noimb))
    assert r.returncode == 1
    assert r.stderr == f"unseal: verify: {L.IPSEC_UNUSABLE}\n", r.stderr
    with pytest.raises(pytest.skip.Exception) as e:
        L.skip_if_engine_missing(r, "ipsec-mb")
    assert "CPU lacks AES-NI" in str(e.value)
    # Any other failure is not a skip: it stays a failure.
    bad = L.unseal("verify", "--passfile", "/nonexistent", cipher, env=env("ipsec-mb"))
    assert bad.returncode == 1
    L.skip_if_engine_missing(bad, "ipsec-mb")
    # Nor is the same failure under another engine name.
    L.skip_if_engine_missing(r, "openssl")


UNIT = sorted(p for p in glob.glob(os.path.join(L.BUILD, "tests", "test_crypto_*"))
              if os.access(p, os.X_OK) and not p.endswith(".d"))


@pytest.mark.parametrize("binary", [os.path.basename(p) for p in UNIT])
def test_unit_ipsec_cases_skip_visibly(binary, noimb):
    """Without ipsec-mb, every test that wanted it reports SKIP (one per
    'SKIP: <reason>' line it printed); none passes silently and none fails."""
    exe = os.path.join(L.BUILD, "tests", binary)
    p = subprocess.run([exe], cwd=L.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600,
                       env={**env(preload=noimb), "CMOCKA_MESSAGE_OUTPUT": "TAP"})
    tap = p.stdout.splitlines()
    skips = [t for t in tap if re.match(r"^(not )?ok \d+.*#\s*SKIP", t)]
    fails = [t for t in tap if t.startswith("not ok") and t not in skips]
    # Every SKIP the binary mentions outside its TAP lines is one TAP skip.
    said = sum(1 for line in p.stderr.splitlines() + [t for t in tap if not re.match(
        r"^(not )?ok \d+", t)] if "SKIP" in line)
    assert p.returncode == 0 and not fails, p.stdout + p.stderr
    assert len(skips) == said, (skips, p.stderr)
    ipsec_named = [t for t in tap if re.match(r"^(not )?ok \d+ .*ipsec", t, re.I)]
    assert all(t in skips for t in ipsec_named), ipsec_named


# ---- UNSEAL_CRYPTO selects the engine: --verbose names the one the keys use

def engine_line(verb, cipher_name, engine):
    return f"unseal: {verb}: content cipher: {cipher_name} by {engine} (UNSEAL_CRYPTO="


def run_verbose(verb, cipher, tmp_path, engine, preload=None, variant="default"):
    mk = os.path.join(L.GOLDEN, L.VARIANTS[variant][1])
    if verb == "encrypt":
        plain = tmp_path / "plain"
        plain.mkdir(exist_ok=True)
        (plain / "f").write_text("x" * 5000)
        out = tmp_path / f"c-{engine}"
        args = ["encrypt", "--quiet", "--verbose", "--scryptn", "10", "--passfile", PW,
                str(plain), str(out)]
    elif verb == "decrypt":
        args = ["decrypt", "--quiet", "--verbose", "--masterkey-file", mk, cipher,
                str(tmp_path / f"out-{engine}")]
    else:
        args = ["verify", "--quiet", "--verbose", "--masterkey-file", mk, cipher]
    return L.unseal(*args, env=env(engine, preload))


def ipsec_works(cipher, tmp_path):
    r = run_verbose("verify", cipher, tmp_path, "ipsec-mb")
    if r.returncode != 0:
        assert r.stderr == f"unseal: verify: {L.IPSEC_UNUSABLE}\n", r.stderr
    return r.returncode == 0


@pytest.mark.parametrize("verb", ["encrypt", "decrypt", "verify"])
def test_verbose_names_the_engine(tmp_path, cipher, verb):
    have_ipsec = ipsec_works(cipher, tmp_path)
    for engine, want in (("openssl", "openssl"), ("ipsec-mb", "ipsec-mb"),
                         ("auto", "ipsec-mb" if have_ipsec else "openssl"),
                         ("", "ipsec-mb" if have_ipsec else "openssl")):
        if engine == "ipsec-mb" and not have_ipsec:
            continue
        r = run_verbose(verb, cipher, tmp_path, engine)
        assert r.returncode == 0, r.stdout + r.stderr
        shown = engine or "auto"
        assert r.stderr == engine_line(verb, "AES-GCM-256", want) + f"{shown})\n", r.stderr
    if not have_ipsec:
        pytest.skip(f"SKIP: ipsec-mb engine unusable here ({L.IPSEC_UNUSABLE})")


@pytest.mark.parametrize("verb", ["encrypt", "decrypt", "verify"])
def test_engine_choice_without_ipsec(tmp_path, cipher, noimb, verb):
    """With ipsec-mb unusable: openssl and auto work (and say openssl),
    an explicit ipsec-mb fails with the reason; so the variable is obeyed."""
    for engine in ("openssl", "auto"):
        r = run_verbose(verb, cipher, tmp_path, engine, noimb)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stderr == engine_line(verb, "AES-GCM-256", "openssl") + f"{engine})\n"
    r = run_verbose(verb, cipher, tmp_path, "ipsec-mb", noimb)
    assert r.returncode == 1
    assert r.stderr == f"unseal: {verb}: {L.IPSEC_UNUSABLE}\n", r.stderr
    if verb == "encrypt":
        assert not os.path.exists(tmp_path / "c-ipsec-mb")
        assert L.leftovers(str(tmp_path)) == []


def test_aessiv_is_always_openssl(tmp_path):
    cipher = L.golden_cipher("aessiv", str(tmp_path / "cipher"))
    for engine in ("openssl", "ipsec-mb", "auto"):
        r = run_verbose("verify", cipher, tmp_path, engine, variant="aessiv")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stderr == engine_line("verify", "AES-SIV-512", "openssl") + f"{engine})\n"


def test_quiet_by_default(tmp_path, cipher):
    r = L.unseal("verify", "--quiet", "--passfile", PW, cipher)
    assert r.returncode == 0 and r.stderr == ""
