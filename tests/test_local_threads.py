"""Local-model threads: one per core by default, divided among parallel sweep workers."""

from __future__ import annotations

import pytest

from societas.experiments.workers import set_threads
from societas.llm.local import THREADS_ENV, LocalModel, local_threads
from societas.typing import ConfigError


def test_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "1")
    assert local_threads() == 1
    assert LocalModel().n_threads == 1  # nothing is loaded until the first request
    monkeypatch.delenv(THREADS_ENV)
    assert local_threads() >= 1


def test_bad_thread_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ConfigError, match=THREADS_ENV):
        local_threads()


def test_sweep_workers_get_their_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    set_threads("1")
    try:
        assert local_threads() == 1
    finally:
        monkeypatch.delenv(THREADS_ENV, raising=False)
