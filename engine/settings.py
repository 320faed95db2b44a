"""Settings read from the environment (prefix ``LIENTHONG_``) with pydantic-settings.

The one exception to the prefix is ``DATABASE_URL``, the name every tool and platform already
uses; ``LIENTHONG_DATABASE_URL`` works too. The Temporal connection is not configured here: it
comes from the SDK's own environment configuration (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
profiles in ``temporal.toml``), see `engine.temporal`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.crypto import KeyConfigError, parse_data_keys

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / ".data"
ENV_PREFIX = "LIENTHONG_"

# What a user should type, per setting, when theirs is missing or malformed.
_EXAMPLES = {
    "database_url": "DATABASE_URL=postgresql://lienthong:secret@127.0.0.1:5432/lienthong",
    "desk_code": "LIENTHONG_DESK_CODE=DONGDA",
    "fee_collector_tax_code": "LIENTHONG_FEE_COLLECTOR_TAX_CODE=0100000000",
    "log_level": "LIENTHONG_LOG_LEVEL=info",
    "log_format": "LIENTHONG_LOG_FORMAT=json",
    "data_dir": "LIENTHONG_DATA_DIR=/var/lib/lienthong",
    "letters_dir": "LIENTHONG_LETTERS_DIR=/var/lib/lienthong/letters",
    "outbox_dir": "LIENTHONG_OUTBOX_DIR=/var/lib/lienthong/outbox",
    "public_base_url": "LIENTHONG_PUBLIC_BASE_URL=https://dichvucong.dongda.hanoi.gov.vn",
    "temporal_ui_url": "LIENTHONG_TEMPORAL_UI_URL=https://temporal.dongda.hanoi.gov.vn",
    "letter_place_vi": "LIENTHONG_LETTER_PLACE_VI=Hà Nội",
    "pdf_font": "LIENTHONG_PDF_FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "smtp_host": "LIENTHONG_SMTP_HOST=smtp.dongda.hanoi.gov.vn",
    "smtp_port": "LIENTHONG_SMTP_PORT=587",
    "smtp_from": "LIENTHONG_SMTP_FROM=motcua@dongda.hanoi.gov.vn",
    "smtp_username": "LIENTHONG_SMTP_USERNAME=motcua",
    "smtp_password": "LIENTHONG_SMTP_PASSWORD=secret",
    "smtp_security": "LIENTHONG_SMTP_SECURITY=starttls",
    "smtp_timeout_seconds": "LIENTHONG_SMTP_TIMEOUT_SECONDS=30",
    "agency_email_domain": "LIENTHONG_AGENCY_EMAIL_DOMAIN=agencies.dongda.hanoi.gov.vn",
    "delivery_attempts": "LIENTHONG_DELIVERY_ATTEMPTS=3",
    "post_absent_rate": "LIENTHONG_POST_ABSENT_RATE=0.1",
    "post_not_found_rate": "LIENTHONG_POST_NOT_FOUND_RATE=0.02",
    "portal_failure_rate": "LIENTHONG_PORTAL_FAILURE_RATE=0.05",
    "sms_failure_rate": "LIENTHONG_SMS_FAILURE_RATE=0.02",
    "einvoice_failure_rate": "LIENTHONG_EINVOICE_FAILURE_RATE=0.02",
    "data_keys": (
        "LIENTHONG_DATA_KEYS=k2026a:<base64 of 32 random bytes>,k2025b:<...>; "
        "make one with: python -m engine.crypto new-key"
    ),
    "data_key_id": "LIENTHONG_DATA_KEY_ID=k2026a",
    "codec_token": (
        "LIENTHONG_CODEC_TOKEN=<32+ random characters>; make one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ),
    "codec_cors_origins": (
        "LIENTHONG_CODEC_CORS_ORIGINS=https://temporal-ui.dongda.hanoi.gov.vn,http://localhost:8080"
    ),
    "api_token_secret": (
        "LIENTHONG_API_TOKEN_SECRET=<32+ random characters>; make one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ),
    "payment_webhook_secret": "LIENTHONG_PAYMENT_WEBHOOK_SECRET=<the secret the provider gave you>",
    "upload_max_bytes": "LIENTHONG_UPLOAD_MAX_BYTES=10485760",
    "upload_types": "LIENTHONG_UPLOAD_TYPES=application/pdf,image/jpeg,image/png",
    "admission_activity_queues": "LIENTHONG_ADMISSION_ACTIVITY_QUEUES=one-stop",
}

# The codec server's shortest acceptable access token (python -c 'import secrets; ...' gives 43).
CODEC_TOKEN_MIN_LENGTH = 16


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable and an example."""


