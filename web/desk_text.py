"""The officer's desk in Vietnamese (first) and English: every word its pages print.

Statuses and verdicts in Vietnamese are the forms' own labels (`forms.official.labels`), so the
desk and the printed forms never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from forms.official import labels

Lang = Literal["vi", "en"]

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


@dataclass(frozen=True)
class DeskText:
    """The words of the desk's pages in one language."""

    lang: Lang
    desk: str
    other_lang: str
    other_lang_code: Lang
    sign_in: str
    sign_in_intro: str
    token: str
    token_help: str
    sign_in_button: str
    sign_out: str
    inbox: str
    head_view: str
    dashboard: str
    outside_systems: str
    outside_names: dict[str, str]
    outside_waiting: str
    outside_oldest: str
    outside_last_error: str
    outside_help: str
    officer: str
    dossier: str
    procedure: str
    step: str
    opened: str
    due: str
    left: str
    no_steps: str
    overdue: str
    due_soon: str
    on_track: str
    paused: str
    hours_left: str
    hours_late: str
    automatic: str
    open_dossier: str
    received: str
    appointment: str
    status_label: str
    steps: str
    agency: str
    documents: str
    preview: str
    no_documents: str
    no_file: str
    handovers: str
    handover_from: str
    handover_to: str
    at: str
    result: str
    verdict_label: str
    decisions: str
    decide: str
    reason: str
    reason_help: str
    missing: str
    missing_help: str
    send_back_to: str
    submit: str
    nothing_to_decide: str
    temporal_ui: str
    temporal_ui_help: str
    reason_required: str
    workload: str
    decided_steps: str
    late_steps: str
    avg_hours: str
    open_total: str
    overdue_steps: str
    escalations: str
    none: str
    last_days: str
    period_from: str
    period_to: str
    group_by: str
    show: str
    print_html: str
    print_pdf: str
    on_time_rate: str
    counts: str
    report_same_as: str
    page: str
    agency_filter_help: str
    step_statuses: dict[str, str] = field(default_factory=dict)
    refusals: dict[int, str] = field(default_factory=dict)
    back_to_inbox: str = ""
    actions: dict[str, str] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)
    token_problems: dict[str, str] = field(default_factory=dict)
    groupings: dict[str, str] = field(default_factory=dict)

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


