"""Property: whatever Message of supported columns goes into a table comes back equal (SQLite, in memory)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import sqlalchemy as sa
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fireworks import DBSource, Message, TableSource

_names = itertools.count()
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
texts = st.text(max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    n = draw(st.integers(min_value=1, max_value=20))
    cols: dict = {}
    cols["i"] = np.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype=np.int64)
    cols["f"] = np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype=np.float64)
    cols["s"] = draw(st.lists(st.none() | texts, min_size=n, max_size=n))
    cols["ni"] = pd.array(draw(st.lists(st.none() | ints, min_size=n, max_size=n)), dtype="Int64")
    shape = draw(st.sampled_from([(), (3,), (2, 2)]))
    dtype = draw(
        st.sampled_from(
            [
                torch.float32,
                torch.float64,
                torch.float16,
                torch.bfloat16,
                torch.int64,
                torch.int16,
                torch.uint8,
                torch.bool,
            ]
        )
    )
    cols["t"] = (torch.rand((n, *shape)) * 100).to(dtype)
    return Message(cols)


@settings(max_examples=40, deadline=None)
@given(messages())
def test_every_message_round_trips_exactly(m: Message) -> None:
    engine = sa.create_engine("sqlite://")
    name = f"prop_{next(_names)}"
    with TableSource(name, engine) as t:
        t.insert(m)
    out = DBSource(name, engine, batch_size=7).all()
    del out["id"]
    assert out == m
    assert out["t"].dtype == m["t"].dtype and out["t"].shape == m["t"].shape
    engine.dispose()
