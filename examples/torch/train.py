"""FKD's training loop on fkd batches: a torchvision student learns from stored soft labels.

    # one process (CPU or one GPU)
    python3 examples/torch/train.py --data train --labels labels --model resnet18 --epochs 4
    # DDP: one fkd serve per rank, started by each rank's loader
    torchrun --nproc_per_node 8 examples/torch/train.py --data train --labels labels --model resnet50 --batch-size 1024

The loss is FKD's soft cross-entropy, -sum(p_teacher * log_softmax(student)), against the
stored targets; an image's crops arrive in the same batch (batch size in crops, a multiple of
the store's crops per image). Batches come as uint8 NCHW and are normalised on the device.
SGD with a per-step cosine schedule; Mixup/CutMix from the loader's mix (targets arrive mixed);
AMP on CUDA. Checkpoints hold the loader's position, so --resume continues mid-epoch with the
batches an uninterrupted run would have seen.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import fkd.torch  # noqa: E402


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="ImageFolder root the labels were made from")
    parser.add_argument("--labels", required=True, help="fkd label store (folder or s3:// URL)")
    parser.add_argument("--model", default="resnet18", help="torchvision model name (resnet18, resnet50, mobilenet_v3_small, ...)")
    parser.add_argument("--epochs", type=int, default=4, help="student epochs (FKD counts each data pass as 4 when it has 4 crops per image)")
    parser.add_argument("--batch-size", type=int, default=256, help="crops per batch and rank")
    parser.add_argument("--size", type=int, default=224, help="crop side in pixels")
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate of the cosine schedule")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--mix", choices=["mixup", "cutmix", "both"], help="Mixup / CutMix in the loader")
    parser.add_argument("--mix-alpha", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="shuffle and mix seed")
    parser.add_argument("--workers", type=int, help="render threads of each rank's server")
    parser.add_argument("--checkpoint", help="file to save to (every --save-every steps and after each epoch)")
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint, mid-epoch if it was saved there")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps in all (smoke tests)")
    return parser.parse_args()


def setup():
    """rank, world size and device; DDP when started by torchrun."""
    if "RANK" in os.environ:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def main():
    args = arguments()
    torch.manual_seed(args.seed)
    device = setup()
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    mix = {"mode": args.mix, "alpha": args.mix_alpha, "seed": args.seed} if args.mix else None
    # uint8 NCHW: a quarter of float32's bytes through the ring and the host-to-device copy.
    # drop_last keeps every rank at the same step count, so DDP's all-reduces line up.
    loader = fkd.torch.Loader(args.data, args.labels, args.batch_size, size=args.size, dtype="uint8", layout="nchw",
                              shuffle=args.seed, drop_last=distributed, mix=mix, workers=args.workers)
    if args.batch_size % loader._server.ready["crops"]:
        print(f"note: batch size {args.batch_size} is not a multiple of {loader._server.ready['crops']} crops per image: some images' crops span two batches", file=sys.stderr)
    mean = torch.tensor(loader.normalization["mean"], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(loader.normalization["std"], device=device).view(1, 3, 1, 1) * 255

    model = getattr(torchvision.models, args.model)(num_classes=loader.num_classes).to(device)
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    total = args.epochs * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total))))
    amp = device.type == "cuda"
    scaler = torch.cuda.amp.GradScaler(enabled=amp)

    start_epoch = 0
    if args.resume and args.checkpoint and os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint, map_location=device)
        (model.module if distributed else model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        loader.load_state_dict(state["loader"])
        start_epoch = state["loader"]["epoch"]

    def save():
        if rank != 0 or not args.checkpoint:
            return
        state = {"model": (model.module if distributed else model).state_dict(), "optimizer": optimizer.state_dict(),
                 "schedule": schedule.state_dict(), "scaler": scaler.state_dict(), "loader": loader.state_dict()}
        torch.save(state, args.checkpoint + ".tmp")
        os.replace(args.checkpoint + ".tmp", args.checkpoint)

    steps = 0
    model.train()
    for epoch in range(start_epoch, args.epochs):
        if epoch != start_epoch or not args.resume:
            loader.set_epoch(epoch)
        began = time.monotonic()
        for batch in loader:
            images = batch.images.to(device, non_blocking=True).float().sub_(mean).div_(std)
            targets = batch.targets.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, enabled=amp):
                logits = model(images)
            loss = -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            steps += 1
            if rank == 0:
                print(json.dumps({"epoch": epoch, "batch": batch.source.index, "loss": round(loss.item(), 6), "lr": schedule.get_last_lr()[0]}), flush=True)
            if steps % args.save_every == 0:
                save()
            if args.max_steps and steps >= args.max_steps:
                save()
                loader.close()
                return
        if rank == 0:
            print(json.dumps({"epoch": epoch, "seconds": round(time.monotonic() - began, 3)}), flush=True)
        save()
    loader.close()
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
