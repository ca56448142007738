"""``callboard``: one entry point for every process."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import click

from base.config import ConfigError, Settings, load_settings
from core.records import Event

__all__ = ["main"]



class RawLine(TypedDict):
    """A line of an event file as published: its time (for pacing), its key, its bytes."""

    ts_ms: int
    key: bytes | None
    raw: bytes


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        settings = load_settings(ctx.obj["config"], **overrides)
        settings.load_schedule()  # a bad staffing plan stops every process at start-up
        return settings
    except ConfigError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from exc


def _duration_ms(text: str) -> int:
    import pandas as pd  # parses "2h", "90min", "1d 2h"; loaded only where needed

    try:
        # pandas 3 deprecates the lower-case day ("7d" warns; a later pandas refuses it).
        value = pd.Timedelta(re.sub(r"(\d)\s*d(?![a-z])", r"\1D", text))
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 2h or 1d") from exc
    if value.total_seconds() <= 0:
        raise click.BadParameter("duration must be positive")
    return int(value.total_seconds() * 1000)


def _stretch(settings: Settings, from_: str, to: str, source: str) -> tuple[int, int]:
    """--from and --to as epoch ms, and --source checked (replay, incident-report)."""
    from_ms, to_ms = _start_ms(from_, settings, False), _start_ms(to, settings, False)
    if to_ms <= from_ms:
        raise click.BadParameter("--to must be after --from")
    if source not in ("archive", "kafka"):
        if not Path(source).is_file():
            raise click.BadParameter(f"{source!r}: not archive, kafka or a readable file")
        from review.replay import check_event_file

        try:
            check_event_file(Path(source))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--source") from exc
    return from_ms, to_ms


def _start_ms(text: str | None, settings: Settings, to_file: bool) -> int:
    if text is None:
        if to_file:
            # A file is a reproducible artefact: without --start it begins at a
            # fixed Monday 08:00 in the centre's zone, so the same seed gives the
            # same bytes on any day.
            return int(datetime(2026, 1, 5, 8, 0, tzinfo=settings.zone).timestamp() * 1000)
        text = "now"
    if text == "now":
        return int(datetime.now().timestamp() * 1000)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not ISO 8601 (2026-01-05T08:00)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=settings.zone)
    return int(dt.timestamp() * 1000)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              envvar="CALLBOARD_CONFIG", help="TOML settings file (docs/configuration.md).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_level: str) -> None:
    """callboard: real-time call-centre wallboard and KPI pipeline."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from base.topics import forbid_client_auto_create

    forbid_client_auto_create()  # every process: topics are made by ensure_topics only
    # What a process writes (the archive, checkpoints, logs, reports) is the centre's
    # own: files 0640 and folders 0750, never readable by every account on the host.
    os.umask(0o027)
    ctx.obj = {"config": config, "log_level": log_level}


@cli.command()
@click.option("--seed", type=int, default=None, help="Same seed and start: same events.")
@click.option("--duration", default="1h", show_default=True, help="Simulated time, e.g. 2h.")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Multiple of real time when publishing; 0 = as fast as possible.")
@click.option("--start", default=None,
              help="Simulated start (ISO 8601, centre zone if no offset) or 'now'.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write JSON lines here instead of publishing to Kafka.")
@click.option("--volume", type=float, default=1.0, show_default=True,
              help="Multiplier on every queue's arrival rate.")
@click.option("--flat", is_flag=True, help="Peak rate all day (ignore the time-of-day profile).")
@click.option("--trunks", type=int, default=60, show_default=True,
              help="Lines into the centre; more calls than this are blocked.")
@click.option("--staff", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Multiplier on every queue's agents (at least one each).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "asterisk-queue-log"]),
              default="jsonl", show_default=True,
              help="With --out: schema-v1 events, or the calls as an Asterisk queue_log.")
@click.option("--tickets", is_flag=True,
              help="Also consultation and complaint tickets and surveys from the calls.")