VI = DeskText(
    lang="vi",
    desk="Bàn làm việc cán bộ",
    other_lang="English",
    other_lang_code="en",
    sign_in="Đăng nhập",
    sign_in_intro="Dán mã đăng nhập (token) do quản trị cấp cho anh/chị "
    "(python -m api issue-token).",
    token="Mã đăng nhập",
    token_help="Mã có hạn dùng; hết hạn thì xin cấp mã mới.",
    sign_in_button="Đăng nhập",
    sign_out="Đăng xuất",
    inbox="Hồ sơ cần xử lý",
    head_view="Lãnh đạo",
    dashboard="Tỷ lệ đúng hạn",
    outside_systems="Hệ thống bên ngoài",
    outside_names={
        "portal": "Cổng dịch vụ công quốc gia",
        "sms": "Tổng đài SMS",
        "einvoice": "Hóa đơn điện tử (cơ quan thuế)",
    },
    outside_waiting="Đang chờ gửi",
    outside_oldest="Chờ từ",
    outside_last_error="Lỗi gần nhất",
    outside_help="Trạng thái hồ sơ gửi Cổng dịch vụ công và tin nhắn gửi người dân chưa gửi "
    "được; số tăng dần là dấu hiệu hệ thống bên ngoài đang gián đoạn.",
    officer="Cán bộ",
    dossier="Mã hồ sơ",
    procedure="Thủ tục",
    step="Bước xử lý",
    opened="Nhận lúc",
    due="Hạn xử lý",
    left="Thời gian còn lại",
    no_steps="Không có hồ sơ nào đang chờ cơ quan xử lý.",
    overdue="Quá hạn",
    due_soon="Sắp đến hạn",
    on_track="Trong hạn",
    paused="Tạm dừng tính thời gian",
    hours_left="còn {hours} giờ làm việc",
    hours_late="trễ {hours} giờ làm việc",
    automatic="tự động",
    open_dossier="Mở hồ sơ",
    received="Ngày tiếp nhận",
    appointment="Hẹn trả kết quả",
    status_label="Trạng thái",
    steps="Các bước xử lý",
    agency="Cơ quan",
    documents="Thành phần hồ sơ",
    preview="Xem",
    no_documents="Không có giấy tờ nào.",
    no_file="(bản giấy, không có tệp)",
    handovers="Phiếu kiểm soát quá trình giải quyết hồ sơ",
    handover_from="Bên giao",
    handover_to="Bên nhận",
    at="Thời điểm",
    result="Kết quả",
    verdict_label="Đánh giá",
    decisions="Nhật ký quyết định",
    decide="Xử lý bước",
    reason="Lý do / ý kiến",
    reason_help="Bắt buộc khi yêu cầu bổ sung, từ chối hoặc trả lại.",
    missing="Giấy tờ cần bổ sung (mỗi dòng một giấy tờ)",
    missing_help="Chỉ dùng khi yêu cầu bổ sung.",
    send_back_to="Trả lại bước",
    submit="Gửi quyết định",
    nothing_to_decide="Cơ quan không có bước nào đang chờ quyết định trong hồ sơ này.",
    temporal_ui="Xem hồ sơ trong Temporal Web UI",
    temporal_ui_help="Dành cho quản trị vận hành; nội dung được giải mã sau khi đăng nhập "
    "máy chủ giải mã (README).",
    reason_required="Cần ghi lý do cho quyết định này.",
    workload="Khối lượng công việc theo cán bộ",
    decided_steps="Bước đã xử lý",
    late_steps="Trong đó quá hạn",
    avg_hours="Giờ làm việc trung bình",
    open_total="Bước đang chờ xử lý",
    overdue_steps="Các bước quá hạn",
    escalations="Báo cáo lãnh đạo (quá hạn)",
    none="Không có.",
    last_days="{days} ngày gần nhất",
    period_from="Từ ngày",
    period_to="Đến ngày",
    group_by="Theo",
    show="Xem",
    print_html="Bản in (HTML)",
    print_pdf="Bản in (PDF)",
    on_time_rate="Tỷ lệ đúng hạn (%)",
    counts="Số hồ sơ đã giải quyết: trước hạn, đúng hạn, quá hạn",
    report_same_as="Số liệu giống lệnh: {command}",
    page="Trang",
    agency_filter_help="Mã cơ quan, ví dụ land-registration (không bắt buộc).",
    refusals={
        400: "Yêu cầu không hợp lệ",
        403: "Cơ quan của anh/chị không được xem trang này",
        404: "Không tìm thấy",
    },
    back_to_inbox="Về danh sách hồ sơ cần xử lý",
    step_statuses={
        "pending": "Chưa đến lượt",
        "open": "Đang xử lý",
        "done": "Đã xong",
        "cancelled": "Đã hủy",
    },
    actions={
        "approve": "Đồng ý, chuyển bước tiếp theo",
        "request_supplement": "Yêu cầu bổ sung hồ sơ",
        "refuse": "Từ chối giải quyết",
        "send_back": "Trả lại bước trước",
    },
    done={
        "approve": "Đã đồng ý; hồ sơ được chuyển bước tiếp theo.",
        "request_supplement": "Đã gửi yêu cầu bổ sung hồ sơ.",
        "refuse": "Đã từ chối giải quyết hồ sơ.",
        "send_back": "Đã trả lại bước trước.",
    },
    token_problems={
        "malformed token": "Mã đăng nhập không đúng định dạng.",
        "bad signature": "Mã đăng nhập không hợp lệ.",
        "token expired": "Mã đăng nhập đã hết hạn.",
    },
    groupings={
        "agency": "cơ quan",
        "procedure": "thủ tục",
        "desk": "bộ phận một cửa",
        "month": "tháng",
    },
)

