"""Board labels in Chinese and English."""

from __future__ import annotations

__all__ = ["LANGS", "label", "lang_from_query"]

LANGS = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {
    "title": ("热线实时监控", "Hotline live board"),
    "waiting": ("排队", "Waiting"),
    "longest": ("最长等待", "Longest wait"),
    "sl": ("服务水平", "Service level"),
    "abandon": ("放弃率", "Abandoned"),
    "asa": ("平均应答", "ASA"),
    "available": ("空闲", "Available"),
    "on_call": ("通话", "On call"),
    "acw": ("话后", "Wrap-up"),
    "not_ready": ("未就绪", "Not ready"),
    "interval": ("半小时", "30 min"),
    "today": ("今日", "today"),
    "age": ("数据{age}前", "data {age} old"),
    "stale": ("数据已停止更新", "DATA STALE"),
    "stale_detail": ("最后更新于 {age} 前，数字不是实时的", "last update {age} ago: figures are not live"),
    "no_data": ("暂无数据", "no data yet"),
    "source_lost": ("事件流 (Kafka) 中断 {age}，数字不是实时的",
                    "event stream (Kafka) lost for {age}: figures are not live"),
    "stalled": ("计数停滞 {age}：有事件未被读取，数字不是实时的",
                "counting stalled for {age}: events are waiting unread, figures are not live"),
    "redis_down": ("无法读取数据源 (Redis)", "cannot read the data store (Redis)"),
    "board_down": ("看板与服务器断开连接", "board lost its server"),
    "as_of": ("数据时间", "as of"),
    "replay": ("回放 {at}", "REPLAY {at}"),
    "replay_age": ("回放 {at} 的数据", "replay, as of {at}"),
    "replay_detail": ("会话 {name} · {status} · 不是实时数据", "session {name} · {status} · not live"),
    "replay_missing": ("没有名为 {name} 的回放会话（已过期或未开始）",
                       "no replay session {name} (expired or never started)"),
    "running": ("播放中", "playing"),
    "paused": ("已暂停", "paused"),
    "done": ("已完成", "finished"),
    "vip": ("贵宾", "VIP"),
    "centre": ("全中心", "Whole centre"),
    "dead_letters": ("异常事件", "rejected events"),
    "seats_short": ("需/在岗", "need/staffed"),
    "seats_needed": ("所需台数/在岗", "Seats needed / staffed"),
    "seats_help": ("按近15分钟呼入量和平均处理时长以Erlang C计算达到服务水平目标所需的坐席数",
                   "Erlang C: agents needed to meet the SL target at the last 15 minutes' "
                   "volume and AHT, against agents signed in now"),
    "step": ("第{n}步", "step {n}"),
    "supervisor": ("值班长视图", "Supervisor view"),
    "window": ("时段", "Window"),
    "rolling_15": ("近15分钟", "last 15 min"),
    "rolling_30": ("近30分钟", "last 30 min"),
    "rolling_60": ("近60分钟", "last 60 min"),
    "day": ("今日累计", "day so far"),
    "queue": ("队列", "Queue"),
    "formula": ("服务水平公式", "SL formula"),
    "agent": ("坐席", "Agent"),
    "state": ("状态", "State"),
    "logged_out": ("已签出", "Logged out"),
    "handled": ("处理", "Handled"),
    "signed_in_h": ("签入小时", "Signed-in h"),
    "agents_today": ("坐席今日明细", "Agents today"),
    "trend_sl": ("服务水平（每半小时）", "Service level by half hour"),
    "trend_asa": ("平均应答速度（每半小时）", "ASA by half hour"),
    "trend_abandon": ("放弃率（每半小时）", "Abandonment by half hour"),
    "trend_volume": ("呼叫量（每半小时，按类型）", "Calls by half hour, by type"),
    "target": ("目标", "target"),
    "manual_line": ("手册第{line}行", "manual line {line}"),
    "check": ("偏离目标时检查", "When off target, check"),
    "planned": ("计划", "planned"),
    "formula_offered": ("B20 {t}秒内接通/呼入", "B20 answered in {t}s / offered"),
    "formula_answered": ("{t}秒内接通/接通", "answered in {t}s / answered"),
    "formula_abandons_ignored": ("{t}秒内接通/(呼入-{t}秒内放弃)", "in {t}s / (offered - abandoned in {t}s)"),
    "formula_abandons_met": ("({t}秒内接通+放弃)/呼入", "(answered + abandoned in {t}s) / offered"),
}


def label(key: str, lang: str, **fmt: object) -> str:
    zh, en = _LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text


def lang_from_query(search: str | None, default: str = "zh") -> str:
    """``?lang=en`` -> "en"; anything else -> the default."""
    from urllib.parse import parse_qs

    values = parse_qs((search or "").lstrip("?")).get("lang", [])
    return values[0] if values and values[0] in LANGS else default
