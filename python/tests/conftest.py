import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON = Path(__file__).resolve().parents[1]
ROOT = PYTHON.parent
sys.path.insert(0, str(PYTHON))

IMAGES = str(ROOT / "fixtures" / "images")
STORE = str(ROOT / "fixtures" / "reference-store")


@pytest.fixture(scope="session", autouse=True)
def built():
    if not (ROOT / "dist" / "cli" / "main.js").is_file():
        pytest.fail("fkd is not built: run `npm run build` at the repository root first")


def node_batches(**options):
    """Digests of the batches the in-process Node loader yields (createLoader option names)."""
    options = {"data": IMAGES, "labels": STORE, **options}
    out = subprocess.run([os.environ.get("FKD_NODE", "node"), str(Path(__file__).with_name("node_batches.mjs")), json.dumps(options)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def sha(array):
    return hashlib.sha256(array.tobytes()).hexdigest()


def digests(batch):
    """The same digests for a client batch (numpy arrays)."""
    return {
        "images": sha(batch.images),
        "targets": sha(batch.targets),
        "classes": sha(batch.classes),
        "probs": sha(batch.probs),
        "imageIndex": [int(v) for v in batch.image_index],
        "boxes": [[int(v) for v in box] + [int(flip)] for box, flip in zip(batch.boxes, batch.flips)],
        "mix": [[int(p), float(l)] if k else None for k, p, l in zip(batch.mix_kind, batch.mix_partner, batch.mix_lambda)],
    }
