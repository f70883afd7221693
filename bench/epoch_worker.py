"""epoch_worker.py - ImageFolder epochs on request, for bench/native.py.

Design: torch and torchvision take seconds to import on a loaded machine, so
one long-lived process serves every epoch of a run: each line on stdin is an
ImageFolder directory; the worker runs one epoch over it as a trainer would
(torchvision ImageFolder, Resize to 128x128, ToTensor, DataLoader with
batch_size 16 and num_workers=4, every pixel touched; timed from the end
of ImageFolder's scan, as tests/datasets/training.py times it) and
answers one JSON line: seconds, images, checksum (so the mount and the
local copy are seen to hold the same data).
"""
import json
import sys
import time
import warnings

import torch
import torchvision
from torch.utils.data import DataLoader


def epoch(root):
    tf = torchvision.transforms.Compose([torchvision.transforms.Resize((128, 128)),
                                         torchvision.transforms.ToTensor()])
    ds = torchvision.datasets.ImageFolder(root, transform=tf)
    t0 = time.perf_counter()  # the epoch, not the scan (as training.py times it)
    seen, total = 0, 0.0
    for x, _y in DataLoader(ds, batch_size=16, num_workers=4, shuffle=False):
        seen += x.shape[0]
        total += float(x.sum())
    return {"seconds": time.perf_counter() - t0, "images": seen, "checksum": round(total, 1)}


def main():
    torch.set_num_threads(1)
    # the 4 workers on a 2-core machine and PIL's palette notes: said once, not per image
    warnings.filterwarnings("ignore")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        root = line.strip()
        if not root:
            continue
        try:
            out = epoch(root)
        except Exception as e:  # reported, the caller fails the run
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
