"""The officer's desk in Vietnamese (first) and English: every word its pages print.

Each text is stated once, both languages side by side (`WORDS`, typed so that the type checker
proves every text has both); `TEXT` holds the one-language views the pages and code read
(``t.desk``, ``TEXT[lang].refusals``). Statuses and verdicts in Vietnamese are the forms' own
labels (`forms.official.labels`), so the desk and the printed forms never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from forms.official import labels
from web.i18n import Bilingual, Lang, pick

_STATUS_EN = {
    "new": "New",
    "accepted": "Accepted",
    "refused": "Refused",
    "in_progress": "In progress",
    "supplement_requested": "Waiting for a supplement",
    "financial_obligation": "Waiting for payment",
    "withdrawn": "Withdrawn by the applicant",
    "stopped": "Stopped",
    "decided": "Decided, awaiting return",
    "returned": "Result returned",
}
_VERDICT_EN = {"early": "Early", "on_time": "On time", "late": "Late", "not_counted": "Not counted"}


W = TypeVar("W", Bilingual, str)


@dataclass(frozen=True)
class DeskWords(Generic[W]):
    """The words of the desk's pages: each a `Bilingual` pair in `WORDS`, a text in `DeskText`."""

    desk: W
    other_lang: W
    sign_in: W
    sign_in_intro: W
    token: W
    token_help: W
    sign_in_button: W
    sign_out: W
    inbox: W
    head_view: W
    dashboard: W
    outside_systems: W
    outside_names: dict[str, W]
    outside_waiting: W
    outside_oldest: W
    outside_last_error: W
    outside_help: W
    officer: W
    dossier: W
    procedure: W
    step: W
    opened: W
    due: W
    left: W
    no_steps: W
    overdue: W
    due_soon: W
    on_track: W
    paused: W
    hours_left: W
    hours_late: W
    automatic: W
    open_dossier: W
    received: W
    appointment: W
    status_label: W
    steps: W
    agency: W
    documents: W
    preview: W
    no_documents: W
    no_file: W
    handovers: W
    handover_from: W
    handover_to: W
    at: W
    result: W
    verdict_label: W
    decisions: W
    decide: W
    reason: W
    reason_help: W
    missing: W
    missing_help: W
    send_back_to: W
    submit: W
    nothing_to_decide: W
    temporal_ui: W
    temporal_ui_help: W
    reason_required: W
    workload: W
    decided_steps: W
    late_steps: W
    avg_hours: W
    open_total: W
    overdue_steps: W
    escalations: W
    none: W
    last_days: W
    period_from: W
    period_to: W
    group_by: W
    show: W
    print_html: W
    print_pdf: W
    on_time_rate: W
    counts: W
    report_same_as: W
    page: W
    agency_filter_help: W
    step_statuses: dict[str, W]
    refusals: dict[int, W]
    back_to_inbox: W
    actions: dict[str, W]
    done: dict[str, W]
    token_problems: dict[str, W]
    groupings: dict[str, W]


@dataclass(frozen=True)
class DeskText(DeskWords[str]):
    """The words of the desk's pages in one language."""

    lang: Lang
    other_lang_code: Lang

    def status(self, code: str) -> str:
        """A dossier status in words."""
        if self.lang == "vi":
            return labels().status(code)
        return _STATUS_EN.get(code, code)

    def verdict(self, code: str | None) -> str:
        """A step's verdict in words (empty without one)."""
        if self.lang == "vi":
            return labels().verdict(code)
        return "" if code is None else _VERDICT_EN.get(code, code)


