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