def _secret(description: str) -> Any:
    """A secret setting, empty when unset; whatever needs it checks that it is set."""
    return Field(default=SecretStr(""), description=description)


def _matching(value: str, pattern: str, message: str) -> str:
    """``value`` if all of it matches ``pattern``; else a `ValueError` with ``message``."""
    if not re.fullmatch(pattern, value):
        raise ValueError(message)
    return value


def _chance(default: float, description: str) -> Any:
    """A probability, from 0 to 1."""
    return Field(default=default, ge=0, le=1, description=description)


def normalise_database_url(url: str) -> str:
    """Return a SQLAlchemy URL with the driver this project uses.

    ``postgres://`` and ``postgresql://`` become ``postgresql+psycopg://`` (psycopg 3); SQLite
    URLs are kept. Anything else is refused, so a typo fails at start rather than at first query.
    """
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite:///")):
        return url
    raise ValueError(
        "must be a PostgreSQL URL (postgresql://user:password@host:5432/db) "
        "or a SQLite file URL (sqlite:///path/to/file.db)"
    )


class Settings(BaseSettings):
    """Everything a process of this project reads from its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=DATA_DIR,
        description="Where the embedded demo keeps its state (Temporal, SQLite, logs, outbox).",
    )
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "LIENTHONG_DATABASE_URL"),
        description="SQLAlchemy URL of the registry; SQLite in data_dir by default (demo).",
    )
    desk_code: str = Field(
        default="DONGDA",
        description="Code of this one-stop desk, the first part of every dossier code.",
    )
    fee_collector_tax_code: str = Field(
        default="",
        pattern=r"^(\d{10}(-\d{3})?)?$",
        description="Tax code (mã số thuế) of the agency that collects fees, printed on each "
        "electronic receipt; empty prints 'chưa khai báo' (the demo).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # -- letters (form 04) and notifications --------------------------------------------------
    letters_dir: Path | None = Field(
        default=None,
        description="Where rendered letters (HTML and PDF) are kept; data_dir/letters by default.",
    )
    outbox_dir: Path | None = Field(
        default=None,
        description="The outbox channel's directory of .eml files; data_dir/outbox by default.",
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        description="Public address of the tracking site; letters print {url}/track/{code} as QR.",
    )
    letter_place_vi: str = Field(
        default="Hà Nội", description="The place printed before a letter's date."
    )
    pdf_font: Path | None = Field(
        default=None,
        description="TrueType font for PDFs (Vietnamese); DejaVu Sans found in the usual places.",
    )
    smtp_host: str = Field(
        default="", description="SMTP server for e-mail; unset: messages go to the outbox."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(
        default="", description="Sender address; the one-stop desk's agency address by default."
    )
    smtp_username: str = Field(default="", description="SMTP login; none when empty.")
    smtp_password: SecretStr = Field(default=SecretStr(""))
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="Plain, STARTTLS upgrade, or implicit TLS (port 465)."
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    agency_email_domain: str = Field(
        default="agencies.lienthong.local",
        description="Agencies are written to at {agency}@domain, their heads at head.{agency}@.",
    )
    # Home delivery by post: the simulated post office's behaviour and the attempts allowed.
    delivery_attempts: int = Field(
        default=3, ge=1, le=10, description="Delivery attempts before the result goes back."
    )
    post_absent_rate: float = _chance(0.1, "Simulated post: chance nobody is home.")
    post_not_found_rate: float = _chance(0.02, "Simulated post: chance the address is not found.")
    # The national portal's status sync (activities.portal): the simulated portal's behaviour.
    portal_failure_rate: float = _chance(0.0, "Simulated portal: chance a report is refused.")
    sms_failure_rate: float = _chance(0.0, "Simulated SMS gateway: chance a send fails.")
    einvoice_failure_rate: float = _chance(
        0.0, "Simulated tax authority e-invoice system: chance a transmission fails."
    )

    # -- personal data at rest (engine.crypto) ----------------------------------------------------
    data_keys: SecretStr = _secret(
        "AES-256 keys for personal data, comma-separated kid:base64 (32 bytes); unset: the "
        "demo key file data_dir/keys/data-keys.json. Keep old keys listed to read old rows."
    )
    data_key_id: str = Field(
        default="",
        description="The key id new personal data is encrypted with; default: the first key.",
    )

    # -- the codec server (engine.codec_server) ---------------------------------------------------
    codec_token: SecretStr = _secret(
        "Bearer token the codec server requires of every request (and of its sign-in page); "
        "the codec server refuses to start without one."
    )
    codec_cors_origins: str = Field(
        default="http://localhost:8233,http://127.0.0.1:8233",
        description="Comma-separated Temporal Web UI origins allowed to call the codec server.",
    )

    # -- the HTTP API (api/) ----------------------------------------------------------------------
    api_token_secret: SecretStr = _secret(
        "HMAC-SHA256 key of agency tokens and of the receipts' tracking secrets; the API "
        "refuses to start without one."
    )
    payment_webhook_secret: SecretStr = _secret(
        "Key the payment provider signs its callbacks with (HMAC-SHA256)."
    )
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0, le=1024**3)
    upload_types: str = Field(
        default="application/pdf,image/jpeg,image/png",
        description="Comma-separated types an upload may have (checked on the file's bytes).",
    )
    inbox_due_soon_hours: float = Field(
        default=8.0,
        gt=0,
        description="An inbox step due within this many working hours is due soon.",
    )
    temporal_ui_url: str = Field(
        default="http://127.0.0.1:8233",
        description="The Temporal Web UI as the officers' browsers reach it (desk links to it).",
    )
    # Back-pressure at intake (api.admission): 0 turns a bound off.
    admission_max_backlog: int = Field(
        default=100, ge=0, description="Tasks waiting before submissions get 429."
    )
    admission_max_backlog_age_seconds: float = Field(
        default=0.5, ge=0, description="Age of the oldest waiting task before 429."
    )
    admission_max_in_flight: int = Field(
        default=0, ge=0, description="Running dossiers before 429 (visibility count); 0: off."
    )
    admission_activity_queues: str = Field(
        default="one-stop",
        description="Agencies whose activity queue backlog counts too (comma-separated codes).",
    )
    admission_cache_seconds: float = Field(
        default=1.0, ge=0, le=60, description="How long one load reading serves every request."
    )
    # Abuse limits of the API (api.limits), per dossier and per client address; counters in the
    # registry, shared by every API process.
    api_factor_free_attempts: int = Field(
        default=3, ge=1, le=100, description="Failed second factors on a dossier before delays."
    )
    api_factor_base_delay_seconds: float = Field(
        default=1.0, ge=0, le=3600, description="The first delay; it doubles after each failure."
    )
    api_factor_max_delay_seconds: float = Field(default=300.0, ge=0, le=86400)
    api_factor_lock_after: int = Field(
        default=10, ge=2, le=1000, description="Failures that lock a dossier's weak factor."
    )
    api_writes_per_minute: int = Field(default=60, ge=1, description="Writes per client.")
    api_writes_per_dossier_hour: int = Field(default=30, ge=1, description="Acts per dossier.")
    api_submissions_per_hour: int = Field(default=20, ge=1, description="Dossiers per client.")
    api_submissions_per_minute: int = Field(
        default=3, ge=1, description="Dossiers per client in a burst (one minute)."
    )
    # A province's single sign-on for officers instead of our tokens (api.auth.OidcVerifier).
    oidc_issuer: str = Field(default="", description="The identity provider's issuer (iss).")
    oidc_audience: str = Field(default="", description="This API's client id (aud).")
    oidc_jwks_file: Path | None = Field(
        default=None, description="The provider's JSON Web Key Set, as fetched by the operator."
    )
    api_header_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="A request's head must arrive within this."
    )
    api_one_time_code_minutes: int = Field(
        default=10, ge=1, le=60, description="How long a one-time code sent to an applicant lasts."
    )

    @field_validator("codec_token", "api_token_secret", "payment_webhook_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and (secret != secret.strip() or len(secret) < CODEC_TOKEN_MIN_LENGTH):
            raise ValueError(
                f"must be at least {CODEC_TOKEN_MIN_LENGTH} characters, without spaces around it"
            )
        return value

    @field_validator("admission_activity_queues")
    @classmethod
    def _admission_activity_queues(cls, value: str) -> str:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        for code in codes:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", code):
                raise ValueError(f"{code!r} is not an agency code such as one-stop")
        return ",".join(codes)

    @field_validator("upload_types")
    @classmethod
    def _upload_types(cls, value: str) -> str:
        types = [kind.strip().lower() for kind in value.split(",") if kind.strip()]
        unknown = sorted(set(types) - {"application/pdf", "image/jpeg", "image/png"})
        if not types or unknown:
            raise ValueError("must list some of application/pdf, image/jpeg, image/png")
        return ",".join(types)

    @field_validator("codec_cors_origins")
    @classmethod
    def _codec_cors_origins(cls, value: str) -> str:
        # A browser's Origin is scheme://host[:port], no path; credentials forbid "*".
        origins = [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        for origin in origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin such as http://localhost:8233 (no path, no *)"
                )
        return ",".join(origins)

    @field_validator("data_keys")
    @classmethod
    def _data_keys(cls, value: SecretStr) -> SecretStr:
        # The message names the entry and its key id, never the key.
        if value.get_secret_value().strip():
            try:
                parse_data_keys(value.get_secret_value())
            except KeyConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("data_key_id")
    @classmethod
    def _data_key_id(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            return value
        keys = info.data.get("data_keys")
        if keys is None:  # LIENTHONG_DATA_KEYS is itself invalid and reported
            return value
        if not keys.get_secret_value().strip():
            raise ValueError("is set but LIENTHONG_DATA_KEYS is not; set both")
        if value not in parse_data_keys(keys.get_secret_value()):
            raise ValueError("names no key of LIENTHONG_DATA_KEYS")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value) if value else value

    @model_validator(mode="after")
    def _embedded_default(self) -> Settings:
        # The embedded default follows data_dir, so a second demo elsewhere has its own file.
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'lienthong.db'}")
        return self

    @field_validator("desk_code")
    @classmethod
    def _desk_code(cls, value: str) -> str:
        # The code is split on '-', so the desk part must not contain one.
        return _matching(
            value, r"[A-Z0-9.]{2,20}", "must be 2-20 characters of A-Z, 0-9 or '.', with no '-'"
        )

    @field_validator("public_base_url", "temporal_ui_url")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        return _matching(
            value.strip().rstrip("/"),
            r"https?://[^\s/]+(/\S*)?",
            "must be an http:// or https:// address",
        )

    @field_validator("agency_email_domain")
    @classmethod
    def _agency_email_domain(cls, value: str) -> str:
        return _matching(
            value.strip().lower(),
            r"[a-z0-9-]+(\.[a-z0-9-]+)+",
            "must be a domain name such as agencies.example.gov.vn",
        )

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str) -> str:
        value = value.strip()
        return _matching(value, r"[^@\s]+@[^@\s]+", "must be an e-mail address") if value else ""

    @property
    def letters_path(self) -> Path:
        """Where rendered letters are written (``letters_dir`` or ``data_dir/letters``)."""
        return self.letters_dir or self.data_dir / "letters"

    @property
    def outbox_path(self) -> Path:
        """The outbox channel's directory (``outbox_dir`` or ``data_dir/outbox``)."""
        return self.outbox_dir or self.data_dir / "outbox"

    @property
    def sender_address(self) -> str:
        """The From address of outgoing mail: ``smtp_from`` or the one-stop desk's address."""
        return self.smtp_from or self.agency_address("one-stop")

    def agency_address(self, agency: str, *, head: bool = False) -> str:
        """The mailbox of an agency (``land-registration@domain``), or of its head."""
        return f"{'head.' if head else ''}{agency}@{self.agency_email_domain}"

    def tracking_url(self, dossier_code: str) -> str:
        """Where the applicant follows a dossier; printed as the QR code on the forms."""
        return f"{self.public_base_url}/track/{dossier_code}"

    def desk_url(self, dossier_code: str) -> str:
        """The dossier's page on the officers' desk (the Web UI's details link back to it)."""
        return f"{self.public_base_url}/desk/dossiers/{dossier_code}"

    @property
    def codec_cors_origin_list(self) -> list[str]:
        """The Web UI origins the codec server answers cross-origin requests from."""
        return [origin for origin in self.codec_cors_origins.split(",") if origin]

    @property
    def is_sqlite(self) -> bool:
        """Whether the registry is the embedded SQLite file (the demo default)."""
        return self.database_url.startswith("sqlite")


def _variable_name(field: str) -> str:
    return "DATABASE_URL" if field == "database_url" else ENV_PREFIX + field.upper()


def load_settings() -> Settings:
    """Read the settings, turning a validation error into one line per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            # Aliased fields report their alias (DATABASE_URL); map back to the field name.
            field = str(error["loc"][0]).lower().removeprefix("lienthong_") if error["loc"] else "?"
            message = error["msg"].removeprefix("Value error, ")
            example = _EXAMPLES.get(field, "")
            lines.append(
                f"{_variable_name(field)}: {message}"
                + (f" (example: {example})" if example else "")
            )
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for error messages and logs."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
