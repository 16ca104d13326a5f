"""Write a small, deterministic sample "model" directory for the demo and benches.

Layout (like a Hugging Face snapshot): config.json, tokenizer.json,
model.safetensors (real safetensors layout: u64-LE header length, JSON header,
raw little-endian tensors), and an extra NumPy file.  Usage:
    make_sample_model.py OUT_DIR [--mib N]
"""
import json
import os
import struct
import sys

import numpy as np


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1]
    mib = int(sys.argv[sys.argv.index("--mib") + 1]) if "--mib" in sys.argv else 8
    rng = np.random.default_rng(20261203)
    os.makedirs(out, exist_ok=True)
    hidden = 256
    layers = max(1, mib * 1024 * 1024 // (hidden * hidden * 4))
    cfg = {"model_type": "unseal-demo", "hidden_size": hidden, "num_layers": layers, "vocab": 64}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    vocab = {chr(ord("a") + i % 26) + str(i): i for i in range(cfg["vocab"])}
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump({"vocab": vocab}, f)
    tensors = {"embed": rng.standard_normal((cfg["vocab"], hidden), dtype=np.float32)}
    for i in range(layers):
        tensors[f"layer.{i}.weight"] = rng.standard_normal((hidden, hidden), dtype=np.float32) / 16
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    os.makedirs(os.path.join(out, "extra"), exist_ok=True)
    np.save(os.path.join(out, "extra", "bias.npy"), rng.standard_normal(hidden).astype(np.float32))


if __name__ == "__main__":
    main()