WORDS: DeskWords[Bilingual] = DeskWords(
    desk=("Bàn làm việc cán bộ", "Officer's desk"),
    other_lang=("English", "Tiếng Việt"),
    sign_in=("Đăng nhập", "Sign in"),
    sign_in_intro=(
        "Dán mã đăng nhập (token) do quản trị cấp cho anh/chị (python -m api issue-token).",
        "Paste the sign-in token your administrator issued you (python -m api issue-token).",
    ),
    token=("Mã đăng nhập", "Sign-in token"),
    token_help=(
        "Mã có hạn dùng; hết hạn thì xin cấp mã mới.",
        "Tokens expire; ask for a new one when yours has.",
    ),
    sign_in_button=("Đăng nhập", "Sign in"),
    sign_out=("Đăng xuất", "Sign out"),
    inbox=("Hồ sơ cần xử lý", "Inbox"),
    head_view=("Lãnh đạo", "Head's view"),
    dashboard=("Tỷ lệ đúng hạn", "On-time rate"),
    outside_systems=("Hệ thống bên ngoài", "Outside systems"),
    outside_names={
        "portal": ("Cổng dịch vụ công quốc gia", "National public service portal"),
        "sms": ("Tổng đài SMS", "SMS gateway"),
        "einvoice": ("Hóa đơn điện tử (cơ quan thuế)", "Tax authority e-invoice system"),
    },
    outside_waiting=("Đang chờ gửi", "Waiting"),
    outside_oldest=("Chờ từ", "Waiting since"),
    outside_last_error=("Lỗi gần nhất", "Last error"),
    outside_help=(
        "Trạng thái hồ sơ gửi Cổng dịch vụ công và tin nhắn gửi người dân chưa gửi được; số "
        "tăng dần là dấu hiệu hệ thống bên ngoài đang gián đoạn.",
        "Status reports to the national portal and texts to citizens not yet sent; a growing "
        "number means an outside system is down.",
    ),
    officer=("Cán bộ", "Officer"),
    dossier=("Mã hồ sơ", "Dossier code"),
    procedure=("Thủ tục", "Procedure"),
    step=("Bước xử lý", "Step"),
    opened=("Nhận lúc", "Opened"),
    due=("Hạn xử lý", "Due"),
    left=("Thời gian còn lại", "Time left"),
    no_steps=("Không có hồ sơ nào đang chờ cơ quan xử lý.", "No step is waiting for the agency."),
    overdue=("Quá hạn", "Overdue"),
    due_soon=("Sắp đến hạn", "Due soon"),
    on_track=("Trong hạn", "On track"),
    paused=("Tạm dừng tính thời gian", "Clock paused"),
    hours_left=("còn {hours} giờ làm việc", "{hours} working hours left"),
    hours_late=("trễ {hours} giờ làm việc", "{hours} working hours late"),
    automatic=("tự động", "automatic"),
    open_dossier=("Mở hồ sơ", "Open"),
    received=("Ngày tiếp nhận", "Received"),
    appointment=("Hẹn trả kết quả", "Appointment"),
    status_label=("Trạng thái", "Status"),
    steps=("Các bước xử lý", "Steps"),
    agency=("Cơ quan", "Agency"),
    documents=("Thành phần hồ sơ", "Documents"),
    preview=("Xem", "View"),
    no_documents=("Không có giấy tờ nào.", "No documents."),
    no_file=("(bản giấy, không có tệp)", "(on paper, no file)"),
    handovers=("Phiếu kiểm soát quá trình giải quyết hồ sơ", "Process-control slip (form 05)"),
    handover_from=("Bên giao", "From"),
    handover_to=("Bên nhận", "To"),
    at=("Thời điểm", "At"),
    result=("Kết quả", "Result"),
    verdict_label=("Đánh giá", "Verdict"),
    decisions=("Nhật ký quyết định", "Decisions"),
    decide=("Xử lý bước", "Decide on the step"),
    reason=("Lý do / ý kiến", "Reason / opinion"),
    reason_help=(
        "Bắt buộc khi yêu cầu bổ sung, từ chối hoặc trả lại.",
        "Required to request a supplement, refuse or send back.",
    ),
    missing=(
        "Giấy tờ cần bổ sung (mỗi dòng một giấy tờ)",
        "Documents to supplement (one per line)",
    ),
    missing_help=("Chỉ dùng khi yêu cầu bổ sung.", "Only when requesting a supplement."),
    send_back_to=("Trả lại bước", "Send back to step"),
    submit=("Gửi quyết định", "Send the decision"),
    nothing_to_decide=(
        "Cơ quan không có bước nào đang chờ quyết định trong hồ sơ này.",
        "The agency has no step of this dossier waiting for a decision.",
    ),
    temporal_ui=("Xem hồ sơ trong Temporal Web UI", "Open in the Temporal Web UI"),
    temporal_ui_help=(
        "Dành cho quản trị vận hành; nội dung được giải mã sau khi đăng nhập máy chủ giải mã "
        "(README).",
        "For operators; payloads are decoded after signing in to the codec server (README).",
    ),
    reason_required=("Cần ghi lý do cho quyết định này.", "This decision needs a reason."),
    workload=("Khối lượng công việc theo cán bộ", "Workload per officer"),
    decided_steps=("Bước đã xử lý", "Steps decided"),
    late_steps=("Trong đó quá hạn", "of which late"),
    avg_hours=("Giờ làm việc trung bình", "Average working hours"),
    open_total=("Bước đang chờ xử lý", "Open steps"),
    overdue_steps=("Các bước quá hạn", "Overdue steps"),
    escalations=("Báo cáo lãnh đạo (quá hạn)", "Escalations (overdue)"),
    none=("Không có.", "None."),
    last_days=("{days} ngày gần nhất", "last {days} days"),
    period_from=("Từ ngày", "From"),
    period_to=("Đến ngày", "To"),
    group_by=("Theo", "By"),
    show=("Xem", "Show"),
    print_html=("Bản in (HTML)", "Printable (HTML)"),
    print_pdf=("Bản in (PDF)", "Printable (PDF)"),
    on_time_rate=("Tỷ lệ đúng hạn (%)", "On-time rate (%)"),
    counts=(
        "Số hồ sơ đã giải quyết: trước hạn, đúng hạn, quá hạn",
        "Decided: early, on time, late",
    ),
    report_same_as=("Số liệu giống lệnh: {command}", "Same figures as: {command}"),
    page=("Trang", "Page"),
    agency_filter_help=(
        "Mã cơ quan, ví dụ land-registration (không bắt buộc).",
        "An agency code, e.g. land-registration (optional).",
    ),
    step_statuses={
        "pending": ("Chưa đến lượt", "Not yet"),
        "open": ("Đang xử lý", "Open"),
        "done": ("Đã xong", "Done"),
        "cancelled": ("Đã hủy", "Cancelled"),
    },
    refusals={
        400: ("Yêu cầu không hợp lệ", "Bad request"),
        403: ("Cơ quan của anh/chị không được xem trang này", "Your agency may not see this page"),
        404: ("Không tìm thấy", "Not found"),
    },
    back_to_inbox=("Về danh sách hồ sơ cần xử lý", "Back to the inbox"),
    actions={
        "approve": ("Đồng ý, chuyển bước tiếp theo", "Approve and move on"),
        "request_supplement": ("Yêu cầu bổ sung hồ sơ", "Request a supplement"),
        "refuse": ("Từ chối giải quyết", "Refuse"),
        "send_back": ("Trả lại bước trước", "Send back to an earlier step"),
    },
    done={
        "approve": (
            "Đã đồng ý; hồ sơ được chuyển bước tiếp theo.",
            "Approved; the dossier moved on.",
        ),
        "request_supplement": ("Đã gửi yêu cầu bổ sung hồ sơ.", "The supplement request was sent."),
        "refuse": ("Đã từ chối giải quyết hồ sơ.", "The dossier was refused."),
        "send_back": ("Đã trả lại bước trước.", "Sent back to the earlier step."),
    },
    token_problems={
        "malformed token": ("Mã đăng nhập không đúng định dạng.", "The token is malformed."),
        "bad signature": ("Mã đăng nhập không hợp lệ.", "The token is not valid."),
        "token expired": ("Mã đăng nhập đã hết hạn.", "The token has expired."),
    },
    groupings={
        "agency": ("cơ quan", "agency"),
        "procedure": ("thủ tục", "procedure"),
        "desk": ("bộ phận một cửa", "desk"),
        "month": ("tháng", "month"),
    },
)


def in_language(lang: Lang) -> DeskText:
    """`WORDS` in ``lang``: each pair its text, each table of pairs a table of texts."""
    texts: dict[str, Any] = {}
    for item in fields(DeskWords):
        value = getattr(WORDS, item.name)
        if isinstance(value, dict):
            texts[item.name] = {key: pick(pair, lang) for key, pair in value.items()}
        else:
            texts[item.name] = pick(value, lang)
    return DeskText(lang=lang, other_lang_code="vi" if lang == "en" else "en", **texts)


TEXT: dict[Lang, DeskText] = {"vi": in_language("vi"), "en": in_language("en")}
