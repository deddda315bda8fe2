"""The running worker's garbage collector: what the start loaded frozen, the rest
collected at the worker's thresholds (hub.app.main.GC_THRESHOLDS)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hub.app import main


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


@pytest.mark.usefixtures("restored_gc")
def test_the_start_freezes_what_it_loaded_and_sets_the_worker_thresholds() -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    main._freeze_what_start_loaded()
    assert gc.get_threshold() == main.GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
    # Young collections stay as frequent as Python's default; the older ones are rarer.
    young, middle, old = main.GC_THRESHOLDS
    assert young <= 700
    assert middle > 10
    assert old > 10
