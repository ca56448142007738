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
    "redis_down": ("无法读取数据源 (Redis)", "cannot read the data store (Redis)"),
    "board_down": ("看板与服务器断开连接", "board lost its server"),
    "as_of": ("数据时间", "as of"),
    "vip": ("贵宾", "VIP"),
    "centre": ("全中心", "Whole centre"),
    "dead_letters": ("异常事件", "rejected events"),
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
