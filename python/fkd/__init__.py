"""fkd's Python client: batches of stored FKD soft labels from ``fkd serve``, through shared memory.

    import fkd
    for batch in fkd.Loader(data="train", labels="labels", batch_size=256, size=224, dtype="uint8"):
        batch.images   # numpy uint8 [N, 224, 224, 3], a view of the shared ring
        batch.targets  # numpy float32 [N, C]

``fkd.torch.Loader`` yields torch tensors. See README "Training in PyTorch".
"""

from .errors import FkdError
from .loader import Batch, Loader

__all__ = ["Batch", "FkdError", "Loader"]
