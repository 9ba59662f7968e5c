"""Two DDP ranks (gloo, CPU): disjoint images that together cover the epoch."""

import os
import socket
import sys

import torch.distributed as dist
import torch.multiprocessing as mp

from conftest import IMAGES, PYTHON, STORE


def rank_main(rank, world_size, port, out):
    sys.path.insert(0, str(PYTHON))
    import fkd.torch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    # rank and world_size come from torch.distributed, not from arguments.
    loader = fkd.torch.Loader(IMAGES, STORE, batch_size=6, size=12, shuffle=4, epoch=1, workers=1, pin_memory=False)
    images = set()
    steps = 0
    for batch in loader:
        images.update(m["image_index"] for m in batch.meta)
        steps += 1
    assert steps == len(loader)
    gathered = [None] * world_size
    dist.all_gather_object(gathered, sorted(images))
    if rank == 0:
        out.put(gathered)
    loader.close()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_see_disjoint_images_covering_the_epoch():
    context = mp.get_context("spawn")
    out = context.Queue()
    mp.start_processes(rank_main, args=(2, free_port(), out), nprocs=2, join=True, start_method="spawn")
    first, second = out.get(timeout=10)
    assert first and second
    assert not set(first) & set(second)
    assert sorted(first + second) == list(range(24))
