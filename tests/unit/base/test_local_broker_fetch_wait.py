"""The local broker's fetch wait widens only for a partition with records waiting that
does not move or stays a backlog behind, and never past its ceiling."""

from __future__ import annotations

from base.local_broker.fetch_wait import FetchWait


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_stuck_partition_doubles_the_wait_after_its_patience():
    clock = Clock()
    wait = FetchWait(20, patience_s=1.0, clock=clock)
    assert wait.observe(2, 33705, 36586) is None  # first look: the clock starts
    clock.now += 0.9
    assert wait.observe(2, 33705, 36700) is None  # not yet a second
    clock.now += 0.2
    assert wait.observe(2, 33705, 36800) == 40
    clock.now += 0.5
    assert wait.observe(2, 33705, 36900) is None  # the new wait gets its own second
    clock.now += 0.6
    assert wait.observe(2, 33705, 37000) == 80
    assert wait.wait_ms == 80


def test_a_moving_or_caught_up_partition_keeps_the_wait():
    clock = Clock()
    wait = FetchWait(20, patience_s=1.0, clock=clock)
    for step in range(10):  # records waiting, but the position moves every look
        clock.now += 1.5
        assert wait.observe(1, 1000 + step * 100, 1000 + step * 100 + 999) is None
    for _ in range(5):  # caught up: nothing waits
        clock.now += 1.5
        assert wait.observe(1, 5000, 5000) is None
    clock.now += 1.5
    assert wait.observe(1, None, 5000) is None  # no position yet
    assert wait.observe(1, 5000, None) is None  # no fetch answered yet
    assert wait.wait_ms == 20


def test_the_wait_stops_at_its_ceiling():
    clock = Clock()
    wait = FetchWait(20, ceiling_ms=100, patience_s=1.0, clock=clock)
    widened = []
    for _ in range(20):
        clock.now += 1.1
        widened.append(wait.observe(0, 7, 9))
    assert [w for w in widened if w is not None] == [40, 80, 100]
    assert wait.wait_ms == 100


def test_a_backlog_read_a_few_records_a_fetch_widens_the_wait():
    # The first start on a deep partition: the position moves, but stays thousands
    # behind, so the wait widens as if it were stuck (it costs nothing while records flow).
    clock = Clock()
    wait = FetchWait(40, patience_s=1.0, clock=clock)
    widened = []
    for step in range(6):
        widened.append(wait.observe(0, 40 * step, 36_942))
        clock.now += 0.6
    assert widened == [None, None, 80, None, 160, None]
    # Once it is within a backlog's reach of the end, moving is enough again.
    for step in range(5):
        clock.now += 1.5
        assert wait.observe(0, 36_000 + step * 10, 36_942) is None
    assert wait.wait_ms == 160
