"""A partition is live while it is counted up to date or moving; one with records
waiting and a frozen position stops being live, and says how many records wait."""

from __future__ import annotations

from streams.progress import PartitionProgress

S = 1000  # ms


def test_a_partition_caught_up_stays_live_however_long_it_is_quiet():
    progress = PartitionProgress()
    for t in range(0, 600 * S, 30 * S):
        progress.observe(0, 120, 120, t)
    assert progress.ok_ms(0) == 570 * S
    assert progress.stalled(600 * S, 10 * S) == {}


def test_a_partition_moving_behind_its_high_watermark_is_not_stalled():
    progress = PartitionProgress()
    for i, t in enumerate(range(0, 60 * S, S)):
        progress.observe(0, 1000 + 50 * i, 40_000, t)  # a deep backlog, read on
    assert progress.ok_ms(0) == 59 * S
    assert progress.stalled(60 * S, 10 * S) == {}


def test_records_waiting_and_a_frozen_position_stall_after_the_limit():
    progress = PartitionProgress()
    progress.observe(2, 33_705, 33_705, 0)  # caught up at t=0
    for t in range(S, 12 * S, S):
        progress.observe(2, 33_705, 33_705 + 100 * t // S, t)  # records arrive, none read
    assert progress.ok_ms(2) == 0
    assert progress.stalled(10 * S, 10 * S) == {}  # exactly the limit: not yet
    stalled = progress.stalled(11 * S, 10 * S)
    assert list(stalled) == [2]
    assert stalled[2].unread == 1100  # highwater 33,705 + 1,100 minus position 33,705


def test_a_stalled_partition_is_live_again_once_it_moves():
    progress = PartitionProgress()
    progress.observe(1, 50, 80, 0)
    progress.observe(1, 50, 90, 20 * S)
    assert list(progress.stalled(20 * S, 10 * S)) == [1]
    progress.observe(1, 51, 90, 21 * S)
    assert progress.stalled(21 * S, 10 * S) == {}
    assert progress.ok_ms(1) == 21 * S


def test_no_high_watermark_yet_does_not_reset_the_clock():
    # Never fetched: the clock runs from the first look; a position that stays put
    # with no answer from the broker is not "caught up".
    progress = PartitionProgress()
    progress.observe(0, 7, None, 0)
    progress.observe(0, 7, None, 30 * S)
    assert progress.ok_ms(0) == 0
    assert progress.stalled(30 * S, 10 * S) == {}  # nothing known to wait: no count
    progress.observe(0, 7, 9, 31 * S)
    assert progress.stalled(31 * S, 10 * S)[0].unread == 2


def test_revoked_partitions_are_forgotten():
    progress = PartitionProgress()
    progress.observe(0, 5, 9, 0)
    progress.observe(3, 5, 9, 0)
    progress.forget({3})
    assert progress.ok_ms(3) is None
    assert list(progress.stalled(60 * S, 10 * S)) == [0]
