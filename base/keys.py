"""Redis key and channel names, defined once for the worker and the board."""

from __future__ import annotations

import re
from typing import TypedDict
from urllib.parse import quote

from core.events import QUEUE_PATTERN

__all__ = ["SESSION_NAME", "RedisKeys", "ReplaySession", "replay_prefix", "safe_name", "text"]


class ReplaySession(TypedDict, total=False):
    """A replay session's state in Redis (review/replay.py writes it, the board reads it)."""

    name: str
    source: str
    from_ms: int
    to_ms: int
    speed: float | str  # events per second of event time, or "max"
    started_ms: int
    status: str  # running | paused | done | failed; "missing" when Redis has none
    at_ms: int
    alerts: int
    updated_ms: int

SESSION_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # no dots: ".." broke its own links


class RedisKeys:
    """Names under one prefix (``callboard:v1`` by default; tests give each run its own)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queues = f"{prefix}:queues"  # set of queue names with a snapshot
        self.changes = f"{prefix}:changes"  # pub/sub: the queue whose snapshot changed
        self.stats = f"{prefix}:stats"  # hash: worker counters (dead letters by reason...)
        self.shards = f"{prefix}:shards"  # set: partitions whose counters are kept below
        self.heartbeat = f"{prefix}:heartbeat"  # wall ms of the worker's last write
        # hash: an ACD source's name -> its connection as JSON (up, since_ms, checked_ms),
        # written by a live ingest (producers/esl.py); the walls read it
        self.sources = f"{prefix}:sources"
        # set once the history rows of every kept minute are in Redis; gone after a
        # Redis restart that lost them, which makes the worker write them all again
        self.history_epoch = f"{prefix}:history-epoch"
        # hash: queue -> "as_of_ms:written_ms" of its snapshot, so no writer replaces
        # a newer one (two workers during a rebalance)
        self.snapshot_meta = f"{prefix}:snapshot-meta"
        # The surge ladder's alerts (alerts/notify.py, the console):
        self.alerts_open = f"{prefix}:alerts:open"    # hash: queue -> open alert
        self.alerts_log = f"{prefix}:alerts:log"      # list: every alert, newest first
        self.alerts_audit = f"{prefix}:alerts:audit"  # stream: the audit trail
        self.alerts_stats = f"{prefix}:alerts:stats"  # hash: sent / failed per channel
        self.alerts_sent = f"{prefix}:alerts:sent"    # prefix of the delivered markers
        # sorted set: deliveries still to make (member: the job, score: when due)
        self.alerts_outbox = f"{prefix}:alerts:outbox"
        self.alerts_attempts = f"{prefix}:alerts:attempts"  # hash: job -> attempts so far
        # hash: ticket id -> its complaint's latest alert (due soon / overdue), acknowledged
        # or not; kept apart from the ladders' open alerts: it never climbs
        self.alerts_tickets = f"{prefix}:alerts:tickets"
        # Set once the notifier has read the alerts topic into this Redis: gone, Redis
        # was lost, and the notifier reads the topic again (alerts/notify.py).
        self.alerts_epoch = f"{prefix}:alerts:epoch"
        # hash: replay session name -> its state (review/replay.py); each session's
        # own keys are under replay_prefix(prefix, name)
        self.replay_sessions = f"{prefix}:replay-sessions"
        self.displays = f"{prefix}:displays"  # hash: display id -> its last report (JSON)
        self.replays = f"{prefix}:replay:"  # every replay session's keys start with it
        # Under a replay session's own prefix: its alerts (JSON list, once it is done)
        # and its controls (hash: pause, speed, jump_ms) from the /replay page.
        self.session_alerts = f"{prefix}:alerts"
        self.session_control = f"{prefix}:control"

    def snapshot(self, queue: str) -> str:
        return f"{self.prefix}:snapshot:{safe_name(queue)}"

    def drill(self, queue: str) -> str:
        """The supervisor's drill-down of a queue (core.snapshot.drill_doc), as JSON."""
        return f"{self.prefix}:drill:{safe_name(queue)}"

    def shard_stats(self, partition: int) -> str:
        """Hash: one partition's counters, as of its last counted batch (survive restarts)."""
        return f"{self.prefix}:stats:p{partition}"

    def ingest(self, source: str, name: str) -> str:
        """Hash: line counts of a followed ACD log (``callboard ingest``)."""
        return f"{self.prefix}:ingest:{source}:{name}"

    def intervals(self, queue: str) -> str:
        """Hash: half-hour start (epoch ms) -> that half hour's row (counters and KPIs)."""
        return f"{self.prefix}:intervals:{safe_name(queue)}"

    def days(self, queue: str) -> str:
        """Hash: local day start (epoch ms) -> that day's row."""
        return f"{self.prefix}:days:{safe_name(queue)}"


def safe_name(queue: str) -> str:
    """A queue's name as Redis keys and page element ids hold it: the name itself when
    it is plain ASCII (letters, digits, ``_ . -``: every key a release before Unicode
    names wrote stays as it was), else its UTF-8 percent-encoded (``家庭业务`` ->
    ``%E5%AE%B6%E5%BA%AD%E4%B8%9A%E5%8A%A1``), so no separator, space or markup of a
    name can reach a key or an id; the two forms cannot meet (``%`` is not ASCII-plain)."""
    return queue if QUEUE_PATTERN.fullmatch(queue) else quote(queue, safe="")


def replay_prefix(prefix: str, name: str) -> str:
    """Where a replay session's keys live: the live names under a prefix of its own."""
    if not SESSION_NAME.fullmatch(name):
        raise ValueError(f"session name {name!r}: 1-40 of A-Z a-z 0-9 _ -")
    return RedisKeys(prefix).replays + name


def text(value: bytes | str) -> str:
    """Redis replies as str whatever the client's decode setting (its types do not narrow)."""
    return value.decode() if isinstance(value, bytes) else value
