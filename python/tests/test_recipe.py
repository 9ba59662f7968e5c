"""examples/torch/train.py: the loss falls on the fixture, and a checkpoint resumes mid-epoch."""

import json
import subprocess
import sys

from conftest import IMAGES, ROOT, STORE

RECIPE = str(ROOT / "examples" / "torch" / "train.py")
COMMON = ["--data", IMAGES, "--labels", STORE, "--model", "resnet18", "--batch-size", "24", "--size", "64", "--workers", "1", "--lr", "0.02"]


def steps(*extra):
    out = subprocess.run([sys.executable, RECIPE, *COMMON, *extra], check=True, capture_output=True, text=True).stdout
    return [line for line in map(json.loads, out.splitlines()) if "loss" in line]


def test_the_loss_falls_within_a_few_steps():
    losses = [step["loss"] for step in steps("--epochs", "6")]
    assert len(losses) == 18
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.85 * first, f"loss went from {first:.3f} to {last:.3f}: {losses}"


def test_a_checkpoint_resumes_at_the_next_batch(tmp_path):
    checkpoint = str(tmp_path / "student.pt")
    before = steps("--epochs", "2", "--checkpoint", checkpoint, "--max-steps", "2")
    assert [(s["epoch"], s["batch"]) for s in before] == [(0, 0), (0, 1)]
    after = steps("--epochs", "2", "--checkpoint", checkpoint, "--resume")
    assert [(s["epoch"], s["batch"]) for s in after] == [(0, 2), (1, 0), (1, 1), (1, 2)]
