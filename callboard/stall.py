"""A Kafka client call that never returns ends the process, so its supervisor restarts it.

kafka-python 3.0.12 waits on its IO thread with no deadline (``net.run``'s
``event.wait()``; dpkp/kafka-python#3121, fixed upstream after 3.0.12). Once in CI a
fresh consumer sat there for good after the local broker restarted. In the notifier
or the archiver such a hang would leave the process alive and doing nothing: alerts
undelivered, the archive silently behind. Both keep their place durably (the
notifier's outbox and committed offsets, the archiver's position files), so exiting
and being restarted (``callboard up``, compose's ``restart: unless-stopped``) loses
nothing. faulthandler's timer runs in C, off the blocked threads, and prints every
thread's stack before it exits, so the operator sees where it hung.
"""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# A poll asks for at most 500 ms and a commit or a reconnect gives up on its own
# after request_timeout_ms (30 s by default), so two minutes is a hang, not a slow
# broker.
CLIENT_STALL_S = 120.0


@contextmanager
def client_call(limit_s: float = CLIENT_STALL_S) -> Iterator[None]:
    """Exit the process (status 1, every thread's stack on stderr) if the block takes
    longer than ``limit_s``. One timer per process: guard one call at a time."""
    sys.stderr.flush()
    faulthandler.dump_traceback_later(limit_s, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()

