"""Every KPI callboard computes: name, manual line, formula, default target and help.

Plain data, shared by the worker (targets in snapshots), ``callboard report``
(the column list), the board (labels, colours and the help shown on each
figure) and docs/kpis.md, which a test keeps in step with this table.
The "monitoring measures" are the manual's own lists of what to check when a
figure is off target, shortened (chapter 4, section 2, lines 533-764).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOG", "KPI", "by_key"]


@dataclass(frozen=True)
class KPI:
    key: str            # the snake_case key in snapshots and report rows
    code: str           # the manual's number (A1, B20, ...)
    zh: str
    en: str
    unit: str           # "ratio", "s", "count", "rings", "per_h", "h"
    line: int           # where the manual defines it
    formula: str
    target_min: float | None = None
    target_max: float | None = None
    vip_min: float | None = None   # stricter VIP-line target, where the manual gives one
    vip_max: float | None = None
    check_zh: str = ""
    check_en: str = ""


CATALOG: tuple[KPI, ...] = (
    KPI("connection_rate", "A1", "系统接通率", "Connection rate", "ratio", 508,
        "offered (incl. short abandons) / (offered + blocked)", target_min=0.85,
        check_zh="查中继与线路容量、忙音时段（见忙音率）。",
        check_en="Check trunk capacity and when calls are blocked (see busy rate)."),
    KPI("answer_rate", "A2", "人工台应答率", "Agent answer rate", "ratio", 509,
        "answered within answer_limit_s (60 s) / offered", target_min=0.85, vip_min=0.95,
        check_zh="客户等待超过60秒视为未应答：查排队时间、上岗人数与话务预测。",
        check_en="A caller left over 60 s counts as unanswered: check queue time, "
                 "staffing and the forecast."),
    KPI("answer_timeout_rate", "A3", "人工应答超时率", "Answer-timeout rate", "ratio", 512,
        "answered later than answer_timeout_s (15 s) / answered", target_max=0.20,
        vip_max=0.10,
        check_zh="应答时限15秒：查空闲坐席、振铃时长和排队人数。",
        check_en="The answer limit is 15 s: check idle agents, ring time and calls waiting."),
    KPI("adherence", "B1", "实际工作率", "Adherence (actual work rate)", "ratio", 535,
        "signed-in ready time (available + on call + ACW) / scheduled agent time",
        target_min=0.92,
        check_zh="员工是否理解实际工作率的重要性；监管与新员工辅导是否不足；"
                 "缺勤率是否过高；非话务工作是否太多。",
        check_en="Do agents know why adherence matters; enough supervision and coaching; "
                 "absence too high; too much off-phone work."),
    KPI("avg_acw_s", "B2", "事后处理时间", "After-call work", "s", 546,
        "ACW time / calls wrapped up", target_max=60,
        check_zh="检查事后处理流程每一步是否必要；鼓励边通话边记录；"
                 "追踪处理时间长的话务员并再培训；新员工偏长属正常。",
        check_en="Walk through every wrap-up step; record while talking; find and retrain "
                 "agents with long ACW; new agents run long at first."),
    KPI("avg_abandon_s", "B3", "平均放弃时间", "Average time to abandon", "s", 563,
        "wait of abandoned calls / abandoned calls", target_min=60,
        check_zh="很短即放弃说明客户耐心有限或屡拨不通；结合放弃数、未接通和排队时间看。",
        check_en="Quick abandons mean little patience or repeated failed attempts; read with "
                 "abandons, blocked calls and queue time."),
    KPI("aht_s", "B4", "平均通话时间", "Average handling time", "s", 570,
        "average talk + hold per call + average ACW", target_min=180, target_max=600,
        check_zh="画曲线图；超出目标范围由一线监管报告；过长可能人员过剩；"
                 "培训设备与电话处理技巧。",
        check_en="Chart it; front-line supervisors report calls outside the range; long AHT "
                 "can mean overstaffing; train on tools and call handling."),
    KPI("avg_hold_s", "B5", "平均持线时间", "Average hold", "s", 579,
        "hold time / calls put on hold", target_min=20, target_max=60,
        check_zh="过长说明话务员找不到资料或解决办法：信息不可及、培训不够、系统延迟、无权限。",
        check_en="Long holds mean agents cannot reach the information: access, training, "
                 "slow systems, permissions."),
    KPI("avg_rings", "B6", "平均振铃次数", "Average rings", "rings", 590,
        "whole rings (ring time / ring_cycle_s, rounded up) / answered calls with ring time",
        target_min=2, target_max=4,
        check_zh="保持最低，高峰期可能增加；可作为排队时间的参考。",
        check_en="Keep it low, peaks may raise it; a guide to queue time."),
    KPI("avg_queue_s", "B7", "平均排队时间", "Average queue time", "s", 597,
        "wait before an agent rang, of answered calls that queued / those calls",
        target_min=30, target_max=90,
        check_zh="新流程或新政策、缺乏经验的话务员过多；高峰考虑临时人员，按需调整上下岗。",
        check_en="New procedures or policies, too many inexperienced agents; add temporary "
                 "staff at peaks, adjust staffing."),
    KPI("asa_s", "B8", "平均应答速度", "Average speed of answer", "s", 612,
        "wait of answered calls / answered calls", target_max=20,
        check_zh="事后处理或持线超出目标；话务量预测不准；计划实际工作率不够。",
        check_en="ACW or hold above target; forecast wrong; scheduled adherence too low."),
    KPI("avg_talk_s", "B9", "平均交谈时间", "Average talk time", "s", 622,
        "talk time / calls handled", target_min=270, target_max=360,
        check_zh="变化意味着话务员或客户行为变化；不同呼叫类型时长不同；特别长或短的通话要查原因。",
        check_en="A change means agents or callers changed; call types differ; look into "
                 "very long or very short calls."),
    KPI("calls_per_agent_hour", "B10", "每小时呼叫次数", "Calls per agent hour", "per_h", 633,
        "calls handled / signed-in hours", target_min=5, target_max=100,
        check_zh="只强调小时数可能导致服务品质低劣，结合质量看。",
        check_en="Chasing this alone lowers quality; read it with quality figures."),
    KPI("occupancy", "B12", "占线率", "Occupancy", "ratio", 647,
        "(talk + hold) / (talk + hold + idle); with occupancy_includes_acw ACW counts as work",
        target_min=0.90,
        check_zh="改进业务培训和业务监管。",
        check_en="Improve training and supervision."),
    KPI("abandon_rate", "B13", "呼叫放弃率", "Abandonment rate", "ratio", 654,
        "abandoned (longer than short_abandon_s) / offered (short abandons excluded)",
        target_max=0.05,
        check_zh="等待时间过长、预测不准、持线变长；1-5秒内挂机多是误拨而非排队问题；"
                 "人手可能不能匹敌呼叫量。",
        check_en="Waits too long, forecast off, holds longer; many 1-5 s hang-ups are "
                 "misdials, not queueing; staff may not match the volume."),
    KPI("attendance", "B14", "出勤率", "Attendance", "ratio", 676,
        "signed-in agent time / scheduled agent time (average agents working / planned)",
        target_min=0.95,
        check_zh="检查缺工原因；与缺工员工谈话。",
        check_en="Find out why agents are missing; talk to them."),
    KPI("busy_rate", "B15", "忙音率", "Busy (blocked) rate", "ratio", 683,
        "blocked / (offered + blocked); check hourly", target_max=0.03,
        check_zh="将超量电话分流；增加全时或半时话务员；受阻电话会重拨，不要重复计入客户量。",
        check_en="Overflow excess calls elsewhere; add full- or part-time agents; blocked "
                 "callers redial, so do not count them as extra demand."),
    KPI("fcr", "B16", "一次性解决率", "First-call resolution", "ratio", 696,
        "(answered - answered calls whose caller called again within repeat_window_h) / "
        "answered", target_min=0.85,
        check_zh="下降需及时处理；授权话务员决定回呼；用重拨资料找原因；培训并确保资料可及。",
        check_en="Act on a drop; let agents decide call-backs; use repeat-call data to find "
                 "why; train and give access to information."),
    KPI("queue_placement_rate", "B17", "队列放置率", "Queue placement rate", "ratio", 706,
        "calls that waited before an agent rang / offered", target_min=0.10, target_max=0.20,
        check_zh="检查增加的人员是全时、半时还是超量时才用；上升会增加电话成本。",
        check_en="Check whether added staff are full-time, part-time or overflow only; a "
                 "rise costs telephony money."),
    KPI("transfer_rate", "B18", "转接呼叫率", "Transfer rate", "ratio", 713,
        "calls transferred by the agent / answered", target_max=0.03,
        check_zh="话务员技能差异、资料不足；盲转需客户重复解释；由监管写转接统计与对策。",
        check_en="Skill gaps or missing information; blind transfers make callers repeat "
                 "themselves; have supervisors report transfers and fixes."),
    KPI("answered_rate", "B19", "已复电话百分比", "Answered percentage", "ratio", 726,
        "answered / offered", target_min=0.98,
        check_zh="短暂高峰、话务量估计不足、不熟练话务员过多；考虑IVR分担或临时人员。",
        check_en="A short peak, volume underestimated, too many new agents; consider IVR or "
                 "temporary staff."),
    KPI("service_level", "B20", "服务水平", "Service level", "ratio", 744,
        "per sl_formula; the manual's: answered within T / offered", target_min=0.80,
        vip_min=0.90,
        check_zh="高于目标：话务量少于计划或上岗人员过多；低于目标：预测不准、实际工作率低、"
                 "午餐时间安排不当。",
        check_en="Above target: fewer calls than planned or too many agents; below: forecast "
                 "wrong, low adherence, lunch breaks badly placed."),
    KPI("attempts", "B21", "总呼叫数", "Total calls", "count", 757,
        "offered + blocked; with answered, abandoned and blocked as a line chart",
        check_zh="按小时、天、月画线图（总数、应答、放弃、阻塞）；与忙音资料一起看。",
        check_en="Line-chart totals, answered, abandoned and blocked by hour, day and month; "
                 "read with the busy rate."),
)

_BY_KEY = {k.key: k for k in CATALOG}


def by_key(key: str) -> KPI:
    return _BY_KEY[key]
