"""The Python arm of `npm run bench`: crops/s held as torch tensors from fkd.torch.Loader.

Prints one JSON line: cropsPerSec over --epochs epochs (after one untimed warm-up epoch), the
client's own CPU per batch (process time: unpacking, views, torch wrapping; the server's
decoding is another process), and, with --memory-epochs, the server's RSS after epochs 1, 5, 20.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import fkd.torch  # noqa: E402


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--dtype", default="uint8")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--memory-epochs", type=int, default=0)
    args = parser.parse_args()
    loader = fkd.torch.Loader(args.data, args.labels, args.batch_size, size=args.size, dtype=args.dtype, layout="nchw",
                              workers=args.workers, pin_memory=False)
    for batch in loader:  # warm-up: server start, render threads, page faults of the ring
        batch.images.sum()
    crops = batches = 0
    cpu = 0.0
    started = time.perf_counter()
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        iterator = iter(loader)
        while True:
            before = time.process_time()
            try:
                batch = next(iterator)
            except StopIteration:
                break
            cpu += time.process_time() - before
            # Held: the consumer reads the tensor (one value per crop), as a training step's copy to the device would.
            batch.images[:, 0, 0, 0].sum()
            crops += len(batch)
            batches += 1
    seconds = time.perf_counter() - started
    rss = {}
    if args.memory_epochs:
        pid = loader._server.process.pid
        for epoch in range(1, args.memory_epochs + 1):
            loader.set_epoch(epoch)
            for batch in loader:
                pass
            if epoch in (1, 5, 20):
                rss[str(epoch)] = rss_mb(pid)
    loader.close()
    print(json.dumps({"cropsPerSec": crops / seconds, "crops": crops, "batches": batches, "clientCpuMsPerBatch": 1000 * cpu / max(1, batches), "serverRssAfterEpochMB": rss}))


if __name__ == "__main__":
    main()
