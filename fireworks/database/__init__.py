"""Database Sources: write Messages into any SQLAlchemy database and stream query results back.

``schema`` maps Message columns to table columns (and tensors to arrays or bytes); ``engines`` makes engines
from URLs (SQLite WAL, fork safety); ``bulk`` holds the per-dialect bulk writers; ``table`` the TableSource;
``query`` the DBSource.
"""

from __future__ import annotations

from fireworks.database.engines import create_engine, get_engine
from fireworks.database.query import DBSource
from fireworks.database.schema import ColumnSpec, DatabaseError, SchemaError
from fireworks.database.table import TableSource

__all__ = [
    "ColumnSpec",
    "DBSource",
    "DatabaseError",
    "SchemaError",
    "TableSource",
    "create_engine",
    "get_engine",
]
