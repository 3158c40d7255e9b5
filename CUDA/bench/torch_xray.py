"""xray-cnn on PyTorch CUDA, the peer of `check --bench` (CUDA/README.md).

The same architecture as Tandem's xray-cnn (REFERENCE_MODELS.md: four 3x3
convolutions 16-32-64-128 with ReLU, 2x2 max pooling after the first three,
global average pooling, fc 128-64-2), batch 64 of 1x128x128, softmax
cross-entropy, SGD with momentum 0.9 and weight decay 1e-4; TF32 off, as on
Tandem's exact path. Prints one JSON line: samples per second, the median of
five rounds after warm-up.
"""
import json
import statistics
import sys
import time

import torch
from torch import nn

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
batch, side = 64, 128
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = torch.device("cuda")

model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 2),
).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
loss = nn.CrossEntropyLoss()
x = torch.rand(batch, 1, side, side, device=device)
y = torch.randint(0, 2, (batch,), device=device)


def step():
    optimizer.zero_grad(set_to_none=True)
    loss(model(x), y).backward()
    optimizer.step()


for _ in range(10):
    step()
rounds = []
for _ in range(5):
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    rounds.append(steps * batch / (time.perf_counter() - start))
print(json.dumps({"bench": "pytorch xray-cnn train step", "device": torch.cuda.get_device_name(0),
                  "torch": torch.__version__, "batch": batch, "steps": steps,
                  "samples_per_second": round(statistics.median(rounds), 1)}))
