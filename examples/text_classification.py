"""Text to tensors: a vocabulary, token ids padded per batch, and a bag-of-embeddings classifier.

The corpus is real: docstrings of eight standard-library modules (``fireworks.datasets.load_docstrings``),
labelled with the module they document. The vocabulary is built from the training split only; each batch is
tokenised and padded to its longest text (capped at ``--max-len``) in one vectorised ``map``.

    python examples/text_classification.py            # ~10 s
    python examples/text_classification.py --epochs 2 # quicker
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from fireworks import Message, Source, train_test_split
from fireworks.datasets import TOPIC_MODULES, load_docstrings

PAD, UNKNOWN = 0, 1
WORD = re.compile(r"[a-z]+")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    return [WORD.findall(t.lower()) for t in texts]


def build_vocabulary(texts: Sequence[str], size: int) -> dict[str, int]:
    """The ``size`` most frequent words; ids 0 and 1 are padding and unknown."""
    counts = Counter(w for words in tokenize(texts) for w in words)
    return {w: i + 2 for i, (w, _) in enumerate(counts.most_common(size))}


def pad(ids: list[np.ndarray], max_len: int) -> torch.Tensor:
    """Right-pad int arrays into one ``(n, longest)`` tensor without a per-row loop over positions."""
    lengths = np.minimum([len(a) for a in ids], max_len)
    flat = np.concatenate([a[:max_len] for a in ids]) if len(ids) else np.empty(0, np.int64)
    rows = np.repeat(np.arange(len(ids)), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out = np.full((len(ids), max(int(lengths.max(initial=0)), 1)), PAD, dtype=np.int64)
    out[rows, cols] = flat
    return torch.from_numpy(out)


class Encoder:
    """A batch-level ``map``: text → padded token ids + lengths; label → tensor."""

    def __init__(self, vocabulary: dict[str, int], max_len: int) -> None:
        self.vocabulary = vocabulary
        self.max_len = max_len

    def __call__(self, batch: Message) -> Message:
        get = self.vocabulary.get
        ids = [
            np.fromiter((get(w, UNKNOWN) for w in words), np.int64)
            for words in tokenize(batch["text"])
        ]
        tokens = pad(ids, self.max_len)
        return Message(
            {
                "tokens": tokens,
                "length": (tokens != PAD).sum(dim=1),
                "label": torch.tensor(batch["label"].to_numpy()),
            }
        )


class BagOfEmbeddings(torch.nn.Module):
    """Mean of the word embeddings (padding ignored), then a linear layer."""

    def __init__(self, vocabulary_size: int, classes: int, dim: int = 64) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocabulary_size, dim, padding_idx=PAD)
        self.out = torch.nn.Linear(dim, classes)

    def forward(self, tokens: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        summed = self.embed(tokens).sum(dim=1)
        return self.out(summed / length.clamp(min=1).unsqueeze(1))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--vocabulary", type=int, default=2000, help="words kept")
    parser.add_argument("--max-len", type=int, default=64, help="tokens kept per text")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    corpus = load_docstrings(TOPIC_MODULES, methods=True)
    train, test = train_test_split(Source(corpus), test=0.25, seed=args.seed)
    vocabulary = build_vocabulary(train[:]["text"], args.vocabulary)
    encode = Encoder(vocabulary, args.max_len)
    train_batches = train.shuffle(seed=args.seed).batch(args.batch_size).map(encode)
    test_batches = test.batch(256).map(encode)

    first = next(iter(train_batches))
    print(
        f"{len(corpus)} docstrings, {len(TOPIC_MODULES)} classes, vocabulary {len(vocabulary) + 2}"
    )
    print(
        f"a batch: tokens {tuple(first['tokens'].shape)}, first row {first['tokens'][0, :8].tolist()}"
    )

    model = BagOfEmbeddings(len(vocabulary) + 2, len(TOPIC_MODULES))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(args.epochs):
        for batch in train_batches:
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(batch["tokens"], batch["length"]), batch["label"]
            )
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch}: loss {loss.item():.3f}")

    correct = 0
    with torch.no_grad():
        for batch in test_batches:
            correct += int(
                (model(batch["tokens"], batch["length"]).argmax(1) == batch["label"]).sum()
            )
    labels = test[:]["label"].to_numpy()
    result = {
        "accuracy": correct / len(test),
        "majority_baseline": float(np.bincount(labels).max() / len(labels)),
        "vocabulary": len(vocabulary) + 2,
        "batch_width": int(first["tokens"].shape[1]),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
