"""The PyTorch side of Scripts/bench-peers.sh: trains churn-mlp or xray-cnn as
Tandem builds them (Sources/TandemNN/ReferenceModels.swift) on the train
split of the same Tandem HDF5 dataset, prepared as Tandem prepares it, and
prints samples/s over STEPS steps after WARMUP (time.perf_counter around
the steps; each step gathers its batch, runs forward, backward and the SGD
update). With RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, each
process trains its share of the global batch under DistributedDataParallel
on gloo, and rank 0 prints.
Usage: peers_torch.py churn-mlp|xray-cnn DATASET.h5 GLOBAL_BATCH WARMUP STEPS THREADS"""
import datetime, os, sys, time

import h5py
import numpy as np
import torch
from torch import nn

model_name, path = sys.argv[1], sys.argv[2]
batch, warmup, steps, threads = map(int, sys.argv[3:7])
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
if world > 1:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    # A rank that dies must not leave the other waiting for gloo's default 30 minutes.
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
assert batch % world == 0, "the global batch must split evenly over the processes"
local = batch // world
torch.manual_seed(1)

with h5py.File(path, "r") as f:
    train = f["/split"][:] == 0
    labels = f["/labels"][:][train]
    if model_name == "churn-mlp":
        # Tandem standardises the whole table once, in memory, before the first step.
        features = (f["/features"][:][train] - f["/feature_mean"][:]) / f["/feature_std"][:]
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        y = torch.from_numpy(labels.astype(np.float32))
    else:
        # Pixels stay uint8 and are normalised per batch, as Tandem's batch reader does.
        x = torch.from_numpy(f["/images"][:][train])
        pixel_mean, pixel_std = float(f.attrs["pixel_mean"]), float(f.attrs["pixel_std"])
        y = torch.from_numpy(labels.astype(np.int64))

if model_name == "churn-mlp":
    model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))
    loss_fn, learning_rate = nn.BCEWithLogitsLoss(), 0.05 * batch / 256
else:
    def conv(cin, cout): return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*conv(1, 16), nn.MaxPool2d(2), *conv(16, 32), nn.MaxPool2d(2), *conv(32, 64), nn.MaxPool2d(2),
                          *conv(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 2))
    model = model.to(memory_format=torch.channels_last)
    loss_fn, learning_rate = nn.CrossEntropyLoss(), 0.01 * batch / 64
for m in model.modules():
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)
if model_name == "xray-cnn":
    assert sum(p.numel() for p in model.parameters()) == 105538, "not Tandem's xray-cnn"
if world > 1:
    model = DistributedDataParallel(model)
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9, weight_decay=1e-4)

# Every process draws the same order and takes its contiguous share of each
# global batch, as Tandem's shard plan does; a new order each epoch.
generator = torch.Generator().manual_seed(1)
order, position, losses = torch.randperm(len(y), generator=generator), 0, []


def step():
    global order, position
    if position + batch > len(y):
        order, position = torch.randperm(len(y), generator=generator), 0
    rows = order[position + rank * local:position + (rank + 1) * local]
    position += batch
    xb, yb = x.index_select(0, rows), y.index_select(0, rows)
    if model_name == "xray-cnn":
        xb = ((xb.float() / 255 - pixel_mean) / pixel_std).unsqueeze(1).contiguous(memory_format=torch.channels_last)
    optimizer.zero_grad(set_to_none=True)
    out = model(xb)
    loss = loss_fn(out.squeeze(1), yb) if model_name == "churn-mlp" else loss_fn(out, yb)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())  # Tandem reads every step's loss too (logged, checked finite)


for _ in range(warmup):
    step()
if world > 1:
    dist.barrier()
start = time.perf_counter()
for _ in range(steps):
    step()
if world > 1:
    dist.barrier()
seconds = time.perf_counter() - start
if rank == 0:
    print(f"{batch * steps / seconds:.3f}")
if world > 1:
    dist.destroy_process_group()
