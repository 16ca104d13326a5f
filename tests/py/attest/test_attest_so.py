"""build/libunseal-kbs.so, the library the shim dlopen()s: exports and one fetch."""
import ctypes
import hashlib
import os

import pytest

from testlib import BUILD
from kbsutil import SECRET, harness, resource_arg

SO = os.path.join(BUILD, "libunseal-kbs.so")


class Config(ctypes.Structure):  # mirrors kbs_config in attest/kbs.h
    _fields_ = [("url", ctypes.c_char_p), ("key_uri", ctypes.c_char_p),
                ("tee", ctypes.c_char_p), ("tsm_root", ctypes.c_char_p),
                ("cafile", ctypes.c_char_p), ("proto", ctypes.c_int),
                ("timeout_s", ctypes.c_double), ("key_type", ctypes.c_char_p)]


class Result(ctypes.Structure):  # mirrors kbs_result
    _fields_ = [("secret", ctypes.POINTER(ctypes.c_uint8)), ("secret_len", ctypes.c_size_t),
                ("proto", ctypes.c_char * 8), ("tee", ctypes.c_char * 16),
                ("auth_calls", ctypes.c_int), ("attest_calls", ctypes.c_int)]


@pytest.fixture(scope="module")
def lib():
    if not os.path.exists(SO):
        pytest.skip(f"SKIP: {SO} not built")
    lib = ctypes.CDLL(SO)
    lib.kbs_fetch.argtypes = [ctypes.POINTER(Config), ctypes.POINTER(Result), ctypes.c_char_p,
                              ctypes.c_size_t]
    lib.kbs_secret_free.argtypes = [ctypes.POINTER(Result)]
    return lib


def test_exports_only_entry_points(lib):
    assert lib.kbs_fetch and lib.kbs_secret_free
    for internal in ("kbs_jwe_decrypt", "kbs_handshake", "gcfs_b64url_dec", "kbs_http_do"):
        with pytest.raises(AttributeError):
            getattr(lib, internal)


def test_fetch_through_so(lib):
    h = harness()
    with h.kbs_server("p0", "--base-path", "/trustee", "--resource", resource_arg()) as kbs:
        cfg = Config(url=kbs.url.encode(), key_uri=b"kbs:///default/aliyun/model-key",
                     tee=b"sample", timeout_s=30.0)
        res, err = Result(), ctypes.create_string_buffer(512)
        assert lib.kbs_fetch(ctypes.byref(cfg), ctypes.byref(res), err, 512) == 0, err.value
        got = bytes(res.secret[:res.secret_len])
        assert hashlib.sha256(got).digest() == hashlib.sha256(SECRET).digest()
        assert res.proto == b"0.1.0" and res.tee == b"sample"
        lib.kbs_secret_free(ctypes.byref(res))
        assert res.secret_len == 0 and not res.secret
        # Failure: one error line naming the step, code = KBS_E_MISSING.
        cfg.key_uri = b"kbs:///default/aliyun/absent"
        assert lib.kbs_fetch(ctypes.byref(cfg), ctypes.byref(res), err, 512) == 6
        assert err.value.startswith(b"unseal: attest: resource: ")
        assert not res.secret
