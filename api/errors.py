"""Error responses: 422 with the field path and a message in Vietnamese and English, 400 for a
body that is not JSON, and the workflow's refusals mapped to HTTP statuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.limits import TooManyRequests

# Vietnamese messages by pydantic error type (and this API's own types, see api.schemas).
_VI: dict[str, str] = {
    "missing": "Thiếu trường bắt buộc",
    "extra_forbidden": "Trường này không được chấp nhận",
    "string_type": "Phải là một chuỗi ký tự",
    "string_too_short": "Quá ngắn",
    "string_too_long": "Quá dài",
    "string_pattern_mismatch": "Không đúng định dạng",
    "int_type": "Phải là một số nguyên",
    "int_parsing": "Phải là một số nguyên",
    "int_from_float": "Phải là một số nguyên",
    "float_type": "Phải là một số",
    "float_parsing": "Phải là một số",
    "bool_type": "Phải là đúng hoặc sai (true/false)",
    "bool_parsing": "Phải là đúng hoặc sai (true/false)",
    "greater_than": "Giá trị quá nhỏ",
    "greater_than_equal": "Giá trị quá nhỏ",
    "less_than": "Giá trị quá lớn",
    "less_than_equal": "Giá trị quá lớn",
    "list_type": "Phải là một danh sách",
    "too_short": "Danh sách quá ngắn",
    "too_long": "Danh sách quá dài",
    "dict_type": "Phải là một đối tượng JSON",
    "model_type": "Phải là một đối tượng JSON",
    "model_attributes_type": "Phải là một đối tượng JSON",
    "literal_error": "Giá trị không nằm trong các lựa chọn cho phép",
    "enum": "Giá trị không nằm trong các lựa chọn cho phép",
    "union_tag_invalid": "Phương thức không hợp lệ",
    "union_tag_not_found": "Thiếu trường phương thức (method)",
    "json_invalid": "Nội dung không phải là JSON hợp lệ",
    "national_id": "Số căn cước công dân (CCCD) phải gồm đúng 12 chữ số",
    "phone": "Số điện thoại di động Việt Nam: 0 và 9 chữ số, hoặc +84 và 9 chữ số",
    "control_character": "Không được chứa ký tự điều khiển (như NUL)",
    "email": "Địa chỉ thư điện tử không hợp lệ",
    "unknown_upload": "Không tìm thấy tệp đã tải lên với mã này",
    "not_in_force": "Thủ tục không có hiệu lực vào ngày nộp hồ sơ",
    "parcel_required": "Thủ tục này cần thông tin thửa đất (xã/phường, tờ bản đồ số, thửa đất số)",
    "length_required": "Yêu cầu phải có độ dài nội dung (Content-Length)",
    "too_large": "Tệp quá lớn",
    "text_too_large": "Nội dung trường này quá dài",
    "invalid_multipart": "Biểu mẫu multipart/form-data không hợp lệ",
    "file_type": "Loại tệp không được chấp nhận (chỉ nhận PDF, JPEG, PNG)",
    "not_multipart": "Tệp phải được gửi dạng multipart/form-data",
    "too_many_attempts": "Nhập sai quá nhiều lần; vui lòng chờ rồi thử lại",
    "dossier_locked": (
        "Hồ sơ tạm khóa tra cứu bằng số điện thoại do nhập sai nhiều lần; dùng mã bí mật trên "
        "giấy tiếp nhận để mở khóa"
    ),
    "client_locked": "Địa chỉ của bạn tạm bị chặn do nhập sai nhiều lần; vui lòng thử lại sau",
    "rate_limited": "Quá nhiều yêu cầu; vui lòng chờ rồi thử lại",
    "change_needs_secret": (
        "Thao tác này cần mã bí mật trên giấy tiếp nhận hoặc mã dùng một lần gửi tới thư điện "
        "tử của người nộp"
    ),
    "secret_in_url": "Không gửi mã bí mật trong địa chỉ (URL); hãy gửi trong tiêu đề (header)",
    "no_email": "Hồ sơ không có địa chỉ thư điện tử để gửi mã dùng một lần",
    "overloaded": "Hệ thống đang quá tải, chưa thể nhận hồ sơ mới; vui lòng gửi lại sau",
}
_VI_FALLBACK = "Giá trị không hợp lệ"


class FieldError(Exception):
    """A request that passed the schema but breaks a rule of a field (422 by default)."""

    def __init__(
        self,
        field: str,
        kind: str,
        message_en: str,
        status: int = 422,
        headers: dict[str, str] | None = None,
    ) -> None:
        """An error on ``field`` of type ``kind`` (a key of the Vietnamese messages)."""
        super().__init__(message_en)
        self.field, self.kind, self.message_en, self.status = field, kind, message_en, status
        self.headers = headers


def _field(loc: Sequence[int | str]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # Tagged unions add the tag to the path (delivery.home.address): keep the data's path.
    return ".".join(parts) or "body"


def error_entry(field: str, kind: str, message_en: str) -> dict[str, str]:
    """One entry of the ``errors`` list."""
    return {"field": field, "message_vi": _VI.get(kind, _VI_FALLBACK), "message_en": message_en}


def _not_json(error: dict[str, Any]) -> bool:
    # A JSON syntax error, or a body sent as something else than JSON (FastAPI then hands the
    # raw bytes to the model): both are a bad request, not a bad field.
    if error.get("type") == "json_invalid":
        return True
    return tuple(error.get("loc", ())) == ("body",) and isinstance(
        error.get("input"), bytes | bytearray | str
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(_not_json(error) for error in errors):
        return JSONResponse(
            status_code=400,
            content={
                "errors": [
                    error_entry("body", "json_invalid", "the request body must be a JSON document")
                ]
            },
        )
    entries = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"] and "delivery" in loc:
            at = loc.index("delivery")
            if len(loc) > at + 1 and loc[at + 1] in ("desk", "home"):
                del loc[at + 1]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        entries.append(error_entry(_field(loc), str(error.get("type", "")), message))
    return JSONResponse(status_code=422, content={"errors": entries})


async def _field_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FieldError)
    return JSONResponse(
        status_code=exc.status,
        content={"errors": [error_entry(exc.field, exc.kind, exc.message_en)]},
        headers=exc.headers,
    )


async def _too_many(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyRequests)
    return JSONResponse(
        status_code=429,
        content={"errors": [error_entry(exc.field, exc.kind, exc.message_en)]},
        headers={"Retry-After": str(exc.retry_after)},
    )


def install(app: FastAPI) -> None:
    """Register the error handlers on the app."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(TooManyRequests, _too_many)
