#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/): a few small, valid
inputs per reader, from which libFuzzer mutates. Deterministic: the same bytes each run.
Needs Debian's python3-numpy, python3-pil and python3-torch.

    /usr/bin/python3 fuzz/make_corpus.py
"""
import gzip
import io
import json
import os
import struct

import numpy as np
import torch
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = np.random.default_rng(0)


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


# IDX: 0x00000803 images (N, H, W) and 0x00000801 labels (N), big-endian counts.
pixels = rng.integers(0, 256, size=(3, 4, 4), dtype=np.uint8)
images = struct.pack(">IIII", 0x803, 3, 4, 4) + pixels.tobytes()
labels = struct.pack(">II", 0x801, 3) + bytes([0, 9, 4])
put("idx", "images.idx", images)
put("idx", "labels.idx", labels)
put("idx", "images.idx.gz", gzip.compress(images, mtime=0))
put("idx", "labels.idx.gz", gzip.compress(labels, mtime=0))

# CIFAR: CIFAR-10 records are 1 label byte + 3072 pixels; CIFAR-100, coarse + fine + 3072.
put("cifar", "cifar10_2.bin", b"".join(bytes([c]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
                                       for c in (3, 7)))
put("cifar", "cifar100_1.bin", bytes([1, 42]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes())


def encode(array, mode, fmt):
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, fmt)
    return out.getvalue()


grey = rng.integers(0, 256, size=(5, 4), dtype=np.uint8)
rgb = rng.integers(0, 256, size=(3, 6, 3), dtype=np.uint8)
put("image", "grey.png", encode(grey, "L", "PNG"))
put("image", "grey_alpha.png", encode(np.stack([grey, grey], -1), "LA", "PNG"))
put("image", "rgb.png", encode(rgb, "RGB", "PNG"))
put("image", "rgba.png", encode(np.concatenate([rgb, rgb[..., :1]], -1), "RGBA", "PNG"))
put("image", "grey.jpg", encode(np.repeat(np.repeat(grey, 2, 0), 2, 1), "L", "JPEG"))
put("image", "rgb.jpg", encode(np.repeat(np.repeat(rgb, 2, 0), 2, 1), "RGB", "JPEG"))

lines = [{"file_name": "images/0/0.png", "label": 0, "score": 0.25},
         {"file_name": "images/3/1.png", "label": 3},
         {"file_name": "images/9/2.png", "label": 9, "score": None}]
put("metadata", "metadata.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())


def saved(tensor):
    out = io.BytesIO()
    torch.save(tensor, out)
    return out.getvalue()


put("tensor", "uint8.pt", saved(torch.from_numpy(rng.integers(0, 256, (2, 1, 3, 3), dtype=np.uint8))))
put("tensor", "int64.pt", saved(torch.tensor([0, 9, 4])))
put("tensor", "float32.pt", saved(torch.from_numpy(rng.standard_normal((2, 3)).astype(np.float32))))
put("tensor", "float64_view.pt", saved(torch.arange(12, dtype=torch.float64).view(3, 4)[:, 1:3]))


# A module archive in libtorch's layout (what ddkit's model, generator and checkpoint files
# hold): __torch__ objects built from dicts of tensors, strings and nested modules. Made
# by torch.save with stand-in classes registered as the module "__torch__".
import sys
import types

fake = types.ModuleType("__torch__")
sys.modules["__torch__"] = fake


class Module:
    def __init__(self, **attributes):
        self.__dict__.update(attributes)


Module.__module__ = "__torch__"
fake.Module = Module
base = torch.arange(6, dtype=torch.float32)
put("tensor", "module.pt", saved(Module(conv=Module(weight=base.view(2, 3), bias=base[4:]), step=torch.tensor(7),
                                        ddkit_model_info='{"model": "convnet"}', lr=0.01, flags=[True, None])))
