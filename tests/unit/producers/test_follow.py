"""tail -F semantics of the follower, on real files (no services)."""

from producers.follow import Follower


def test_partial_lines_wait_rotation_and_truncation_are_followed(tmp_path):
    log, state = tmp_path / "queue_log", tmp_path / "pos.json"
    log.write_bytes(b"a\nb\npart")
    f = Follower(log, state)
    assert f.read_lines() == [b"a", b"b"]  # "part" has no newline yet
    with log.open("ab") as fh:
        fh.write(b"ial\nc\n")
    assert f.read_lines() == [b"partial", b"c"]
    f.save()
    # Rotation: the old file gets one more line before the new one appears.
    with log.open("ab") as fh:
        fh.write(b"d\n")
    log.rename(tmp_path / "queue_log.1")
    log.write_bytes(b"e\n")
    assert f.read_lines() == [b"d", b"e"]
    assert f.rotations == 1
    # Truncation in place: start again at the top.
    log.write_bytes(b"")
    assert f.read_lines() == []
    with log.open("ab") as fh:
        fh.write(b"f\n")
    assert f.read_lines() == [b"f"]
    assert f.truncations == 1
    f.close()


def test_a_restart_resumes_at_the_saved_position_even_across_a_rotation(tmp_path):
    log, state = tmp_path / "queue_log", tmp_path / "pos.json"
    log.write_bytes(b"1\n2\n")
    first = Follower(log, state)
    assert first.read_lines() == [b"1", b"2"]
    first.extra["note"] = "kept"
    first.save()
    first.close()
    with log.open("ab") as fh:
        fh.write(b"3\n")
    log.rename(tmp_path / "queue_log.1")  # rotated while no follower ran
    log.write_bytes(b"4\n")
    second = Follower(log, state)
    assert second.extra == {"note": "kept"}
    assert second.read_lines() == [b"3", b"4"]
    second.close()
