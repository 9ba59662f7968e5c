"""``fkd.Loader``: numpy batches from an ``fkd serve`` process, mirroring createLoader's options."""

import os
from collections import deque

import numpy as np

from .errors import FkdError
from .server import Server

# snake_case argument -> createLoader option. Arguments left at None are not sent, so fkd's own defaults apply.
OPTION_NAMES = {
    "batch_size": "batchSize",
    "size": "size",
    "dtype": "dtype",
    "layout": "layout",
    "shuffle": "shuffle",
    "drop_last": "dropLast",
    "mix": "mix",
    "target": "target",
    "temperature": "temperature",
    "rank": "rank",
    "world_size": "worldSize",
    "workers": "workers",
    "decoder": "decoder",
    "on_error": "onError",
    "interpolation": "interpolation",
    "prefetch": "prefetch",
    "concurrency": "concurrency",
    "memory": "memory",
}

MIX_KINDS = {1: "mixup", 2: "cutmix"}


class Batch:
    """One batch. Arrays are views of the shared ring unless the loader copies (see ``Loader``).

    images: uint8 or float32, [N, S, S, 3] (nhwc) or [N, 3, S, S] (nchw)
    targets: float32 [N, C], the dense soft targets
    classes, probs: the sparse top-k rows, [N, k] (uint32 class ids, float32 probabilities)
    image_index, class_index, crop: uint32 [N]; boxes: uint32 [N, 4] (top, left, height, width
    in the source image's pixels); flips: uint8 [N]; mix_kind (0 none, 1 Mixup, 2 CutMix),
    mix_partner, mix_lambda, mix_boxes: what the mix stage did to each sample.
    """

    def __init__(self, epoch, index, paths, arrays):
        self.epoch = epoch
        self.index = index
        self.paths = paths
        for name, array in arrays.items():
            setattr(self, name, array)
        self._meta = None

    def __len__(self):
        return len(self.images)

    @property
    def meta(self):
        """One dict per sample: image index, path, box, flip, folder class, crop, and mix when mixed."""
        if self._meta is None:
            meta = []
            for i in range(len(self.images)):
                top, left, height, width = (int(v) for v in self.boxes[i])
                sample = {
                    "image_index": int(self.image_index[i]),
                    "path": self.paths[int(self.image_index[i])],
                    "class_index": int(self.class_index[i]),
                    "crop": int(self.crop[i]),
                    "box": {"top": top, "left": left, "height": height, "width": width},
                    "flip": bool(self.flips[i]),
                }
                kind = int(self.mix_kind[i])
                if kind:
                    mix = {"kind": MIX_KINDS[kind], "partner": int(self.mix_partner[i]), "lambda": float(self.mix_lambda[i])}
                    if kind == 2:
                        mix["box"] = dict(zip(("top", "left", "height", "width"), (int(v) for v in self.mix_boxes[i])))
                    sample["mix"] = mix
                meta.append(sample)
            self._meta = meta
        return self._meta


def _location(path):
    path = os.fspath(path)
    return path if "://" in path else os.path.abspath(path)


