"""Reference student loader in PyTorch, built the way FKD's own loader is built.

torchvision ImageFolder with its PIL loader decodes each image once per visit; the stored
boxes of that image (exported from an fkd label store by bench/run.js) are replayed with
torchvision.transforms.functional.resized_crop (bilinear, antialias) plus the stored
horizontal flip, then to_tensor and normalize; a DataLoader with 2 worker processes
batches them. Prints one JSON line: crops per second over the timed epochs.

Bench only: the tests never need Python. Needs Debian's python3-torch, python3-torchvision
and python3-pil (run with /usr/bin/python3).

usage: python3 bench/pytorch_loader.py BOXES.json [--epochs 2] [--workers 2] [--batch-images 32]
"""
import argparse
import json
import os
import sys
import time

import torch
import torchvision.transforms.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import ImageFolder
from torchvision.transforms import InterpolationMode


class StoredCrops(Dataset):
    """One item per image: its stored crops, rendered and normalised, as a (crops, 3, size, size) tensor."""

    def __init__(self, root, paths, boxes, size, mean, std):
        self.folder = ImageFolder(root)
        found = [os.path.relpath(path, root).replace(os.sep, "/") for path, _ in self.folder.samples]
        if found != paths:
            raise SystemExit(f"ImageFolder order differs from the label store's ({len(found)} vs {len(paths)} images)")
        self.boxes = boxes
        self.size = [size, size]
        self.mean = mean
        self.std = std

    def __len__(self):
        return len(self.folder)

    def __getitem__(self, index):
        image, target = self.folder[index]
        crops = []
        for top, left, height, width, flip in self.boxes[index]:
            crop = F.resized_crop(image, top, left, height, width, self.size, interpolation=InterpolationMode.BILINEAR, antialias=True)
            if flip:
                crop = F.hflip(crop)
            crops.append(F.normalize(F.to_tensor(crop), self.mean, self.std))
        return torch.stack(crops), target


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("boxes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-images", type=int, default=32)
    args = parser.parse_args()
    with open(args.boxes) as handle:
        spec = json.load(handle)
    dataset = StoredCrops(spec["root"], spec["paths"], spec["boxes"], spec["size"], spec["mean"], spec["std"])
    torch.set_num_threads(1)
    loader = DataLoader(dataset, batch_size=args.batch_images, shuffle=True, num_workers=args.workers, persistent_workers=True, generator=torch.Generator().manual_seed(0))
    # Warm-up epoch, untimed: starts the worker processes and reads the files once, as the fkd arm does.
    for _ in loader:
        pass
    crops = 0
    started = time.perf_counter()
    for _ in range(args.epochs):
        for images, _targets in loader:
            crops += images.shape[0] * images.shape[1]
    seconds = time.perf_counter() - started
    print(json.dumps({
        "cropsPerSec": crops / seconds,
        "crops": crops,
        "seconds": seconds,
        "workers": args.workers,
        "batchCrops": args.batch_images * len(spec["boxes"][0]),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    sys.exit(main())