EN = DeskText(
    lang="en",
    desk="Officer's desk",
    other_lang="Tiếng Việt",
    other_lang_code="vi",
    sign_in="Sign in",
    sign_in_intro="Paste the sign-in token your administrator issued you "
    "(python -m api issue-token).",
    token="Sign-in token",
    token_help="Tokens expire; ask for a new one when yours has.",
    sign_in_button="Sign in",
    sign_out="Sign out",
    inbox="Inbox",
    head_view="Head's view",
    dashboard="On-time rate",
    outside_systems="Outside systems",
    outside_names={
        "portal": "National public service portal",
        "sms": "SMS gateway",
        "einvoice": "Tax authority e-invoice system",
    },
    outside_waiting="Waiting",
    outside_oldest="Waiting since",
    outside_last_error="Last error",
    outside_help="Status reports to the national portal and texts to citizens not yet sent; a "
    "growing number means an outside system is down.",
    officer="Officer",
    dossier="Dossier code",
    procedure="Procedure",
    step="Step",
    opened="Opened",
    due="Due",
    left="Time left",
    no_steps="No step is waiting for the agency.",
    overdue="Overdue",
    due_soon="Due soon",
    on_track="On track",
    paused="Clock paused",
    hours_left="{hours} working hours left",
    hours_late="{hours} working hours late",
    automatic="automatic",
    open_dossier="Open",
    received="Received",
    appointment="Appointment",
    status_label="Status",
    steps="Steps",
    agency="Agency",
    documents="Documents",
    preview="View",
    no_documents="No documents.",
    no_file="(on paper, no file)",
    handovers="Process-control slip (form 05)",
    handover_from="From",
    handover_to="To",
    at="At",
    result="Result",
    verdict_label="Verdict",
    decisions="Decisions",
    decide="Decide on the step",
    reason="Reason / opinion",
    reason_help="Required to request a supplement, refuse or send back.",
    missing="Documents to supplement (one per line)",
    missing_help="Only when requesting a supplement.",
    send_back_to="Send back to step",
    submit="Send the decision",
    nothing_to_decide="The agency has no step of this dossier waiting for a decision.",
    temporal_ui="Open in the Temporal Web UI",
    temporal_ui_help="For operators; payloads are decoded after signing in to the codec "
    "server (README).",
    reason_required="This decision needs a reason.",
    workload="Workload per officer",
    decided_steps="Steps decided",
    late_steps="of which late",
    avg_hours="Average working hours",
    open_total="Open steps",
    overdue_steps="Overdue steps",
    escalations="Escalations (overdue)",
    none="None.",
    last_days="last {days} days",
    period_from="From",
    period_to="To",
    group_by="By",
    show="Show",
    print_html="Printable (HTML)",
    print_pdf="Printable (PDF)",
    on_time_rate="On-time rate (%)",
    counts="Decided: early, on time, late",
    report_same_as="Same figures as: {command}",
    page="Page",
    agency_filter_help="An agency code, e.g. land-registration (optional).",
    refusals={400: "Bad request", 403: "Your agency may not see this page", 404: "Not found"},
    back_to_inbox="Back to the inbox",
    step_statuses={
        "pending": "Not yet",
        "open": "Open",
        "done": "Done",
        "cancelled": "Cancelled",
    },
    actions={
        "approve": "Approve and move on",
        "request_supplement": "Request a supplement",
        "refuse": "Refuse",
        "send_back": "Send back to an earlier step",
    },
    done={
        "approve": "Approved; the dossier moved on.",
        "request_supplement": "The supplement request was sent.",
        "refuse": "The dossier was refused.",
        "send_back": "Sent back to the earlier step.",
    },
    token_problems={
        "malformed token": "The token is malformed.",
        "bad signature": "The token is not valid.",
        "token expired": "The token has expired.",
    },
    groupings={"agency": "agency", "procedure": "procedure", "desk": "desk", "month": "month"},
)

TEXT: dict[Lang, DeskText] = {"vi": VI, "en": EN}
