"""Which set of one-stop forms a dossier gets, and each form's number and title in it.

The forms are versioned like the procedures: a dossier keeps the forms in force on the day it was
received.

- Circular 01/2018/TT-VPCP (guiding Decree 61/2018/NĐ-CP): 01 receipt, 02 supplement request,
  03 refusal, 04 apology and new appointment, 05 process-control slip, 06 register.
- Circular 03/2025/TT-VPCP of 15/9/2025 (guiding Decree 118/2025/NĐ-CP), Appendix I: 01 receipt,
  02 supplement request, 03 refusal, **04 apology and request for an extension**, **05 notice
  that processing stops (new)**, 06 process-control slip, 07 register. Source: the list of the
  circular's forms published by thuviennhadat.vn ("Tải file word biểu mẫu Thông tư
  03/2025/TT-VPCP", read December 2026), which says Appendix I sets the forms "từ ngày
  15/9/2025"; the circular's own text was not read [unverified: its article on entry into force].

The engine names forms by `FormKind`; the numbers are what is printed, in file names and on the
command line (which takes the 2025 numbers, see `kind_of`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from domain.clock import VN_TZ

__all__ = [
    "CIRCULAR_03_2025_FROM",
    "FormEdition",
    "FormKind",
    "edition_on",
    "kind_of",
    "number_of",
    "title_of",
]

CIRCULAR_03_2025_FROM = date(2025, 9, 15)


class FormEdition(StrEnum):
    """The circular whose forms a dossier gets."""

    CIRCULAR_01_2018 = "01/2018/TT-VPCP"
    CIRCULAR_03_2025 = "03/2025/TT-VPCP"


class FormKind(StrEnum):
    """What a form is, whatever its number."""

    RECEIPT = "receipt"
    SUPPLEMENT = "supplement"
    REFUSAL = "refusal"
    APOLOGY = "apology"
    STOP_NOTICE = "stop_notice"  # 2025 only
    CONTROL_SLIP = "control_slip"
    REGISTER = "register"


_NUMBERS: dict[FormEdition, dict[FormKind, str]] = {
    FormEdition.CIRCULAR_01_2018: {
        FormKind.RECEIPT: "01",
        FormKind.SUPPLEMENT: "02",
        FormKind.REFUSAL: "03",
        FormKind.APOLOGY: "04",
        FormKind.CONTROL_SLIP: "05",
        FormKind.REGISTER: "06",
    },
    FormEdition.CIRCULAR_03_2025: {
        FormKind.RECEIPT: "01",
        FormKind.SUPPLEMENT: "02",
        FormKind.REFUSAL: "03",
        FormKind.APOLOGY: "04",
        FormKind.STOP_NOTICE: "05",
        FormKind.CONTROL_SLIP: "06",
        FormKind.REGISTER: "07",
    },
}

_TITLES: dict[FormEdition, dict[FormKind, str]] = {
    FormEdition.CIRCULAR_01_2018: {
        FormKind.RECEIPT: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
        FormKind.SUPPLEMENT: "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
        # [unverified] the circular's wording: "từ chối tiếp nhận giải quyết" with or without a
        # comma.
        FormKind.REFUSAL: "Phiếu từ chối tiếp nhận, giải quyết hồ sơ",
        FormKind.APOLOGY: "Phiếu xin lỗi và hẹn lại ngày trả kết quả",
        FormKind.CONTROL_SLIP: "Phiếu kiểm soát quá trình giải quyết hồ sơ",
        FormKind.REGISTER: "Sổ theo dõi hồ sơ",
    },
    FormEdition.CIRCULAR_03_2025: {
        FormKind.RECEIPT: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
        FormKind.SUPPLEMENT: "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
        FormKind.REFUSAL: "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
        FormKind.APOLOGY: "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết",
        FormKind.STOP_NOTICE: "Thông báo dừng giải quyết hồ sơ",
        FormKind.CONTROL_SLIP: "Phiếu kiểm soát quá trình giải quyết hồ sơ",
        FormKind.REGISTER: "Sổ theo dõi hồ sơ",
    },
}


def edition_on(received: date | datetime) -> FormEdition:
    """The forms of a dossier received on that day (a moment is read in Viet Nam's time)."""
    day = received.astimezone(VN_TZ).date() if isinstance(received, datetime) else received
    if day >= CIRCULAR_03_2025_FROM:
        return FormEdition.CIRCULAR_03_2025
    return FormEdition.CIRCULAR_01_2018


def number_of(kind: FormKind, edition: FormEdition) -> str:
    """The form's number in that edition; ValueError if the edition has no such form."""
    try:
        return _NUMBERS[edition][kind]
    except KeyError:
        raise ValueError(
            f"the forms of Circular {edition} have no {kind.replace('_', ' ')} "
            f"(it is form 05 of Circular {FormEdition.CIRCULAR_03_2025}, from "
            f"{CIRCULAR_03_2025_FROM:%d/%m/%Y})"
        ) from None


def title_of(kind: FormKind, edition: FormEdition) -> str:
    """The form's title in Vietnamese, as that edition prints it."""
    number_of(kind, edition)  # the same error for a form the edition lacks
    return _TITLES[edition][kind]


def kind_of(number: str) -> FormKind:
    """The form a number names on the command line and in the API: the numbers of Circular
    03/2025 (``05`` is the notice that processing stops, ``06`` the control slip)."""
    for kind, candidate in _NUMBERS[FormEdition.CIRCULAR_03_2025].items():
        if candidate == number:
            return kind
    raise ValueError(f"no form {number!r}; the forms are numbered 01 to 07")