class Loader:
    """Batches of (crop, stored soft label) for one rank and epoch, streamed by ``fkd serve``.

    Arguments mirror createLoader in snake_case; ``mix`` and ``target`` are dicts with
    createLoader's fields (``{"mode": "cutmix", "alpha": 1.0}``). Iterating runs epoch
    ``epoch`` (set it with ``set_epoch``); ``start_batch`` resumes mid-epoch, and
    ``state_dict()`` / ``load_state_dict()`` carry the position.

    Lifetime rule (the loader's): a batch's arrays stay valid until you ask for the batch two
    after it; ``copy=True`` yields arrays you own instead. ``slots`` is the ring's size (>= 3):
    two batches you may hold, the rest filled ahead by the server.
    """

    def __init__(self, data, labels, batch_size, size=None, epoch=0, dtype=None, layout=None, shuffle=None, drop_last=None, mix=None,
                 target=None, temperature=None, rank=None, world_size=None, workers=None, decoder=None, on_error=None, start_batch=0,
                 interpolation=None, prefetch=None, concurrency=None, memory=None, slots=4, copy=False, shm_dir=None):
        given = dict(batch_size=batch_size, size=size, dtype=dtype, layout=layout, shuffle=shuffle, drop_last=drop_last, mix=mix, target=target,
                     temperature=temperature, rank=rank, world_size=world_size, workers=workers, decoder=decoder, on_error=on_error,
                     interpolation=interpolation, prefetch=prefetch, concurrency=concurrency, memory=memory)
        self.options = {"data": _location(data), "labels": _location(labels)}
        self.options.update({OPTION_NAMES[key]: value for key, value in given.items() if value is not None})
        self.epoch = epoch
        self._start_batch = start_batch
        self._position = start_batch
        self._copy = copy
        self._server = Server(self.options, slots, shm_dir)
        self._running = False
        ready = self._server.ready
        self.num_classes = ready["numClasses"]
        self.classes = ready["classes"]
        self.normalization = ready["normalization"]

    def __len__(self):
        """Batches per epoch for this rank when every image is readable (``onError: 'skip'`` can give fewer)."""
        return self._server.ready["batches"]

    def set_epoch(self, epoch):
        """The epoch the next iteration streams, from its first batch."""
        self.epoch = epoch
        self._start_batch = 0
        self._position = 0

    def state_dict(self):
        """Where training is: the epoch and the next batch to yield. Save it with the model."""
        return {"epoch": self.epoch, "batch": self._position}

    def load_state_dict(self, state):
        """The next iteration resumes at ``state``: batches identical to those an uninterrupted run would have yielded."""
        self.epoch = int(state["epoch"])
        self._start_batch = int(state["batch"])
        self._position = self._start_batch

    def __iter__(self):
        return self._iterate(hold=0 if self._copy else 2, make=self._batch)

    def _iterate(self, hold, make):
        """Yields ``make(message)`` per batch; releases a slot once ``hold`` newer batches were yielded."""
        server = self._server
        if self._running:
            raise FkdError("E_USAGE", "This loader is already being iterated; finish or close that iteration first")
        start = self._start_batch
        self._start_batch = 0
        self._position = start
        server.send({"type": "epoch", "epoch": self.epoch, "startBatch": start})
        self._running = True
        held = deque()
        try:
            while True:
                message = server.receive()
                kind = message.get("type")
                if kind == "batch":
                    batch = make(message)
                    held.append(message["slot"])
                    while len(held) > hold:
                        server.release(held.popleft())
                    self._position = message["index"] + 1
                    yield batch
                elif kind == "end":
                    self._running = False
                    return
                elif kind == "error":
                    self._running = False
                    raise FkdError(message.get("code", "E_PROTOCOL"), message.get("message", ""))
                else:
                    raise FkdError("E_PROTOCOL", f"Unexpected message from fkd serve: {message!r}")
        finally:
            if self._running:
                self._running = False
                self._stop()

    def _stop(self):
        """Ends an epoch left early: every slot is free again once the server says ``stopped``."""
        server = self._server
        server.send({"type": "stop"})
        while server.receive().get("type") != "stopped":
            pass

    def _batch(self, message, copy_columns=False):
        """The batch of a ``batch`` message; with ``copy_columns`` everything but images and targets is copied (the caller copies those)."""
        server = self._server
        ready = server.ready
        slot, n, width = message["slot"], message["size"], message["width"]
        side = ready["imageSize"]
        shape = (n, side, side, 3) if ready["layout"] == "nhwc" else (n, 3, side, side)
        arrays = {
            "images": server.view(slot, "images", n).reshape(shape),
            "targets": server.view(slot, "dense", n).reshape(n, ready["numClasses"]),
            "classes": server.view(slot, "classes", n)[: n * width].reshape(n, width),
            "probs": server.view(slot, "probs", n)[: n * width].reshape(n, width),
            "image_index": server.view(slot, "imageIndex", n),
            "class_index": server.view(slot, "classIndex", n),
            "crop": server.view(slot, "crop", n),
            "boxes": server.view(slot, "box", n).reshape(n, 4),
            "flips": server.view(slot, "flip", n),
            "mix_kind": server.view(slot, "mixKind", n),
            "mix_partner": server.view(slot, "mixPartner", n),
            "mix_lambda": server.view(slot, "mixLambda", n),
            "mix_boxes": server.view(slot, "mixBox", n).reshape(n, 4),
        }
        if self._copy or copy_columns:
            arrays = {name: array if copy_columns and not self._copy and name in ("images", "targets") else np.array(array) for name, array in arrays.items()}
        return Batch(message["epoch"], message["index"], dict(message["paths"]), arrays)

    def close(self):
        """Stops the server and removes its ring. Batches you hold become invalid."""
        self._server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        server = getattr(self, "_server", None)
        if server is not None:
            try:
                server.close()
            except Exception:  # noqa: BLE001 - at interpreter exit modules may already be gone; the server exits on stdin's end anyway
                pass
