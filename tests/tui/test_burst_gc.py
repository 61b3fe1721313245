"""BurstGc: during a busy stream the objects a batch left behind leave the collector's generations,
and everything goes back (thresholds too) when the stream calms down or the screen goes."""

from __future__ import annotations

import gc

from deploytui.tui.screens.deployment import BurstGc


def test_a_busy_batch_freezes_what_exists_and_a_quiet_one_thaws_it() -> None:
    thresholds = gc.get_threshold()
    burst = BurstGc()
    held = [[index] for index in range(5_000)]  # tracked objects, as install lines are
    try:
        burst.batch(busy=True)
        assert burst.frozen
        assert gc.get_freeze_count() >= len(held)
        assert gc.get_threshold()[0] == BurstGc.YOUNG_THRESHOLD
        burst.batch(busy=False)
        assert not burst.frozen
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds
    finally:
        burst.thaw()
        gc.unfreeze()


def test_thaw_without_a_burst_changes_nothing() -> None:
    thresholds = gc.get_threshold()
    burst = BurstGc()
    burst.thaw()
    assert gc.get_threshold() == thresholds and not burst.frozen
