"""The binary search that finds a time in a partition by its events' own times."""

from review.replay import first_offset_at


def test_the_first_offset_at_or_after_the_time():
    times = [100, 200, 200, 300, 400, 500]
    read: list[int] = []

    def at(offset: int) -> int:
        read.append(offset)
        return times[offset]

    assert first_offset_at(at, 0, len(times), 200) == 1
    assert first_offset_at(at, 0, len(times), 250) == 3
    assert first_offset_at(at, 0, len(times), 50) == 0
    assert first_offset_at(at, 0, len(times), 900) == len(times)  # none: the end
    # A search reads about log2(n) records, not the partition.
    read.clear()
    many = list(range(0, 1_000_000, 10))
    assert first_offset_at(lambda o: many[o], 0, len(many), 123_456) == 12_346
    assert first_offset_at(lambda o: read.append(o) or many[o], 0, len(many), 5) == 1
    assert len(read) <= 18


def test_a_record_without_an_event_time_counts_as_early():
    times = [100, None, 300]
    assert first_offset_at(lambda o: times[o], 0, 3, 200) == 2
