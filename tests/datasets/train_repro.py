"""A training run over an ImageFolder tree (tests/datasets/test_training_repro.py,
issue 24): torchvision's ImageFolder lists ROOT, the child prints "listed"
and waits for the file GO, then trains a small linear classifier for two
epochs with DataLoader(num_workers=4, shuffle=True), every image decoded. Any
error of a worker (a FileNotFoundError when a listed file vanished) ends the
run with a non-zero exit status, as it ends a real training run. Prints one
JSON object: the listing, the samples loaded per epoch, the losses.

usage: train_repro.py ROOT GO
"""
import json
import os
import sys
import time

import torch
import torchvision
from torch.utils.data import DataLoader

root, go = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
torch.set_num_threads(1)
tf = torchvision.transforms.Compose([torchvision.transforms.Resize((24, 24)),
                                     torchvision.transforms.ToTensor()])
ds = torchvision.datasets.ImageFolder(root, transform=tf)
print("listed", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
model = torch.nn.Linear(3 * 24 * 24, len(ds.classes))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
epochs = []
for epoch in range(2):
    seen, loss_sum = 0, 0.0
    for x, y in DataLoader(ds, batch_size=4, num_workers=4, shuffle=True):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x.flatten(1)), y)
        loss.backward()
        opt.step()
        seen += x.shape[0]
        loss_sum += float(loss) * x.shape[0]
    epochs.append({"loaded": seen, "loss": loss_sum / max(seen, 1)})
print(json.dumps({"len": len(ds), "classes": ds.classes,
                  "samples": [[os.path.relpath(p, root), c] for p, c in ds.samples],
                  "epochs": epochs}), flush=True)
