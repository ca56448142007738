"""``callboard intake``: a CRM that pushes its tickets, over HTTP.

``POST /intake/tickets`` with a JSON body: one schema-v1 ticket or survey event, or a
list of them (docs/events.md). Signed like callboard's own webhooks: headers
``X-Callboard-Timestamp`` (Unix seconds, within 5 minutes) and ``X-Callboard-Signature``
(``sha256=`` HMAC-SHA256 of ``"<timestamp>.<body>"`` with ``tickets.intake_secret``).
Each event is validated on its own: the valid ones are on the broker before the answer
(``accepted``), the others are answered with their index and reason and go to the
dead-letter topic too. The CRM may send the same event again (a retry after a lost
answer): its ``event_id`` makes it count once.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, Response, request

from base.callers import protect
from base.config import Settings
from base.signing import verify
from core.events import MAX_NESTING, TICKET_TYPES, EventError, dumps, nested_deeper_than, validate

__all__ = ["create_intake", "run_intake"]

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # a CRM's batch, not a file
MAX_EVENTS = 5000
# A list of events, each at most the schema's nesting (core/events.py): one level more.
MAX_DEPTH = MAX_NESTING + 1


def create_intake(settings: Settings, events: Any, letters: Any) -> Flask:
    """The intake app; ``events`` and ``letters`` are sinks (producers/kafka_sink.py)."""
    secret = settings.tickets.intake_secret
    if not secret:
        raise ValueError("tickets.intake_secret is required to run the intake")
    app = Flask("callboard-intake")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    def answer(status: int, **doc: object) -> Response:
        return Response(json.dumps(doc, ensure_ascii=False), status=status,
                        mimetype="application/json")

    @app.post("/intake/tickets")
    def tickets() -> Response:
        body = request.get_data(cache=False)
        why = verify(secret, request.headers.get("X-Callboard-Timestamp", ""), body,
                     request.headers.get("X-Callboard-Signature", ""), time.time())
        if why:
            return answer(401, error=f"not signed by this deployment: {why}")
        if nested_deeper_than(body, MAX_DEPTH):
            return answer(400, error=f"nested deeper than {MAX_DEPTH}")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            return answer(400, error=f"not JSON: {exc}"[:300])
        items = doc if isinstance(doc, list) else [doc]
        if len(items) > MAX_EVENTS:
            return answer(413, error=f"{len(items)} events; send at most {MAX_EVENTS} at a time")
        accepted, rejected = 0, []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise EventError("not_an_object", f"got {type(item).__name__}")
                event = validate(item)
                if event["type"] not in TICKET_TYPES:
                    raise EventError("unknown_type", f"{event['type']!r} is not a ticket or "
                                     "survey event (calls come from the ACD)")
            except EventError as exc:
                rejected.append({"index": index, "reason": exc.reason, "detail": exc.detail})
                letters.send_raw(exc.reason.encode(), json.dumps({
                    "reason": exc.reason, "detail": exc.detail, "source": "intake",
                    "seen_ms": int(time.time() * 1000),
                    "value": json.dumps(item, ensure_ascii=False)[:4096]},
                    ensure_ascii=False).encode())
                continue
            events.send_raw(event["queue"].encode(),
                            dumps(protect(event, settings.caller_hash_key)))
            accepted += 1
        # On the broker before the answer: a 2xx means kept.
        events.flush()
        letters.flush()
        return answer(200 if not rejected else 422, accepted=accepted, rejected=rejected)

    return app


def run_intake(settings: Settings) -> None:
    """Serve the intake until SIGINT/SIGTERM."""
    from waitress import serve

    from base.topics import ensure_topics
    from producers.kafka_sink import sink_for

    ensure_topics(settings)
    events = sink_for(settings, settings.events_topic)
    letters = sink_for(settings, settings.dead_letter_topic)
    app = create_intake(settings, events, letters)
    log.info("ticket intake on http://%s:%s/intake/tickets", settings.tickets.intake_host,
             settings.tickets.intake_port)
    try:
        serve(app, host=settings.tickets.intake_host, port=settings.tickets.intake_port,
              threads=1)  # one producer, used by one thread
    finally:
        events.close()
        letters.close()
