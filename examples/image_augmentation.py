"""Images with augmentation: the 8x8 handwritten digits, random shifts and noise per batch, a small CNN.

Augmentation is one vectorised ``map`` over whole batches: every image gets its own random shift (up to
``--shift`` pixels each way, zero-filled) through a single gather, plus Gaussian noise. The map owns a seeded
``torch.Generator`` and exposes ``state_dict`` so a checkpoint of the pipeline resumes the same augmentations.

    python examples/image_augmentation.py             # ~15 s
    python examples/image_augmentation.py --epochs 2  # quicker
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import torch

from fireworks import Message, Source, train_test_split
from fireworks.datasets import load_digits


class RandomShiftNoise:
    """Shift each image by its own random (dy, dx) in ``[-shift, shift]`` and add N(0, noise²) noise."""

    def __init__(self, shift: int = 1, noise: float = 0.05, seed: int = 0) -> None:
        self.shift, self.noise = shift, noise
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, batch: Message) -> Message:
        images = batch["image"]
        n, h, w = images.shape
        s = self.shift
        padded = torch.nn.functional.pad(images, (s, s, s, s))
        dy = torch.randint(0, 2 * s + 1, (n, 1, 1), generator=self.generator)
        dx = torch.randint(0, 2 * s + 1, (n, 1, 1), generator=self.generator)
        rows = torch.arange(h).view(1, h, 1) + dy
        cols = torch.arange(w).view(1, 1, w) + dx
        shifted = padded[torch.arange(n).view(n, 1, 1), rows, cols]
        noisy = shifted + self.noise * torch.randn(shifted.shape, generator=self.generator)
        return batch.merge({"image": noisy.clamp(0.0, 1.0)})

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8)),  # (n, 8, 8) -> (n, 1, 8, 8)
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10),
    )


def accuracy(model: torch.nn.Module, batches: Source) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in batches:
            correct += int((model(batch["image"]).argmax(1) == batch["label"]).sum())
            total += len(batch)
    model.train()
    return correct / total


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--shift", type=int, default=1, help="largest shift in pixels")
    parser.add_argument("--noise", type=float, default=0.05, help="std of the added noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    digits = load_digits(images=True)  # image: float32 (1797, 8, 8) in [0, 1]; label: int64
    train, test = train_test_split(Source(digits), test=0.2, seed=args.seed)
    augment = RandomShiftNoise(args.shift, args.noise, seed=args.seed)
    train_batches = train.shuffle(seed=args.seed).batch(64).map(augment)
    test_batches = test.batch(512)

    sample = next(iter(train.batch(8)))
    changed = augment(sample)["image"]
    moved = float((changed - sample["image"]).abs().mean())
    print(f"augmentation changes a pixel by {moved:.3f} on average; shape {tuple(changed.shape)}")

    model = cnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(args.epochs):
        for batch in train_batches:
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batch["image"]), batch["label"])
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch}: loss {loss.item():.3f}")
    result = {
        "accuracy": accuracy(model, test_batches),
        "mean_abs_change": moved,
        "train_rows": len(train),
        "test_rows": len(test),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
