from base.topics import bootstrap_servers, layout_problem


def test_a_topic_of_the_configured_layout_has_no_problem():
    assert layout_problem("acd.events.v1", 4, 4) is None


def test_another_partition_count_says_both_and_the_two_ways_out():
    problem = layout_problem("acd.events.v1", 4, 3)
    assert problem is not None
    assert "acd.events.v1 has 4 partitions but topic_partitions is 3" in problem
    assert "CALLBOARD_TOPIC_PARTITIONS=4" in problem
    assert "delete the topic" in problem


def test_bootstrap_servers_reads_fausts_and_kafkas_forms():
    assert bootstrap_servers("kafka://a:9092;b:9093") == ["a:9092", "b:9093"]
    assert bootstrap_servers("a:9092, b:9093") == ["a:9092", "b:9093"]


def test_a_topic_watch_tells_each_new_id_once_and_asks_at_most_every_few_seconds():
    """Issue 19: after a roll the notifier's positions were the old alerts topic's and it
    took none of the new one's alerts. The watch says when the id changes: not for the
    first id seen, not when the broker does not say, once per new id."""
    from base.config import Settings
    from base.topics import TopicWatch

    answers: list[str | None | Exception] = ["a", "a", None, OSError("away"), "b", "b", "c", "c"]
    asked: list[float] = []
    now = [0.0]

    def ask(_settings: Settings, topic: str) -> str | None:
        assert topic == "alerts.v1"
        asked.append(now[0])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    watch = TopicWatch(Settings(), "alerts.v1", every_s=10, clock=lambda: now[0], ask=ask)
    seen = []
    for t in range(0, 80, 5):  # a round every 5 s: asked every other round
        now[0] = float(t)
        seen.append(watch.changed())
    assert asked == [0, 10, 20, 30, 40, 50, 60, 70]
    # a, a, (no answer), (error), b: new, b, c: new, c
    assert [t for t, changed in zip(range(0, 80, 5), seen, strict=True) if changed] == [40, 60]
    assert watch.known == "c"


def test_stuck_says_so_after_the_limit_without_a_partition_and_starts_again():
    """Issue 19: a consumer that held no partition for 20 s is made anew (after a roll,
    one waited for ever on its group's SyncGroup); one that holds a partition, or has
    been without one for less, is left alone."""
    from base.topics import Stuck

    now = [0.0]
    stuck = Stuck(limit_s=20, clock=lambda: now[0])
    seen = []
    for t, assigned in [(0, True), (5, False), (15, False), (24.9, False), (25, False),
                        (30, False), (44, True), (50, False), (69, False), (70, False)]:
        now[0] = t
        seen.append(stuck(assigned))
    # without a partition from 5 s: stuck at 25; again from 30 (counted anew) until 44 when
    # it got one; from 50: stuck at 70
    assert [t for t, s in zip([0, 5, 15, 24.9, 25, 30, 44, 50, 69, 70], seen, strict=True)
            if s] == [25, 70]