@click.pass_context
def simulate(ctx: click.Context, seed: int | None, duration: str, speed: float,
             start: str | None, out: Path | None, volume: float, flat: bool,
             trunks: int, staff: float, fmt: str, tickets: bool) -> None:
    """Generate realistic ACD traffic to Kafka or to a JSON-lines file."""
    from core.events import dumps
    from producers.pacing import paced
    from producers.simulator import Simulator, configured_queues

    settings = _settings(ctx)
    if seed is None:
        seed = random.SystemRandom().randrange(1, 1 << 31)
        click.echo(f"seed {seed}", err=True)
    sim: Simulator
    if settings.simulate_room:
        from producers.room import ROOMS, RoomSimulator

        # The calibrated room: --volume sizes it (calls and agents alike), --flat plays its
        # busiest hour all day; its agents and calls are the month's, so --staff,
        # --trunks and --tickets do not apply.
        sim = RoomSimulator(seed=seed, start_ms=_start_ms(start, settings, out is not None),
                            duration_ms=_duration_ms(duration), zone=settings.zone, flat=flat,
                            room=ROOMS[settings.simulate_room].sized(volume))
    else:
        sim = Simulator(
            seed=seed, start_ms=_start_ms(start, settings, out is not None),
            duration_ms=_duration_ms(duration), zone=settings.zone, volume=volume,
            flat=flat, trunks=trunks, tickets=tickets,
            # The configured centre (each queue's [queues.simulate], today's four by default).
            queues=[replace(q, agents=max(1, round(q.agents * staff)))
                    for q in configured_queues(settings)],
        )
    if out is not None:
        count = 0
        with out.open("wb") as fh:
            if fmt == "asterisk-queue-log":
                from producers.asterisk_log import queue_log_lines

                for line in queue_log_lines(sim.events()):
                    fh.write(line.encode() + b"\n")
                    count += 1
            else:
                from base.callers import protect

                for event in sim.events():  # numbers hashed, as a producer publishes them
                    fh.write(dumps(protect(event, settings.caller_hash_key)) + b"\n")
                    count += 1
        click.echo(f"wrote {count} {'lines' if fmt != 'jsonl' else 'events'} to {out}", err=True)
        return
    from base.topics import ensure_topics
    from producers.kafka_sink import sink_for

    ensure_topics(settings)
    sink = sink_for(settings, settings.events_topic)
    signal.signal(signal.SIGTERM, _interrupt)  # flush what was produced, then exit
    try:
        for event in paced(sim.events(), speed):
            sink.send(event)
    except KeyboardInterrupt:
        pass
    finally:
        sink.close()
        click.echo(f"published {sink.sent} events to {settings.events_topic}", err=True)


