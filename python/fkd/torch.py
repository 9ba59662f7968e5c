"""``fkd.torch.Loader``: the same batches as torch tensors, pinned for a fast copy to the GPU."""

import torch
import torch.distributed as dist

from . import loader as _loader

TORCH_DTYPES = {"uint8": torch.uint8, "float32": torch.float32}


class Batch:
    """Tensors of one batch: ``images``, ``targets`` [N, C], ``classes`` (int64) and ``probs`` [N, k], and ``meta`` (see fkd.Batch)."""

    def __init__(self, images, targets, classes, probs, source):
        self.images = images
        self.targets = targets
        self.classes = classes
        self.probs = probs
        self.source = source

    @property
    def meta(self):
        return self.source.meta

    def __len__(self):
        return len(self.images)


class Loader(_loader.Loader):
    """``fkd.Loader`` yielding torch tensors.

    Rank and world size default to torch.distributed's when it is initialised; pass
    ``drop_last=True`` under DDP so every rank takes the same number of steps. With
    ``pin_memory`` (default: when CUDA is available) each batch is copied once into page-locked
    memory, so ``.to("cuda", non_blocking=True)`` overlaps the copy with compute; the tensors
    are then yours and the ring slot goes back at once. Without it they are views of the ring
    and follow the loader's lifetime rule (valid until you ask for the batch two after it).
    """

    def __init__(self, data, labels, batch_size, pin_memory=None, **options):
        if dist.is_available() and dist.is_initialized():
            options.setdefault("rank", dist.get_rank())
            options.setdefault("world_size", dist.get_world_size())
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        super().__init__(data, labels, batch_size, **options)

    def __iter__(self):
        owned = self.pin_memory or self._copy
        return self._iterate(hold=0 if owned else 2, make=self._tensors)

    def _tensors(self, message):
        # Owned tensors: the slot goes back as soon as this returns, so provenance is copied too.
        batch = self._batch(message, copy_columns=self.pin_memory)
        images, targets, probs = (torch.from_numpy(array) for array in (batch.images, batch.targets, batch.probs))
        if self.pin_memory:
            images, targets, probs = (tensor.pin_memory() for tensor in (images, targets, probs))
        # torch has no uint32: class ids become int64 (a small copy).
        classes = torch.from_numpy(batch.classes.astype("int64"))
        return Batch(images, targets, classes, probs, batch)
