"""TensorBoard/Visdom servers: install hints, a real Visdom fed the run's metrics, stopped with the dashboard."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from fireworks.dashboard.sample import make_sample_runs
from fireworks.dashboard.services import Services, _require, feed_visdom, free_port
from fireworks.exceptions import MissingDependencyError


def test_a_missing_tool_names_the_extra_to_install() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'torch-fireworks\[visdom\]'"):
        _require("fireworks_no_such_module", "visdom", "Visdom in the dashboard")


def test_tensorboard_needs_the_run_logs(tmp_path: Path) -> None:
    services = Services()
    with pytest.raises(FileNotFoundError, match="no TensorBoard logs"):
        services.tensorboard(tmp_path / "absent")
    assert services.running() == {}


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.slow
def test_visdom_is_fed_the_logged_metrics_and_stopped(tmp_path: Path) -> None:
    pytest.importorskip("visdom", reason="the visdom extra is not installed (see pyproject)")
    import visdom

    runs = make_sample_runs(tmp_path, big_rows=10, trials=2)
    services = Services()
    try:
        url = services.visdom()
        assert url.startswith("http://127.0.0.1:")
        assert feed_visdom(url, "search_0", runs["search"] / "logs.sqlite") == ["train.loss"]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        client = visdom.Visdom(
            server="http://127.0.0.1", port=port, env="search_0", use_incoming_socket=False
        )
        window = json.loads(client.get_window_data(win="train.loss", env="search_0"))
        assert window["content"]["data"][0]["y"][:2] == [1.0, 1 / (1 + 1 / 20)]
        assert len(window["content"]["data"][0]["y"]) == 200
    finally:
        services.stop_all()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=3)
