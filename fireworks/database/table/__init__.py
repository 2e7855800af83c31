"""TableSource, in modules by concept.

``connection`` holds the pending transaction (commit, rollback, one savepoint per write); ``creation`` the
table's schema (reflected, or created from declared columns or the first Message); ``writing`` insert,
upsert, update and delete; ``reading`` queries and the table as a stream (reading never writes);
``passthrough`` the rule by which a TableSource with inputs writes each item that flows through exactly once;
``source`` the Source that puts them together.
"""

from __future__ import annotations

from fireworks.database.table.source import TableSource

__all__ = ["TableSource"]
