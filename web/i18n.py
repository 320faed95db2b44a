"""The words of the public pages, Vietnamese first, English second.

A page is in Vietnamese unless the visitor chose English (``?lang=en``, kept in a cookie). The
names of procedures, documents, steps and agencies come from the catalog: its Vietnamese names
are shown in both languages (the English page adds the catalog's English procedure name).
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request

Lang = Literal["vi", "en"]
LANG_COOKIE = "lang"

Bilingual = tuple[str, str]
"""One text, Vietnamese first, English second."""

TEXT: dict[str, Bilingual] = {
    "site": ("Dịch vụ công một cửa liên thông", "One-stop public services"),
    "catalogue": ("Danh mục thủ tục hành chính", "Catalogue of procedures"),
    "catalogue_intro": (
        "Các thủ tục đang có hiệu lực hôm nay. Chọn một thủ tục để xem hồ sơ cần nộp, thời hạn, "
        "lệ phí và nộp hồ sơ trực tuyến.",
        "Procedures in force today. Choose one to see the papers to bring, the time limit, the "
        "fee, and to file online.",
    ),
    "track_link": ("Tra cứu hồ sơ", "Track a dossier"),
    "switch": ("English", "Tiếng Việt"),
    "combined": ("Liên thông nhiều thủ tục", "Combined procedures"),
    "online_only": ("Chỉ nộp trực tuyến", "Online only"),
    "home_delivery": ("Nhận kết quả tại nhà", "Result delivered home"),
    "time_limit": ("Thời hạn giải quyết", "Legal time limit"),
    "fee": ("Phí, lệ phí", "Fees"),
    "no_fee": ("Không thu phí", "No fee"),
    "fee_computed": ("tính theo hồ sơ", "computed per dossier"),
    "legal_basis": ("Căn cứ pháp lý", "Legal basis"),
    "papers": ("Thành phần hồ sơ", "Papers to bring"),
    "steps": ("Trình tự thực hiện", "Steps and agencies"),
    "copies": ("bản", "copies"),
    "optional_doc": ("nếu có", "if any"),
    "file_online": ("Nộp hồ sơ trực tuyến", "File online"),
    "version": ("Phiên bản", "Version"),
    "in_force_from": ("Hiệu lực từ", "In force from"),
    "result_document": ("Kết quả", "Result"),
    "filing": ("Nộp hồ sơ trực tuyến", "File a dossier online"),
    "applicant": ("Người nộp hồ sơ", "Applicant"),
    "full_name": ("Họ và tên", "Full name"),
    "national_id": ("Số căn cước công dân (12 chữ số)", "Citizen ID number (12 digits)"),
    "phone": ("Số điện thoại di động", "Mobile phone"),
    "email": ("Thư điện tử (không bắt buộc)", "E-mail (optional)"),
    "address": ("Địa chỉ thường trú", "Address"),
    "parcel": ("Thửa đất", "Land parcel"),
    "parcel_commune": ("Mã xã/phường", "Commune code"),
    "map_sheet": ("Tờ bản đồ số", "Map sheet number"),
    "parcel_number": ("Thửa đất số", "Parcel number"),
    "documents": ("Tài liệu đính kèm (PDF, JPEG, PNG)", "Documents (PDF, JPEG, PNG)"),
    "delivery": ("Hình thức nhận kết quả", "How to receive the result"),
    "delivery_desk": ("Nhận trực tiếp tại Bộ phận Một cửa", "Collect it at the one-stop desk"),
    "delivery_home": (
        "Nhận tại nhà qua dịch vụ bưu chính công ích",
        "Delivered home by the public postal service",
    ),
    "delivery_address": ("Địa chỉ nhận kết quả", "Delivery address"),
    "submit": ("Nộp hồ sơ", "Submit"),
    "errors_above": (
        "Hồ sơ chưa được nộp. Vui lòng sửa các mục được đánh dấu.",
        "The dossier was not filed. Please correct the marked fields.",
    ),
    "required_doc": ("Bắt buộc", "Required"),
    "fill_in": ("Vui lòng điền mục này", "Please fill this in"),
    "example": ("Ví dụ", "Example"),
    "doc_missing": ("Vui lòng đính kèm tài liệu này", "Attach this document"),
    "receipt": ("Giấy tiếp nhận hồ sơ", "Receipt"),
    "receipt_intro": (
        "Hồ sơ của bạn đã được tiếp nhận. Hãy giữ mã hồ sơ và mã tra cứu để theo dõi hồ sơ.",
        "Your dossier was received. Keep the dossier code and the tracking secret.",
    ),
    "dossier_code": ("Mã hồ sơ", "Dossier code"),
    "tracking_secret": ("Mã tra cứu", "Tracking secret"),
    "received_at": ("Ngày nhận", "Received"),
    "appointment": ("Ngày hẹn trả kết quả", "Appointment"),
    "being_planned": ("đang được xác định, vui lòng tra cứu sau ít phút", "being set; check soon"),
    "scan_qr": (
        "Quét mã QR để tra cứu tình trạng hồ sơ",
        "Scan the QR code to follow the dossier",
    ),
    "open_tracking": ("Theo dõi hồ sơ", "Follow the dossier"),
    "receipt_pdf": ("Tải Giấy tiếp nhận (PDF)", "Download the receipt (PDF)"),
    "track_title": ("Tra cứu hồ sơ", "Track a dossier"),
    "track_intro": (
        "Nhập mã tra cứu in trên giấy tiếp nhận, hoặc 4 số cuối điện thoại của người nộp.",
        "Enter the tracking secret printed on the receipt, or the applicant's phone's last 4 "
        "digits.",
    ),
    "phone_last4": ("4 số cuối điện thoại", "Phone's last 4 digits"),
    "or": ("hoặc", "or"),
    "look_up": ("Tra cứu", "Look up"),
    "not_found": (
        "Không tìm thấy hồ sơ với mã và thông tin xác minh này.",
        "No dossier with this code and second factor.",
    ),
    "status": ("Trạng thái", "Status"),
    "timeline": ("Tiến trình giải quyết", "Timeline"),
    "step_done": ("Đã xong", "Done"),
    "step_open": ("Đang xử lý", "In progress"),
    "step_waiting": ("Chưa đến lượt", "Not yet"),
    "step_skipped": ("Không thực hiện", "Not needed"),
    "due": ("Hạn", "Due"),
    "overdue": ("Quá hạn", "Overdue"),
    "apologies": ("Thư xin lỗi và hẹn lại", "Apology letters and new dates"),
    "new_appointment": ("Ngày hẹn mới", "New appointment"),
    "download_letter": ("Tải thư (PDF)", "Download the letter (PDF)"),
    "supplement_asked": ("Yêu cầu bổ sung hồ sơ", "Supplement requested"),
    "supplement_reason": ("Lý do", "Reason"),
    "supplement_missing": ("Tài liệu cần bổ sung", "Documents asked for"),
    "supplement_answered": ("Đã bổ sung lúc", "Answered at"),
    "supplement_send": ("Gửi tài liệu bổ sung", "Send the documents"),
    "payment": ("Nghĩa vụ tài chính", "Payment"),
    "amount_due": ("Số tiền phải nộp", "Amount due"),
    "amount_paid": ("Đã nộp", "Paid"),
    "pay_now": ("Thanh toán trực tuyến", "Pay online"),
    "pay_continue": ("Tiếp tục thanh toán tại cổng thanh toán", "Continue at the payment page"),
    "payment_pending": ("Thanh toán đang được xử lý", "Payment being processed"),
    "delivery_title": ("Chuyển phát kết quả", "Delivery"),
    "tracking_number": ("Số vận đơn", "Tracking number"),
    "attempts": ("Lần phát", "Attempts"),
    "withdraw": ("Rút hồ sơ", "Withdraw the dossier"),
    "withdraw_reason": ("Lý do rút hồ sơ", "Reason for withdrawing"),
    "withdraw_confirm": ("Tôi muốn rút hồ sơ này", "I want to withdraw this dossier"),
    "rating": ("Đánh giá sự hài lòng", "Rate the service"),
    "score": ("Mức độ hài lòng (1-5)", "Satisfaction (1-5)"),
    "comment": ("Góp ý", "Comment"),
    "send": ("Gửi", "Send"),
    "refresh": ("Cập nhật", "Refresh"),
    "done_ok": ("Đã ghi nhận.", "Recorded."),
    "documents_issued": ("Văn bản đã ban hành", "Documents issued"),
    "poster_title": (
        "Danh mục thủ tục hành chính tiếp nhận tại Bộ phận Một cửa",
        "Procedures received at the one-stop desk",
    ),
    "poster_scan": (
        "Quét mã QR để xem thành phần hồ sơ, lệ phí, thời hạn và nộp hồ sơ trực tuyến",
        "Scan a QR code for the papers, the fee, the time limit, and to file online",
    ),
    "no": ("STT", "No."),
    "procedure": ("Thủ tục", "Procedure"),
    "qr": ("Mã QR", "QR code"),
    "print": ("In", "Print"),
    "error_title": ("Có lỗi", "Something went wrong"),
    "engine_unavailable": (
        "Hệ thống tạm thời không trả lời, vui lòng thử lại sau ít phút.",
        "The system is not answering; try again in a few minutes.",
    ),
    "refused_action": ("Không thực hiện được", "Not possible"),
    "choose_file": ("Chọn tệp", "Choose a file"),
}

STEP_KINDS: dict[str, Bilingual] = {
    "automated_check": ("Kiểm tra, đối chiếu", "Automated check"),
    "officer_decision": ("Thẩm định, quyết định", "Appraisal and decision"),
    "signature": ("Ký duyệt", "Signature"),
    "payment": ("Thực hiện nghĩa vụ tài chính", "Payment"),
    "public_notice": ("Niêm yết công khai", "Public notice"),
    "return_result": ("Trả kết quả", "Return of the result"),
}

# The words for the codes the tracking page shows (store.models DeliveryStatus, PaymentStatus).
STATES: dict[str, Bilingual] = {
    "dispatched": ("Đã giao cho bưu điện", "Handed to the post office"),
    "delivered": ("Đã phát thành công", "Delivered"),
    "returned_to_desk": (
        "Phát không thành công, nhận tại Bộ phận Một cửa",
        "Not delivered; collect it at the desk",
    ),
    "pending": ("Đang xử lý", "Pending"),
    "succeeded": ("Thành công", "Succeeded"),
    "declined": ("Bị từ chối", "Declined"),
}

# Why an act of the applicant was refused, by act, when the API says no (409/422).
REFUSALS: dict[str, Bilingual] = {
    "pay": (
        "Hồ sơ hiện không có khoản nghĩa vụ tài chính phải nộp, hoặc đang có giao dịch chưa xong",
        "Nothing is due now, or a payment is still being processed",
    ),
    "supplement": (
        "Hồ sơ không có yêu cầu bổ sung đang chờ, hoặc tài liệu gửi kèm không hợp lệ",
        "No supplement is awaited, or the documents sent are not valid",
    ),
    "withdraw": (
        "Hồ sơ đã kết thúc, không thể rút",
        "The dossier has ended; it cannot be withdrawn",
    ),
    "rating": (
        "Chỉ đánh giá được một lần, sau khi hồ sơ đã kết thúc",
        "A dossier is rated once, after it has ended",
    ),
}

DOCUMENT_FORMS: dict[str, Bilingual] = {
    "original": ("bản chính", "original"),
    "copy": ("bản sao hoặc bản chụp", "copy"),
    "certified_copy": ("bản sao có chứng thực", "certified copy"),
    "original_or_copy": ("bản chính hoặc bản sao kèm bản chính", "original, or copy with it"),
}


def lang_of(request: Request) -> Lang:
    """The page's language: ``?lang=`` first, then the cookie, else Vietnamese."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if chosen == "en" else "vi"


def pick(pair: Bilingual, lang: Lang) -> str:
    """The text of ``pair`` in ``lang``."""
    return pair[1] if lang == "en" else pair[0]


def translator(lang: Lang) -> dict[str, str]:
    """Every key of `TEXT` in ``lang``."""
    return {key: pick(pair, lang) for key, pair in TEXT.items()}


def word(table: dict[str, Bilingual], code: str, lang: Lang) -> str:
    """The word for ``code`` in ``table`` (step kinds, document forms); the code if unknown."""
    pair = table.get(code)
    return code if pair is None else pick(pair, lang)
