"""Trials, their parameters, metrics and intermediate reports in SQL (SQLAlchemy Core).

Only the process driving the search writes (workers send results back to it), so SQLite is safe as the
default; PostgreSQL lets searches on several machines share one history. Several searches share one database
through their ``study`` name.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from fireworks._sqlite import BUSY_TIMEOUT_MS, fork_safe, immediate, prepare_sqlite
from fireworks.factory.trial import Trial

_metadata = sa.MetaData()
TRIALS = sa.Table(
    "fireworks_trials",
    _metadata,
    sa.Column("study", sa.String(200), primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("worker", sa.Integer),
    sa.Column("owner", sa.String(300)),
)
REPORTS = sa.Table(
    "fireworks_reports",
    _metadata,
    sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(200), nullable=False),
    sa.Column("trial", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Index("ix_fireworks_reports_study_trial", "study", "trial"),
)


def make_engine(storage: str | sa.Engine | None) -> tuple[sa.Engine, bool]:
    """An engine for ``storage`` (URL, Engine or None = private in-memory SQLite) and whether we own it."""
    if isinstance(storage, sa.Engine):
        return storage, False
    if storage is None or storage in ("sqlite://", "sqlite:///:memory:"):
        engine = sa.create_engine(
            "sqlite://", poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False}
        )
        return engine, True
    if not isinstance(storage, str):
        raise TypeError(f"storage must be a SQLAlchemy URL, an Engine or None, but got {storage!r}")
    try:
        url = sa.engine.make_url(storage)
    except sa.exc.ArgumentError as err:
        raise ValueError(
            f"storage {storage!r} is not a SQLAlchemy URL such as 'sqlite:///trials.db'"
        ) from err
    if url.get_backend_name() == "sqlite":
        engine = prepare_sqlite(
            sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        )
    else:
        from fireworks.database.engines import missing_driver

        try:
            engine = fork_safe(sa.create_engine(url, pool_pre_ping=True))
        except ImportError as err:
            hint = missing_driver(url, err)
            if hint is None:
                raise
            raise hint from err
    return engine, True


def _dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True, sort_keys=False)


def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrialStorage:
    """The trials of one ``study`` in a SQL database; every write is its own committed transaction."""

    def __init__(self, storage: str | sa.Engine | None = None, study: str = "default") -> None:
        if not isinstance(study, str) or not study or len(study) > 200:
            raise ValueError(
                f"study must be a non-empty str of at most 200 characters, but got {study!r}"
            )
        self.study = study
        self.engine, self._owns_engine = make_engine(storage)
        self._create_tables()

    def _create_tables(self) -> None:
        for attempt in range(3):
            try:
                _metadata.create_all(self.engine, checkfirst=True)
                return
            except (IntegrityError, OperationalError, ProgrammingError):
                if attempt == 2:  # another process created them at the same moment: check again
                    raise
                time.sleep(0.1)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A write transaction; on SQLite it takes the write lock first (BEGIN IMMEDIATE), so a read
        followed by a write (the next trial id) never fails half-way with "database is locked"."""
        with self.engine.connect() as conn:
            immediate(conn)
            with conn.begin():
                yield conn

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # -- reading ---------------------------------------------------------------------------------
    def load(self) -> list[Trial]:
        """Every trial of the study, ordered by id, with its reports."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(TRIALS).where(TRIALS.c.study == self.study).order_by(TRIALS.c.id)
            ).all()
            reports = conn.execute(
                sa.select(REPORTS.c.trial, REPORTS.c.step, REPORTS.c.metrics)
                .where(REPORTS.c.study == self.study)
                .order_by(REPORTS.c.pk)
            ).all()
        trials = {
            r.id: Trial(
                id=r.id,
                params=json.loads(r.params),
                status=r.status,
                metrics=json.loads(r.metrics),
                error=r.error,
                started_at=r.started_at,
                finished_at=r.finished_at,
                worker=r.worker,
            )
            for r in rows
        }
        for trial_id, step, metrics in reports:
            if trial_id in trials:
                trials[trial_id].reports.append((step, json.loads(metrics)))
        return list(trials.values())

    # -- writing ---------------------------------------------------------------------------------
    def create(self, params: dict[str, Any], owner: str) -> Trial:
        """Insert a new running trial with the next free id (retrying if another writer took it)."""
        text = _dumps(params)
        for _ in range(20):
            with self._begin() as conn:
                last = conn.execute(
                    sa.select(sa.func.max(TRIALS.c.id)).where(TRIALS.c.study == self.study)
                ).scalar()
                trial = Trial(
                    id=0 if last is None else last + 1, params=params, started_at=time.time()
                )
                try:
                    conn.execute(
                        TRIALS.insert().values(
                            study=self.study,
                            id=trial.id,
                            status="running",
                            params=text,
                            metrics="{}",
                            started_at=trial.started_at,
                            owner=owner,
                        )
                    )
                except IntegrityError:
                    continue
            return trial
        raise RuntimeError(
            f"could not allocate a trial id in study {self.study!r} after 20 attempts"
        )

    def finish(self, trial: Trial) -> None:
        """Store the final status, metrics and error of ``trial``."""
        with self._begin() as conn:
            conn.execute(
                TRIALS.update()
                .where(TRIALS.c.study == self.study, TRIALS.c.id == trial.id)
                .values(
                    status=trial.status,
                    metrics=_dumps(trial.metrics),
                    error=trial.error,
                    finished_at=trial.finished_at,
                    worker=trial.worker,
                )
            )

    def add_report(self, trial_id: int, step: int, metrics: dict[str, float]) -> None:
        with self._begin() as conn:
            conn.execute(
                REPORTS.insert().values(
                    study=self.study,
                    trial=trial_id,
                    step=step,
                    metrics=_dumps(metrics),
                    time=time.time(),
                )
            )

    def fail_orphans(self, live_owners: set[str]) -> list[int]:
        """Mark failed the running trials whose search process on this host is gone; return their ids.

        A trial is an orphan when its owner (``host:pid:token``) is on this host and that process is dead,
        or is this process but no live Factory here has that token. Trials owned by other hosts are left
        alone: their search may still be running.
        """
        host = _host()
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(TRIALS.c.id, TRIALS.c.owner).where(
                    TRIALS.c.study == self.study, TRIALS.c.status == "running"
                )
            ).all()
            orphans = []
            for trial_id, owner in rows:
                parts = (owner or "").rsplit(":", 2)
                if len(parts) != 3 or parts[0] != host:
                    continue
                pid = int(parts[1]) if parts[1].isdigit() else -1
                if pid == os.getpid():
                    if owner in live_owners:
                        continue
                elif pid > 0 and _pid_alive(pid):
                    continue
                orphans.append(trial_id)
            if orphans:
                conn.execute(
                    TRIALS.update()
                    .where(TRIALS.c.study == self.study, TRIALS.c.id.in_(orphans))
                    .values(
                        status="failed",
                        error="interrupted: the search process stopped before this trial finished",
                        finished_at=time.time(),
                    )
                )
        return orphans

    def restore(self, trials: list[Trial]) -> None:
        """Write ``trials`` (from a checkpoint) into this study in one transaction."""
        if not trials:
            return
        with self._begin() as conn:
            conn.execute(
                TRIALS.insert(),
                [
                    {
                        "study": self.study,
                        "id": t.id,
                        "status": "failed" if t.status == "running" else t.status,
                        "params": _dumps(t.params),
                        "metrics": _dumps(t.metrics),
                        "error": t.error
                        if t.status != "running"
                        else "interrupted: checkpointed while running",
                        "started_at": t.started_at,
                        "finished_at": t.finished_at,
                        "worker": t.worker,
                        "owner": None,
                    }
                    for t in trials
                ],
            )
            rows = [
                {"study": self.study, "trial": t.id, "step": s, "metrics": _dumps(m), "time": 0.0}
                for t in trials
                for s, m in t.reports
            ]
            if rows:
                conn.execute(REPORTS.insert(), rows)
