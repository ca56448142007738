"""Every label callboard shows or sends, in Chinese and English: one catalogue.

Sections by where the text appears (the wall and supervisor pages; the incident
report; the console and replay pages; the notifier's messages), because the same
word is worded for its place ("longest" is a big LED figure on the wall and a
column in seconds in the report). ``Labels(section)`` looks one up; a missing key is
a KeyError at once, never a blank on a wall.
"""

from __future__ import annotations

from urllib.parse import parse_qs

__all__ = ["BOARD", "LANGS", "MESSAGES", "PAGES", "REPORT", "Labels", "lang_from_query"]

LANGS = ("zh", "en")

_BOARD: dict[str, tuple[str, str]] = {
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
    "calls": ("{n}通", "{n} calls"),
    "one_call": ("1通", "1 call"),
    "over": ("超标", "OVER"),
    "near": ("接近", "NEAR"),
    "warn_badge": ("预警：{n} 分钟后一级", "STEP 1 IN {n} MIN"),
    # Tickets (manual lines 501-531): open, due soon (75% of the limit), overdue.
    "tickets": ("工单", "Tickets"),
    "tickets_due_soon": ("将超时", "due soon"),
    "tickets_overdue": ("超时", "overdue"),
    "tickets_overdue_badge": ("工单超时", "TICKET OVERDUE"),
    "ticket_next": ("下一单 {what} {n} 分钟", "next {what} in {n} min"),
    "ticket_next_late": ("{what} 已超时 {n} 分钟", "{what} {n} min late"),
    "consultation_short": ("咨询", "consult."),
    "centre_tickets": ("全中心工单", "Centre tickets"),
    "ticket_level_n": ("{n}级", "L{n}"),
    "drill_tickets": ("超时及将超时的工单", "Tickets overdue or due soon"),
    "tickets_month": ("本月咨询与投诉指标", "This month's consultation and complaint figures"),
    "ticket": ("工单", "Ticket"),
    "ticket_level": ("级别", "Level"),
    "ticket_owner": ("受理人", "Owner"),
    "ticket_due": ("时限", "Due"),
    "ticket_state": ("状态", "State"),
    "figure": ("指标", "Figure"),
    "value": ("本月", "This month"),
    "a_level1_on_time_rate": ("1级投诉按时解决率", "Level 1 complaints resolved in time"),
    "a_level2_on_time_rate": ("2级投诉按时解决率", "Level 2 complaints resolved in time"),
    "a_level3_on_time_rate": ("3级投诉按时解决率", "Level 3 complaints resolved in time"),
    "a_level4_on_time_rate": ("4级投诉按时解决率", "Level 4 complaints resolved in time"),
    "a_consultation_reply_rate": ("客户咨询回复率", "Consultation reply rate"),
    "a_consultation_on_time_reply_rate": ("客户咨询回复及时率", "Consultations replied in time"),
    "a_complaint_reply_rate": ("客户投诉回复率", "Complaint reply rate"),
    "a_complaint_on_time_reply_rate": ("客户投诉回复及时率", "Complaints replied in time"),
    "a_repeat_complaint_rate": ("客户重复投诉率", "Repeat complaint rate"),
    "a_consultation_satisfaction": ("客户咨询满意率", "Consultation satisfaction"),
    "a_complaint_satisfaction": ("客户投诉满意率", "Complaint satisfaction"),
    "a_cross_province_complaint_satisfaction": ("跨省投诉满意率",
                                                "Cross-province complaint satisfaction"),
    "a_key_account_complaint_satisfaction": ("大客户投诉满意率", "Key-account complaint satisfaction"),
    "page": ("第 {n}/{of} 页", "page {n}/{of}"),
    "drill": ("明细", "drill-down"),
    "drill_waiting": ("正在排队的来电", "Callers waiting now"),
    "drill_agents": ("坐席", "Agents"),
    "drill_abandoned": ("最近放弃的来电（最多50个）", "Last calls abandoned (up to 50)"),
    "position": ("位置", "Position"),
    "waited": ("等待", "Waited"),
    "caller": ("来电号码", "Caller"),
    "in_state": ("状态时长", "In state"),
    "at": ("时间", "At"),
    "no_wall": ("没有名为 {name} 的看板（见 walls 配置）", "no wall named {name} (see the walls setting)"),
    "centre": ("全中心", "Whole centre"),
    "dead_letters": ("异常事件", "rejected events"),
    "rejected_banner": ("近15分钟拒收事件 {n} / {total}（{pct}），主要原因：{reason}",
                        "REJECTED EVENTS: {n} of {total} in the last 15 min ({pct}), "
                        "mostly {reason}"),
    "source_down": ("ACD 数据源中断：{names}，自 {since} 起；其后的呼叫未计入",
                    "ACD FEED DOWN: {names} since {since}; calls since are not counted"),
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
    "too_long": ("超时", "TOO LONG"),
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

_REPORT: dict[str, tuple[str, str]] = {
    "title": ("事件复盘报告", "Incident report"),
    "range": ("时段", "Range"),
    "source": ("数据来源", "Source"),
    "moments": ("关键时刻", "Key moments"),
    "first_breach_ms": ("首次超限（排队超过 {t} 人）", "First breach (more than {t} waiting)"),
    "peak_waiting": ("排队峰值", "Peak waiting"),
    "peak_longest_wait_s": ("最长等待峰值", "Peak longest wait"),
    "recovered_ms": ("恢复（排队不超过 {t} 人）", "Recovered (no more than {t} waiting)"),
    "surge_ms": ("全中心排队超过 {t} 人已满 5 分钟（阶梯第 1 步的条件）",
                 "Whole centre: more than {t} waiting for 5 minutes (the ladder's step-1 condition)"),
    "same_rule": ("两列的关键时刻由各自的逐分钟排队人数按同一规则算出，差异只来自所比较的设置或模型。",
                  "Both columns' key moments come from their own minute-by-minute waiting by the same rules: a difference comes only from the settings or the model compared."),
    "recovery_s": ("从超限到恢复", "Breach to recovery"),
    "none": ("无", "none"),
    "not_recovered": ("到时段结束仍未恢复", "not recovered by the end of the range"),
    "timeline": ("逐分钟时间线", "Minute by minute"),
    "waiting": ("排队", "Waiting"),
    "longest": ("最长等待（秒）", "Longest wait (s)"),
    "available": ("空闲", "Available"),
    "on_call": ("通话", "On call"),
    "not_ready": ("未就绪", "Not ready"),
    "seats_needed": ("所需坐席", "Seats needed"),
    "staffed": ("在岗", "Staffed"),
    "intervals": ("服务水平、放弃率、平均应答（每5分钟）",
                  "Service level, abandonment, ASA (per 5 min)"),
    "service_level": ("服务水平", "Service level"),
    "abandon_rate": ("放弃率", "Abandonment"),
    "asa_s": ("平均应答（秒）", "ASA (s)"),
    "target": ("目标", "target"),
    "ladder": ("升级阶梯", "Surge ladder"),
    "step": ("步骤", "Step"),
    "direction": ("方向", "Direction"),
    "up": ("升级", "up"), "down": ("降级", "down"),
    "warn": ("预警", "warning"), "warn_end": ("预警解除", "warning over"),
    "ticket_due": ("投诉将超时", "complaint due soon"),
    "ticket_overdue": ("投诉已超时", "complaint overdue"),
    "mark_warn": ("一级预警", "Step 1 warning"), "mark_up": ("升级", "Step up"),
    "queue": ("队列", "Queue"),
    "time": ("时间", "Time"),
    "notified": ("通知", "Notified"),
    "acknowledged": ("确认", "Acknowledged"),
    "not_recorded": ("未记录（该时段不在本系统实时运行）", "not recorded (the range was not live here)"),
    "abandoned": ("放弃的来电", "Calls abandoned"),
    "wait_s": ("等待（秒）", "Waited (s)"),
    "not_ready_reasons": ("事件期间未就绪时长（按原因，秒）",
                          "Not-ready time during the incident (by reason, s)"),
    "no_reason": ("（未给原因）", "(no reason given)"),
    "config": ("所用配置", "Configuration used"),
    "csv": ("CSV 文件", "CSV files"),
    "what_if": ("假设分析：同一时段，另一套规则", "What if: the same stretch under other rules"),
    "as_run": ("现行配置", "As configured"),
    "alternative": ("假设（{name}）", "What if ({name})"),
    "changed": ("改变的配置", "Settings changed"),
    "ladder_steps": ("升级阶梯步骤", "Ladder steps"),
    "half_hour": ("半小时", "Half hour"),
    "centre": ("全中心", "Whole centre"),
    "estimate": ("估算（模型，并非记录）：{at} 起共增加 {n} 名坐席（{where}）",
                 "Estimate (a model, not a recording): {n} more agents in all from {at} ({where})"),
    "model": ("模型：现有坐席", "Model: the agents there were"),
    "model_plus": ("模型：{at} 起 +{n} 名坐席", "Model: +{n} agents from {at}"),
}

# The console and the replay page.
_PAGES: dict[str, tuple[str, str]] = {
    "escalations": ("升级告警", "Open escalations"),
    "audit_trail": ("审计记录", "Audit trail"),
    "queue": ("队列", "Queue"),
    "step": ("步", "Step"),
    "step_name": ("名称", "Step name"),
    "action": ("措施", "Action"),
    "waiting": ("排队", "Waiting"),
    "since": ("时间", "Since"),
    "level": ("级别", "Level"),
    "ack": ("确认", "Ack"),
    "acknowledge": ("确认", "Acknowledge"),
    "no_users": ("确认功能未开启：未配置 escalation.users_file",
                 "Acknowledging is off: no escalation.users_file is configured"),
    "replay_sessions": ("回放", "Replay sessions"),
    "refresh": ("刷新", "refresh"),
    "replay_note": ("回放使用与实时看板相同的计算代码，从不改变实时数据，也不发送告警。",
                    "A replay runs the live board's own code; it never changes live data or sends an alert."),
    "session": ("会话", "Session"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "source": ("来源", "Source"),
    "speed": ("速度", "Speed"),
    "start": ("开始回放", "Start"),
    "range": ("时段", "Range"),
    "status": ("状态", "Status"),
    "clock": ("回放时间", "Clock"),
    "alerts": ("告警", "Alerts"),
    "watch": ("查看", "Watch"),
    "controls": ("控制", "Controls"),
    "board": ("看板", "board"),
    "supervisor": ("值班长", "supervisor"),
    "report": ("报告", "report"),
    "play": ("继续", "Play"),
    "pause": ("暂停", "Pause"),
    "jump": ("跳转", "Jump"),
    "displays": ("看板显示屏", "Wall displays"),
    "displays_note": ("每块屏每秒向看板服务器报到一次；超过 {n} 秒未报到的屏标为失联。",
                      "Each display reports to the board's server every refresh; one silent "
                      "for more than {n} s is marked lost."),
    "display": ("显示屏", "Display"),
    "wall": ("看板", "Wall"),
    "screen": ("屏幕尺寸", "Screen"),
    "language": ("语言", "Language"),
    "address": ("地址", "Address"),
    "last_seen": ("最后报到", "Last seen"),
    "seen_ago": ("{n} 秒前", "{n} s ago"),
    "lost": ("失联", "LOST"),
    "browser": ("浏览器", "Browser"),
    "ack_title": ("升级告警", "Escalation"),
    "ack_button": ("已确认", "Acknowledge"),
    "ack_open": ("请确认您已看到并正在处理。", "Tap to say you have seen it and are on it."),
    "ack_done": ("{who} 已于 {at} 确认。", "Acknowledged by {who} at {at}."),
    "ack_moved": ("此告警已有新进展（现为第 {step} 步）：请使用最新消息中的链接。",
                  "This alert has moved on (now step {step}): use the link in the newest message."),
    "ack_closed": ("此告警已结束，无需确认。", "This alert is over: nothing to acknowledge."),
    "link_expired": ("链接已过期。", "This link has expired."),
    "link_tampered": ("链接无效。", "This link is not valid."),
    "link_off": ("一键确认未开启。", "One-tap acknowledgement is off."),
    "step_at": ("第 {step} 步 · {at}", "Step {step} · {at}"),
    "ticket_alert_line": ("投诉单 {id} · {level} 级 · 受理人 {owner}",
                          "Complaint {id} · level {level} · owner {owner}"),
    "ack_ticket_gone": ("此投诉告警已被超时告警取代或早已处理完毕：请使用最新消息中的链接。",
                        "This complaint's alert was overtaken by its overdue alert, or was "
                        "settled long ago: use the link in the newest message."),
    "complaint_alerts": ("投诉告警", "Complaint alerts"),
    "open_drill": ("打开队列详情", "Open the queue in detail"),
    "warn_at": ("预警 · {at}：约 {n} 分钟后可能触发第 1 步", "Warning · {at}: step 1 likely in ~{n} min"),
    "now_figures": ("现在", "Now"),
    "longest": ("最长等待", "Longest wait"),
    "told": ("已通知", "Told"),
    "for": ("发给", "For"),
    "other_lang": ("English", "中文"),
}


class Labels:
    """One section of the catalogue: ``labels(key, lang, **fields)`` -> the text."""

    def __init__(self, section: str, table: dict[str, tuple[str, str]]) -> None:
        self.section = section
        self.table = table

    def __call__(self, key: str, lang: str, **fields: object) -> str:
        zh, en = self.table[key]
        text = zh if lang == "zh" else en
        return text.format(**fields) if fields else text

    def both(self, key: str, **fields: object) -> str:
        """"中文 English", for a page that shows both languages at once."""
        return f"{self(key, 'zh', **fields)} {self(key, 'en', **fields)}"

    def slash(self, key: str, **fields: object) -> str:
        """"中文 / English": a heading or a button in both languages."""
        return f"{self(key, 'zh', **fields)} / {self(key, 'en', **fields)}"


# The notifier's messages (phone notifications, e-mail), around the rung's own names.
_MESSAGES: dict[str, tuple[str, str]] = {
    "up": ("升级", "step up"),
    "down": ("降级", "step down"),
    "warn": ("预警", "warning"),
    "warn_end": ("预警解除", "warning over"),
    "warn_title": ("{queue} 预警：约 {n} 分钟后可能触发第 1 步", "{queue} warning: step 1 likely in ~{n} min"),
    "warn_end_title": ("{queue} 预警解除：风险已过", "{queue} warning over: the risk has passed"),
    "ticket_due": ("将超时", "due soon"),
    "ticket_overdue": ("已超时", "overdue"),
    "ticket_title": ("{queue} {name}：工单 {ticket}", "{queue} {name}: ticket {ticket}"),
    "ticket_line": ("受理人 {owner}，时限 {due}", "Owner {owner}, due {due}"),
    "warn_forecast": ("预测：约 {n} 分钟（{early}-{late}）；来电 {arrivals}/分钟，可接 {capacity}/分钟（{agents} 名坐席）",
                      "Forecast: ~{n} min ({early}-{late}); calls {arrivals}/min, agents can take {capacity}/min ({agents} agents)"),
    "subject": ("[callboard] {queue} {verb} -> {step}: {name_zh} / {name_en}",
                "[callboard] {queue} {verb} -> {step}: {name_zh} / {name_en}"),
    "situation": ("{at}  排队 {waiting}  模式 {mode}", "{at}  waiting {waiting}  mode {mode}"),
    "staffing": ("{action} ({group}，座席 {seats})", "{action} ({group}, seats {seats})"),
    "seats_needed": ("当前所需坐席（Erlang C）：{n}（在岗 {staffed}）",
                     "Seats needed now (Erlang C): {n} (staffed {staffed})"),
    "escalated": ("未确认：已升级到第 {level} 级。", "Not acknowledged: escalated to level {level}."),
    "phone_title": ("{queue} {verb}至第 {step} 步：{name}", "{queue} {verb} to step {step}: {name}"),
    "phone_action": ("措施：{action}", "Do: {action}"),
    "phone_at": ("{time} 排队 {waiting} 人", "{time}: {waiting} waiting"),
    "phone_now": ("现在：排队 {waiting} 人，最长等待 {longest}", "Now: {waiting} waiting, longest wait {longest}"),
    "phone_seats": ("所需坐席 {n}，在岗 {staffed}", "Seats needed {n}, staffed {staffed}"),
    "phone_ack": ("一键确认：{url}", "Acknowledge with one tap: {url}"),
    "phone_drill": ("队列详情：{url}", "The queue in detail: {url}"),
}

BOARD = Labels("board", _BOARD)
MESSAGES = Labels("messages", _MESSAGES)
REPORT = Labels("report", _REPORT)
PAGES = Labels("pages", _PAGES)


def lang_from_query(search: str | None, default: str = "zh") -> str:
    """``?lang=en`` -> "en"; anything else -> the default."""
    values = parse_qs((search or "").lstrip("?")).get("lang", [])
    return values[0] if values and values[0] in LANGS else default
