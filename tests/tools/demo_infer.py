"""An ordinary model loader: the demo runs it unmodified, once on the plaintext
directory and once on the virtual path through the unseal shim.

It reads config.json and tokenizer.json, memory-maps model.safetensors the way
safetensors does (header parse, then mmap of the data), loads extra/bias.npy
with np.load(mmap_mode='r'), runs a tiny forward pass and prints the result
together with the SHA-256 of every file it walked."""
import hashlib
import json
import mmap
import os
import struct
import sys

import numpy as np

root = sys.argv[1]
cfg = json.load(open(os.path.join(root, "config.json")))
vocab = json.load(open(os.path.join(root, "tokenizer.json")))["vocab"]
with open(os.path.join(root, "model.safetensors"), "rb") as f:
    hlen = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(hlen))
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
base = 8 + hlen


def tensor(name):
    t = header[name]
    a, b = t["data_offsets"]
    return np.frombuffer(mm, dtype="<f4", count=(b - a) // 4, offset=base + a).reshape(t["shape"])


bias = np.load(os.path.join(root, "extra", "bias.npy"), mmap_mode="r")
tokens = [vocab[k] for k in sorted(vocab)[:8]]
x = tensor("embed")[tokens].mean(axis=0)
for i in range(cfg["num_layers"]):
    x = np.tanh(tensor(f"layer.{i}.weight") @ x + bias)
print("logits:", " ".join(f"{v:+.5f}" for v in x[:8]))
for dirpath, dirs, files in sorted(os.walk(root)):
    dirs.sort()
    for fn in sorted(files):
        p = os.path.join(dirpath, fn)
        print(hashlib.sha256(open(p, "rb").read()).hexdigest(), os.path.relpath(p, root))
