"""A tqdm bar for a search: trials done/failed/running and the best metric so far."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


class SearchProgress:
    """Counts finished trials; ``update`` refreshes the counts shown beside the bar."""

    def __init__(self, total: int | None, enabled: bool = True, metric: str | None = None) -> None:
        self.metric = metric
        self.bar: Any = tqdm(
            total=total, disable=not enabled, desc="trials", unit="trial", leave=True
        )

    def update(self, finished: int, counts: dict[str, int], best: float | None) -> None:
        postfix = {s: counts.get(s, 0) for s in ("complete", "failed", "pruned", "running")}
        if counts.get("pruned", 0) == 0:
            del postfix["pruned"]
        if self.metric is not None and best is not None:
            postfix[f"best {self.metric}"] = f"{best:.6g}"  # type: ignore[assignment]
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(finished)

    def close(self) -> None:
        self.bar.close()