@cli.command()
@click.argument("events_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="Multiple of real time; 0 = as fast as possible.")
@click.pass_context
def publish(ctx: click.Context, events_path: Path, speed: float) -> None:
    """Publish a recorded JSON-lines event log into the live events topic, as recorded.

    This feeds the live pipeline (a simulator's file, a test's events). To review a
    past stretch without touching the live board, use ``callboard replay``.

    Lines are sent as they are, but for a caller's number in the clear, which is
    hashed on the way (base/callers.py): a malformed one reaches the worker's
    dead-letter topic with its reason, just as it would from a live producer. Event
    ids are kept, so a replay over a stream that already holds the events counts
    nothing twice.
    """
    import json

    from base.callers import protect
    from base.topics import ensure_topics
    from core.events import dumps
    from producers.kafka_sink import sink_for
    from producers.pacing import paced

    settings = _settings(ctx)
    ensure_topics(settings)

    def lines() -> Iterator[RawLine]:
        with events_path.open("rb") as fh:
            for raw in fh:
                raw = raw.rstrip(b"\n")
                if not raw.strip():
                    continue
                try:
                    doc = json.loads(raw)
                    ts = int(doc["ts_ms"]) if isinstance(doc, dict) else 0
                    key = str(doc.get("queue", "")).encode() if isinstance(doc, dict) else b""
                    if isinstance(doc, dict):  # a recording with numbers: hashed on the way
                        hidden = protect(doc, settings.caller_hash_key)
                        raw = raw if hidden is doc else dumps(hidden)
                except (ValueError, KeyError, TypeError):
                    ts, key = 0, b""
                yield RawLine(ts_ms=ts, key=key or None, raw=raw)

    sink = sink_for(settings, settings.events_topic)
    try:
        for item in paced(lines(), speed):
            sink.send_raw(item["key"], item["raw"])
    finally:
        sink.close()
    click.echo(f"published {sink.sent} lines to {settings.events_topic}", err=True)


@cli.command()
@click.option("--from", "from_", required=True, metavar="TIME",
              help="Start of the stretch (ISO 8601, centre zone if no offset).")
@click.option("--to", "to", required=True, metavar="TIME", help="End of the stretch.")
@click.option("--source", default="archive", show_default=True, metavar="archive|kafka|FILE",
              help="The archive, the events topic, or a file (JSON lines or Asterisk queue_log).")
@click.option("--speed", default="max", show_default=True, metavar="N|max",
              help="Multiple of real time for the event clock; max: straight to --to.")
@click.option("--session", default=None, help="Session name (default: replay-<from>).")
@click.pass_context
def replay(ctx: click.Context, from_: str, to: str, source: str, speed: str,
           session: str | None) -> None:
    """Replay a stretch of the event log in a session of its own, never touching live data.

    Watch it at /board?session=NAME and /supervisor/?session=NAME (docs/review.md).
    """
    from review.replay import run_replay

    settings = _settings(ctx)
    from_ms, to_ms = _stretch(settings, from_, to, source)
    try:
        pace = None if speed == "max" else float(speed)
    except ValueError as exc:
        raise click.BadParameter(f"--speed {speed!r}: a number or max") from exc
    if pace is not None and pace <= 0:
        raise click.BadParameter("--speed must be above 0")
    name = session or "replay-" + datetime.fromtimestamp(
        from_ms / 1000, settings.zone).strftime("%Y%m%d-%H%M")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run_replay(settings, name=name, source=source, from_ms=from_ms, to_ms=to_ms,
                            speed=pace)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo(f"session {name} stopped", err=True)
        return
    click.echo(json.dumps({"session": name, "queues": result.queues(),
                           "alerts": len(result.alerts),
                           "board": f"/board?session={name}"}), err=False)


@cli.command("incident-report")
@click.option("--from", "from_", required=True, metavar="TIME",
              help="Start of the stretch (ISO 8601, centre zone if no offset).")
@click.option("--to", "to", required=True, metavar="TIME", help="End of the stretch.")
@click.option("--source", default="archive", show_default=True, metavar="archive|kafka|FILE",
              help="The archive, the events topic, or a file (JSON lines or Asterisk queue_log).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="Folder for report.html and the CSV files.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--what-if", "what_if", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A settings file over the configuration (another SL formula or "
              "threshold, another ladder): the stretch runs twice, shown side by side.")
@click.option("--add-agents", default=None, metavar="N|QUEUE=N,...",
              help="Estimate the stretch with more agents (a queueing model on the recorded "
              "calls, labelled as an estimate): N in all, spread over the queues by their "
              "calls in the stretch, or so many per queue (GEN=2,BIZ=1).")
@click.option("--from-minute", type=click.IntRange(0), default=0, show_default=True,
              help="With --add-agents: minutes after --from when they start.")
@click.pass_context
def incident_report(ctx: click.Context, from_: str, to: str, source: str, out: Path,
                    lang: str, what_if: Path | None, add_agents: str | None,
                    from_minute: int) -> None:
    """One self-contained HTML report and CSV files on a stretch (docs/review.md)."""
    from base.config import load_what_if
    from review.incident_report import (
        build_incident_report,
        estimate_incident_report,
        extra_agents,
        write_incident_report,
    )

    settings = _settings(ctx)
    from_ms, to_ms = _stretch(settings, from_, to, source)
    other = None
    if what_if is not None:
        try:
            alternative = load_what_if(ctx.obj.get("config"), what_if)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        other = (what_if.name, build_incident_report(alternative, source, from_ms, to_ms))
    report = build_incident_report(settings, source, from_ms, to_ms)
    estimate = None
    if add_agents:
        if not re.fullmatch(r"\d{1,3}|([A-Za-z0-9_.-]+=\d{1,3})(,[A-Za-z0-9_.-]+=\d{1,3})*",
                            add_agents):
            raise click.BadParameter("N, or QUEUE=N[,QUEUE=N...]", param_hint="--add-agents")
        extra = extra_agents(report, add_agents, settings)
        estimate = (extra, from_minute,
                    *estimate_incident_report(settings, report, extra, from_minute))
    page = write_incident_report(settings, report, out, lang, what_if=other, estimate=estimate)
    click.echo(str(page))


@cli.command()
@click.option("--clock", type=click.Choice(["wall", "event"]), default=None,
              help="Override the clock setting (event = replay/post-incident).")
@click.pass_context
def worker(ctx: click.Context, clock: str | None) -> None:
    """Run the Faust worker: count events, write snapshots to Redis."""
    from streams.app import run_worker

    run_worker(_settings(ctx, clock=clock), loglevel=ctx.obj["log_level"])


@cli.command()
@click.option("--host", default=None, help="Listen address (default: board_host setting).")
@click.option("--port", type=int, default=None, help="Port (default: board_port setting).")
@click.option("--dev", is_flag=True,
              help="Flask's development server instead of waitress.")
@click.pass_context
def board(ctx: click.Context, host: str | None, port: int | None, dev: bool) -> None:
    """Serve the wallboard (/board, /supervisor/, /console) from the snapshots in Redis."""
    from wallboard.server import serve

    serve(_settings(ctx, board_host=host, board_port=port), dev=dev)


@cli.command()
@click.option("--events", "events_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--interval", type=click.Choice(["30m", "1h", "day", "month", "all"]),
              default="30m", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
@click.option("--tickets", is_flag=True,
              help="Consultation and complaint figures (A4-A7) per queue and interval, by "
                   "the interval each ticket was opened in; --interval month is the manual's.")
@click.option("--sl-threshold-s", type=click.IntRange(0, 3600), default=None,
              help="Service-level threshold T for every queue (default: configured).")
@click.option("--sl-formula", type=click.Choice(
    ["offered", "answered", "abandons_ignored", "abandons_met"]), default=None,
              help="Service-level formula for every queue (default: configured).")
@click.option("--short-abandon-s", type=click.IntRange(0, 600), default=None,
              help="Short-abandon limit for every queue, 0 = no exclusion (default: configured).")
@click.option("--by-agent", is_flag=True,
              help="One row per queue, agent and interval (handled, AHT, B10, B12, hours).")
@click.pass_context
def report(ctx: click.Context, events_path: Path, interval: str, fmt: str, tickets: bool,
           sl_threshold_s: int | None, sl_formula: str | None,
           short_abandon_s: int | None, by_agent: bool) -> None:
    """KPIs per queue and interval from an event file; no services needed."""
    from core.report import AGENT_ROW_KEYS, ROW_KEYS, report_rows, ticket_rows, write_report

    settings = _settings(ctx).override_all(
        sl_threshold_s=sl_threshold_s, sl_formula=sl_formula, short_abandon_s=short_abandon_s)
    pipeline, result = _fold_file(events_path, settings)
    if tickets:
        rows = ticket_rows(pipeline, interval)
        write_report(rows, fmt, sys.stdout, tuple(rows[0]) if rows else ("queue",))
    else:
        rows = report_rows(pipeline, interval, by_agent)
        write_report(rows, fmt, sys.stdout, AGENT_ROW_KEYS if by_agent else ROW_KEYS)
    _print_rejects(pipeline, result)


def _fold_file(path: Path, settings: Settings) -> tuple[Any, Any]:
    """A file through the pipeline the worker runs (core.pipeline.fold_file)."""
    import time

    from base.assemble import pipeline_rules
    from core.pipeline import fold_file

    with path.open("rb") as fh:
        return fold_file(pipeline_rules(settings, offline=True), fh, int(time.time() * 1000))


def _print_rejects(pipeline: Any, result: Any) -> None:
    stats = pipeline.stats
    rejected = ", ".join(f"{k.removeprefix('dead_letter.')} {v}" for k, v in sorted(stats.items())
                         if k.startswith("dead_letter.")) or "none"
    tickets = (f", {stats['tickets_counted']} ticket events" if stats.get("tickets_counted")
               else "")
    click.echo(f"{stats['events_in']} events read, {stats['events_counted']} counted{tickets}, "
               f"{stats['duplicates']} duplicates, rejected: {rejected}", err=True)
    # A count alone cannot be looked into: up to five examples of each reason, with the
    # rule and the call (or line) they name.
    shown: dict[str, int] = {}
    for dead in result.dead:
        shown[dead.reason] = shown.get(dead.reason, 0) + 1
        if shown[dead.reason] <= 5:
            where = f"line {dead.record.offset + 1}" if dead.record.offset >= 0 else "event"
            click.echo(f"  {dead.reason}: {where}: {dead.detail}", err=True)


ALERT_COLUMNS = ("queue", "step", "direction", "event_time", "waiting", "mode", "name_zh",
                 "name_en", "action_zh", "action_en", "staff_group", "seats", "seats_needed",
                 "breach_in_s", "early_in_s", "late_in_s")


@cli.command()
@click.option("--events", "events_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
@click.option("--warnings/--no-warnings", default=True, show_default=True,
              help="Include the breach warnings (step 0, direction warn / warn_end).")
@click.pass_context
def alerts(ctx: click.Context, events_path: Path, fmt: str, warnings: bool) -> None:
    """Every surge-ladder step change and breach warning an event file fires
    (docs/escalation.md)."""
    import csv

    from core.report import safe_cell

    settings = _settings(ctx)
    pipeline, result = _fold_file(events_path, settings)
    docs = [d for d in result.alerts if warnings or "forecast" not in d]
    rows: list[dict[str, object]] = []
    for d in docs:
        row: dict[str, object] = {
            **{k: d[k] for k in ("queue", "step", "direction", "event_time", "waiting", "mode")},
            **{k: d["rung"][k] for k in ("name_zh", "name_en", "action_zh", "action_en",
                                         "staff_group", "seats")},
            "seats_needed": (d["seats_needed"] or {}).get("agents")}
        forecast = d.get("forecast")
        if forecast is not None:  # when step 1 was forecast, in seconds from the warning
            row.update({k: forecast[k] for k in ("breach_in_s", "early_in_s", "late_in_s")})
        rows.append(row)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=ALERT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else safe_cell(v) for k, v in r.items()}
                         for r in rows)

    _print_rejects(pipeline, result)

@cli.command()
@click.option("--calls", type=click.FloatRange(min=0), required=True,
              help="Calls arriving in the interval.")
@click.option("--interval-s", type=click.FloatRange(min=0, min_open=True), default=1800,
              show_default=True)
@click.option("--aht-s", type=click.FloatRange(min=0, min_open=True), required=True)
@click.option("--target-s", type=click.FloatRange(min=0), default=20, show_default=True)
@click.option("--service-level", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.8, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def erlang(calls: float, interval_s: float, aht_s: float, target_s: float,
           service_level: float, as_json: bool) -> None:
    """Agents needed (Erlang C) for a call volume, AHT and service-level target."""
    from core.erlang import agents_needed

    result = agents_needed(calls, interval_s, aht_s, target_s, service_level)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        click.echo(f"{result.agents} agents: service level {result.service_level:.1%} in "
                   f"{target_s:g} s, ASA {result.asa_s:.1f} s, occupancy {result.occupancy:.1%},"
                   f" P(wait) {result.wait_probability:.1%} ({result.traffic_erlangs:.2f} erlangs)")


@cli.command()
@click.pass_context
def notify(ctx: click.Context) -> None:
    """Deliver surge-ladder alerts (webhook, e-mail) and escalate unacknowledged ones."""
    from alerts.notify import run_notifier

    signal.signal(signal.SIGTERM, _interrupt)
    run_notifier(_settings(ctx))


@cli.group(invoke_without_command=True)
@click.pass_context
def archive(ctx: click.Context) -> None:
    """Keep every event of the events topic, once, in daily files (docs/archive.md).

    With no subcommand: run the archiver until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from review.archive import run_archiver

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_archiver(_settings(ctx))
    except KeyboardInterrupt:
        pass


@archive.command("hash-callers")
@click.pass_context
def archive_hash_callers(ctx: click.Context) -> None:
    """Rewrite an archive written before callers' numbers were hashed at the edge: each
    number hashed with caller_hash_key, its last 4 digits apart. Stop the archiver first
    (docs/operations.md#security)."""
    from review.archive import hash_callers

    settings = _settings(ctx)
    files, changed = hash_callers(Path(settings.archive_dir), settings.events_topic,
                                  settings.caller_hash_key)
    click.echo(f"{changed} events in {files} files rewritten with callers hashed")


@archive.command("check")
@click.pass_context
def archive_check(ctx: click.Context) -> None:
    """Is every record the broker holds in the archive? Names any hole by its offsets;
    exit code 1 when there is one (docs/archive.md#is-the-archive-whole)."""
    from review.archive_check import check_archive

    checks = check_archive(_settings(ctx))
    for check in checks:
        click.echo(check.line())
    if any(c.holes for c in checks):
        raise SystemExit(1)


@cli.command("hash-password")
def hash_password() -> None:
    """A password hash for the console's users file ([users] name = "<hash>").

    Asks twice on the terminal; from a pipe it reads one line. Only the hash goes to
    standard output (prompts go to the terminal's error stream), so
    ``callboard hash-password >> users.toml`` cannot write a prompt into the file."""
    from werkzeug.security import generate_password_hash

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("no password on standard input")
    click.echo(generate_password_hash(password))


@cli.group()
def convert() -> None:
    """Convert an ACD's own log to event schema v1 (JSON lines)."""


@convert.command("asterisk")
@click.argument("queue_log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Events file to write (JSON lines), for report and replay.")
@click.pass_context
def convert_asterisk(ctx: click.Context, queue_log: Path, out: Path) -> None:
    """An Asterisk queue_log, whole (docs/asterisk.md). Prints a summary of every line kind.
    Callers' numbers are written hashed (caller_hash_key), the last 4 digits apart."""
    from producers.asterisk import Converter, convert_lines

    conv = Converter()
    with queue_log.open("rb") as src:
        _write_converted(convert_lines(src, conv), out, _settings(ctx).caller_hash_key,
                         conv.rejected_lines, conv.summary)


@convert.command("freeswitch")
@click.argument("dump", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Events file to write (JSON lines), for report and replay.")
@click.pass_context
def convert_freeswitch(ctx: click.Context, dump: Path, out: Path) -> None:
    """A recorded FreeSWITCH event dump (mod_callcenter's CUSTOM callcenter::info events
    as fs_cli or an ESL client prints them), whole (docs/freeswitch.md). Prints a summary
    of every event kind. Callers' numbers are written hashed (caller_hash_key)."""
    from producers.freeswitch import Converter, convert_events, parse_dump

    conv = Converter()
    with dump.open("rb") as src:
        _write_converted(convert_events(parse_dump(src), conv), out,
                         _settings(ctx).caller_hash_key, conv.rejected, conv.summary)


@convert.command("connect")
@click.argument("records", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Events file to write (JSON lines), for report and replay.")
def convert_connect(records: tuple[Path, ...], out: Path) -> None:
    """Amazon Connect records (contact events from EventBridge, agent event stream
    records from Kinesis; one JSON record a line, or one record a file), in the order
    given (docs/connect.md). Prints a summary of every record kind."""
    from producers.connect import Converter as ConnectConverter

    conv = ConnectConverter()

    def records_in() -> Iterator[bytes]:
        for path in records:
            raw = path.read_bytes()
            stripped = raw.strip()
            # A file holding one pretty-printed record, else one record a line.
            if stripped.startswith(b"{") and b"\n{" not in stripped:
                yield raw
            else:
                yield from (line for line in raw.splitlines() if line.strip())

    _write_converted((e for item in records_in() for e in conv.feed(item)), out, None,
                     conv.rejected, conv.summary)


def _write_converted(events: Iterable[Event], out: Path, caller_key: str | None,
                     rejected: list[tuple[str, str]], summary: Callable[[], dict[str, int]]
                     ) -> None:
    """A converter's events to ``out`` (callers hashed with ``caller_key``), then the
    first rejected inputs and the summary of every kind on stderr."""
    from base.callers import protect
    from core.events import dumps

    count = 0
    with out.open("wb") as dst:
        for event in events:
            dst.write(dumps(protect(event, caller_key) if caller_key else event) + b"\n")
            count += 1
    for reason, text in rejected[:20]:
        click.echo(f"rejected ({reason}): {text[:200]}", err=True)
    click.echo(json.dumps({"events": count, **summary()}, indent=1), err=True)


@cli.group()
def ingest() -> None:
    """Follow an ACD's own log and publish its events to Kafka."""


def _followed_file(name: str, poll_s: float) -> Callable[[Callable[..., None]], Any]:
    """The argument and options every followed ACD file takes (``ingest asterisk``,
    ``tickets``, ``connect``): the file, --follow, --state, --poll-s."""
    def wrap(command: Callable[..., None]) -> Any:
        for option in (
                click.option("--poll-s", type=float, default=poll_s, show_default=True),
                click.option("--state", "state_path",
                             type=click.Path(dir_okay=False, path_type=Path), default=None,
                             help=f"Position file (default: {name}.callboard-position)."),
                click.option("--follow", is_flag=True,
                             help="Keep reading as the file grows (tail -F)."),
                click.argument(name.lower(), type=click.Path(dir_okay=False, path_type=Path))):
            command = option(command)
        return command
    return wrap


def _position(path: Path, state_path: Path | None) -> Path:
    return state_path or path.with_name(path.name + ".callboard-position")


@ingest.command("tickets")
@_followed_file("EXPORT", 0.5)
@click.pass_context
def ingest_tickets_cmd(ctx: click.Context, export: Path, follow: bool, state_path: Path | None,
                       poll_s: float) -> None:
    """Publish a CRM's ticket export (CSV or JSON lines; tickets.columns maps its
    columns) as ticket and survey events, resuming where it stopped."""
    from producers.ingest import ingest_tickets

    settings = _settings(ctx)
    signal.signal(signal.SIGTERM, _interrupt)
    summary = ingest_tickets(settings, export, _position(export, state_path), follow=follow,
                             poll_s=poll_s)
    click.echo(json.dumps(summary), err=True)


@cli.command()
@click.pass_context
def intake(ctx: click.Context) -> None:
    """Receive a CRM's ticket and survey events over HTTP (POST /intake/tickets, signed
    with tickets.intake_secret) and publish them."""
    from producers.intake import run_intake

    run_intake(_settings(ctx))


@ingest.command("asterisk")
@_followed_file("QUEUE_LOG", 0.2)
@click.pass_context
def ingest_asterisk(ctx: click.Context, queue_log: Path, follow: bool, state_path: Path | None,
                    poll_s: float) -> None:
    """Publish an Asterisk queue_log's events to the events topic, resuming where it stopped."""
    from producers.ingest import ingest_queue_log

    settings = _settings(ctx)
    signal.signal(signal.SIGTERM, _interrupt)
    ingest_queue_log(settings, queue_log, _position(queue_log, state_path), follow=follow,
                     poll_s=poll_s)


def _host_port(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r}: give HOST:PORT, for example 127.0.0.1:8021")
    return host, int(port)


@ingest.command("connect")
@_followed_file("RECORDS", 0.5)
@click.pass_context
def ingest_connect_cmd(ctx: click.Context, records: Path, follow: bool, state_path: Path | None,
                       poll_s: float) -> None:
    """Publish a file of Amazon Connect records (one JSON record a line: contact events
    and agent event stream records, as a Firehose or a Lambda writes them) to the events
    topic, resuming where it stopped (docs/connect.md)."""
    from producers.ingest import ingest_connect

    settings = _settings(ctx)
    signal.signal(signal.SIGTERM, _interrupt)
    summary = ingest_connect(settings, records, _position(records, state_path), follow=follow,
                             poll_s=poll_s)
    click.echo(json.dumps(summary, indent=1), err=True)


@ingest.command("freeswitch")
@click.option("--esl", required=True, callback=_host_port, metavar="HOST:PORT",
              help="FreeSWITCH's event socket (mod_event_socket, inbound; 8021 by default).")
@click.pass_context
def ingest_freeswitch(ctx: click.Context, esl: tuple[str, int]) -> None:
    """Publish FreeSWITCH mod_callcenter's events, live from the event socket, to the
    events topic; reconnects with backoff, and says the source down meanwhile (every wall's
    banner). The password is the freeswitch_password setting (or
    CALLBOARD_FREESWITCH_PASSWORD). docs/freeswitch.md."""
    from producers.esl import ingest_esl

    settings = _settings(ctx)
    signal.signal(signal.SIGTERM, _interrupt)
    summary = ingest_esl(settings, *esl, settings.freeswitch_password)
    click.echo(json.dumps(summary, indent=1), err=True)


@cli.command()
@click.option("--board-port", type=int, default=8050, show_default=True)
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Simulator speed (multiple of real time).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".state"), show_default=True,
              help="Logs of the child processes, and the archive of every event.")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Worker processes sharing the events topic's partitions.")
@click.option("--events", "events_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Publish this recorded event log (at --speed) instead of simulating.")
@click.option("--roll-every", "roll_every_s", type=click.FloatRange(min=0), default=None,
              metavar="SECONDS", help="Roll the local broker this often (local_roll_every_s; "
              "by default it rolls at local_roll_at).")
@click.pass_context
def up(ctx: click.Context, board_port: int, speed: float, state_dir: Path, workers: int,
       events_path: Path | None, roll_every_s: float | None) -> None:
    """Start the local stack: broker, redis-server, worker(s), notifier, archiver, simulator
    (or a recorded log) and board; roll the broker at the quiet hour."""
    from callboard.localstack import run_local_stack

    run_local_stack(ctx.obj["config"], board_port=board_port, speed=speed, state_dir=state_dir,
                    workers=workers, events=events_path, roll_every_s=roll_every_s)


def main() -> None:
    cli(prog_name="callboard")


if __name__ == "__main__":
    main()
