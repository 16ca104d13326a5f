"""Streaming mode (UNSEAL_STREAM=1): read/pread/readv/lseek are served by the
shim's fd wrappers; mmap, fdopen, sendfile and exec still see plaintext."""
import os

import pytest
from shimlib import assert_same

STREAM = {"UNSEAL_STREAM": "1"}


def both(shim, argv_fn, what):
    ref, got = shim.run_both(argv_fn, extra_env=STREAM)
    assert ref.rc == 0, ref.err
    assert_same(ref, got, what)
    return ref, got


@pytest.mark.parametrize("name", ["mid.bin", "b4097.bin", "big40.bin", "empty.bin"])
def test_stream_read_pread_lseek(shim, consumer, name):
    b = consumer("dup_fdopen")
    both(shim, lambda root: [b, os.path.join(root, name)], "dup_fdopen (stream)")


def test_stream_threads(shim, consumer):
    b = consumer("pread_threads")
    plain = os.path.join(shim.plain, "big40.bin")
    ref, got = both(shim, lambda root: [b, os.path.join(root, "big40.bin"), plain], "pread")
    assert got.out == b"reads=2400 mismatches=0\n"


@pytest.mark.parametrize("prog,args", [("llama_mmap", ["model.safetensors"]),
                                       ("llama_mmap", ["big40.bin"]),
                                       ("mmap_private", ["mid.bin"]),
                                       ("stdio_read", ["mid.bin", "text.txt"]),
                                       ("paths", [""]), ("ifstream", ["mid.bin"]),
                                       ("exec_cat", ["b4097.bin"])])
def test_stream_consumers(shim, consumer, prog, args):
    b = consumer(prog)
    both(shim, lambda root: [b] + [os.path.join(root, a) for a in args], prog + " (stream)")


def test_stream_copy(shim, consumer):
    b = consumer("copy_fd")
    outs = os.path.join(shim.tmp, "stream-copy")
    both(shim, lambda root: [b, os.path.join(root, "mid.bin"), outs + "1", outs + "2"], "copy")
    want = open(os.path.join(shim.plain, "mid.bin"), "rb").read()
    for o in (outs + "1", outs + "2"):
        assert open(o, "rb").read() == want


def test_stream_python(shim):
    code = ("import os,sys,hashlib,mmap\nR=sys.argv[1]\n"
            "fd=os.open(os.path.join(R,'big40.bin'),os.O_RDONLY)\n"
            "print(os.lseek(fd,0,os.SEEK_END), os.lseek(fd,-5,os.SEEK_CUR))\n"
            "print(hashlib.sha256(os.pread(fd,100000,4093)).hexdigest())\n"
            "os.lseek(fd,12345,0);print(hashlib.sha256(os.read(fd,70000)).hexdigest())\n"
            "bufs=[bytearray(5000),bytearray(7)];n=os.preadv(fd,bufs,9)\n"
            "print(n,hashlib.sha256(b''.join(bufs)[:n]).hexdigest())\n"
            "os.close(fd)\n"
            "for n in ['mid.bin','text.txt','arr.npy']:\n"
            " print(n,hashlib.sha256(open(os.path.join(R,n),'rb').read()).hexdigest())\n"
            "f=open(os.path.join(R,'mid.bin'),'rb');m=mmap.mmap(f.fileno(),0,access=mmap.ACCESS_READ)\n"
            "print(hashlib.sha256(m[:]).hexdigest())\n")
    both(shim, lambda root: ["/usr/bin/python3", "-c", code, root], "python (stream)")


def test_stream_numpy(shim):
    code = ("import os,sys,hashlib,numpy as np\nR=sys.argv[1]\n"
            "print(hashlib.sha256(np.fromfile(os.path.join(R,'raw.f32'),dtype=np.float32).tobytes()).hexdigest())\n"
            "print(hashlib.sha256(np.load(os.path.join(R,'arr.npy')).tobytes()).hexdigest())\n"
            "print(hashlib.sha256(np.load(os.path.join(R,'arr.npy'),mmap_mode='r').tobytes()).hexdigest())\n")
    both(shim, lambda root: ["/usr/bin/python3", "-c", code, root], "numpy (stream)")
