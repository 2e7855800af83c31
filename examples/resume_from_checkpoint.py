"""Resume a training run from a checkpoint in a fresh process, with exactly the batches it would have seen.

One object holds everything a run needs to continue — the pipeline (shuffler permutation, epoch and cursor),
the augmentation's random generator, the model and the optimiser — and exposes ``state_dict`` /
``load_state_dict``, so ``save_checkpoint`` / ``load_checkpoint`` capture and restore it (atomically, no
pickle). Run it three ways:

    python examples/resume_from_checkpoint.py --checkpoint run.ckpt --stop-after 20  # trains 20 steps, stops
    python examples/resume_from_checkpoint.py --checkpoint run.ckpt                  # resumes at step 20
    python examples/resume_from_checkpoint.py                                        # does both, and checks
                                                                                     # they match one
                                                                                     # uninterrupted run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fireworks import Source, load_checkpoint, save_checkpoint
from fireworks.datasets import load_digits


class AddNoise:
    """Batch-level augmentation with its own seeded generator (its state is part of the checkpoint)."""

    def __init__(self, std: float, seed: int) -> None:
        self.std = std
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, batch: Any) -> Any:
        noise = self.std * torch.randn(batch["image"].shape, generator=self.generator)
        return batch.merge({"image": batch["image"] + noise})


class TrainingRun:
    """Pipeline + augmentation + model + optimiser + step counter, checkpointable as one."""

    def __init__(self, seed: int, batch_size: int) -> None:
        torch.manual_seed(seed)
        self.noise = AddNoise(0.1, seed)
        digits = load_digits(images=True)
        self.batches = Source(digits).shuffle(seed=seed).batch(batch_size).map(self.noise)
        self.model = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        )
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        self.step = 0

    def next_batch(self) -> Any:
        try:
            return next(self.batches)
        except StopIteration:  # end of an epoch: reset() starts the next with a new permutation
            self.batches.reset()
            return next(self.batches)

    def train_step(self) -> tuple[str, float]:
        batch = self.next_batch()
        self.optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(self.model(batch["image"]), batch["label"])
        loss.backward()
        self.optimiser.step()
        self.step += 1
        digest = hashlib.sha1(batch["image"].numpy().tobytes() + batch["label"].numpy().tobytes())
        return digest.hexdigest()[:12], loss.item()

    def state_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.batches.state_dict(),
            "noise": self.noise.generator.get_state(),
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state["pipeline"])
        self.noise.generator.set_state(state["noise"])
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.step = int(state["step"])


def weights_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha1()
    for tensor in model.state_dict().values():
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()[:12]


def train(
    steps: int, seed: int, batch_size: int, checkpoint: Path | None, stop_after: int | None
) -> dict:
    """Train to ``steps``, resuming from ``checkpoint`` when it exists; returns the batches seen and weights."""
    run = TrainingRun(seed, batch_size)
    if checkpoint is not None and checkpoint.exists():
        load_checkpoint(run, checkpoint)
        print(f"resumed from {checkpoint} at step {run.step}")
    seen = []
    while run.step < steps:
        digest, loss = run.train_step()
        seen.append(digest)
        print(f"step {run.step:3d}  batch {digest}  loss {loss:.4f}")
        if stop_after is not None and run.step == stop_after:
            assert checkpoint is not None
            save_checkpoint(run, checkpoint)
            print(f"saved a checkpoint at step {run.step} to {checkpoint}; stopping")
            break
    result = {
        "first_step": run.step - len(seen),
        "batches": seen,
        "weights": weights_digest(run.model),
    }
    print(json.dumps(result))
    return result


def check(steps: int, stop_after: int, seed: int, batch_size: int) -> bool:
    """Interrupted + resumed in two fresh processes == one uninterrupted run (batches and final weights)."""
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = str(Path(tmp) / "run.ckpt")
        common = [sys.executable, __file__, "--steps", str(steps), "--seed", str(seed)]
        common += ["--batch-size", str(batch_size), "--checkpoint", ckpt]
        parts = []
        for extra in (["--stop-after", str(stop_after)], []):
            out = subprocess.run(common + extra, capture_output=True, text=True, check=True).stdout
            parts.append(json.loads(out.strip().splitlines()[-1]))
    whole = train(steps, seed, batch_size, None, None)
    same = parts[0]["batches"] + parts[1]["batches"] == whole["batches"]
    same = same and parts[1]["weights"] == whole["weights"]
    print("identical to the uninterrupted run" if same else "MISMATCH with the uninterrupted run")
    return same


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=60, help="training steps in all (~56 per epoch)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="resume from / save to this file"
    )
    parser.add_argument("--stop-after", type=int, default=None, help="save and stop at this step")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.checkpoint is None:
        stop = args.stop_after if args.stop_after is not None else args.steps // 3
        return 0 if check(args.steps, stop, args.seed, args.batch_size) else 1
    train(args.steps, args.seed, args.batch_size, args.checkpoint, args.stop_after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
