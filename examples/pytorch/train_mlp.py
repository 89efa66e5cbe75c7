#!/usr/bin/env python3
"""A deep ReLU MLP trained with PyTorch, watched by Layerwise.

    python3 examples/pytorch/train_mlp.py            # writes runs/deep-mlp.layerwise.jsonl
    layerwise watch runs/deep-mlp.layerwise.jsonl     # or open it in VS Code: the panel shows it live

With PyTorch's default nn.Linear init (Var(W) = 1/(3·fan_in)) the signal shrinks about six-fold at
every ReLU layer, so the deep layers see almost nothing and barely learn: Layerwise flags the layer
where it vanishes, with the init that fixes it. `--fix` applies that init (kaiming_normal_) instead.
Every 50 steps it also measures the loss's sharpness λmax against the divergence threshold of SGD
with momentum, (2 + 2·0.9)/lr = 76: about 0.4 and flat with the default init; with `--fix` it rises
towards the threshold (to ~54 by step 100) and falls back as the loss drops.
Runs on a CPU in a few seconds; `--ddp 2` runs the same on two gloo processes (each half a batch).
"""
import argparse
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import layerwise_torch  # noqa: E402  (pip install ./python makes this path unneeded)


def make_model(depth, width, fix):
    layers, fan_in = [], 32
    for _ in range(depth):
        lin = nn.Linear(fan_in, width)
        if fix:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 4))
    return nn.Sequential(*layers)


def data(steps, batch):
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(32, 4, generator=g)
    for _ in range(steps):
        x = torch.randn(batch, 32, generator=g)
        yield x, (x @ teacher).argmax(1)


def train(args, rank=0, world=1):
    torch.manual_seed(1)
    model = make_model(args.depth, args.width, args.fix)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    with layerwise_torch.watch(model, opt, args.log, every=args.every, name="deep-mlp",
                               clip={"mode": "norm", "max": 1.0}, sharpness_every=args.sharpness_every) as run:
        for step, (x, y) in enumerate(data(args.steps, args.batch)):
            if world > 1:
                half = x.shape[0] // world
                x, y = x[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            run.step(loss)
            if rank == 0 and step % 100 == 0:
                print(f"step {step}: loss {loss.item():.3f}")
    if rank == 0:
        print(f"log: {args.log}")


def ddp_worker(rank, args):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{os.path.abspath(args.log)}.rdzv", rank=rank,
                            world_size=args.ddp)
    try:
        train(args, rank, args.ddp)
    finally:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", default="runs/deep-mlp.layerwise.jsonl", help="the training log to write (default: %(default)s)")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default: %(default)s)")
    p.add_argument("--every", type=int, default=1, help="log every K-th step (default: %(default)s)")
    p.add_argument("--depth", type=int, default=12, help="Linear layers (default: %(default)s)")
    p.add_argument("--width", type=int, default=64, help="units of each hidden layer (default: %(default)s)")
    p.add_argument("--batch", type=int, default=128, help="samples a step, over all processes (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate of SGD with momentum 0.9 (default: %(default)s)")
    p.add_argument("--sharpness-every", type=int, default=50, help="λmax every K steps (0: none)")
    p.add_argument("--fix", action="store_true", help="initialise with kaiming_normal_ (the fix Layerwise suggests)")
    p.add_argument("--ddp", type=int, default=1, help="processes (gloo, CPU)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.ddp > 1:
        # the processes meet through a file next to the log: its directory must exist first (gloo
        # waits for ever on a file it cannot create)
        os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
        if os.path.exists(args.log + ".rdzv"):
            os.remove(args.log + ".rdzv")
        torch.multiprocessing.spawn(ddp_worker, args=(args,), nprocs=args.ddp, join=True)
    else:
        train(args)


if __name__ == "__main__":
    main()
