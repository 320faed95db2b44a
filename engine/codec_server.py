"""The codec server: lets the Temporal Web UI and CLI show encrypted payloads, for token holders.

Temporal's codec server protocol: ``POST .../encode`` and ``POST .../decode`` take and return
``Payloads`` as protobuf JSON (``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``);
only the last path segment counts, so ``http://host:8081/default/decode`` works too. The UI
sends ``X-Namespace``. Bad JSON or a payload that cannot be decrypted: 400 with a message
naming at most a key id.

Every encode/decode needs ``LIENTHONG_CODEC_TOKEN``, either as ``Authorization: Bearer <token>``
(the CLI: ``temporal workflow show --codec-endpoint URL --codec-auth "Bearer $TOKEN"``) or as
the session cookie that ``GET /login`` sets once the token is typed there. The Web UI cannot
send an arbitrary bearer token (its "pass the user access token" sends its own OIDC token, and
only to an https endpoint); with "Include cross-origin credentials" on it sends the cookie
(a switch the UI shows only under "Use my browser setting and ignore Cluster-level setting").
The cookie is ``SameSite=Strict``: open the UI on the same host name as the codec server
(``127.0.0.1`` for both, or ``localhost`` for both). Without a valid token or cookie: 401 and
nothing decoded.

Run: ``python -m engine.codec_server [--host 127.0.0.1] [--port 8081]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from engine.codec import EncryptionCodec
from engine.crypto import CryptoError, KeyRing
from engine.logs import get_logger

log = get_logger("codec_server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
PROG = "python -m engine.codec_server"
MAX_BODY_BYTES = 16 * 1024 * 1024  # Temporal's own limit is 2 MB per payload
SESSION_COOKIE = "lienthong_codec_session"
SESSION_SECONDS = 8 * 3600
_SESSION_CONTEXT = b"lienthong/codec-session/v1:"
_HTML_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

Coder = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def session_cookie_value(token: str, expires: int) -> str:
    """The session cookie for ``token`` valid until ``expires`` (Unix seconds): ``<exp>.<mac>``.

    An HMAC of the expiry keyed by the token: the cookie never holds the token, and changing the
    token ends every session.
    """
    mac = hmac.new(token.encode("utf-8"), _SESSION_CONTEXT + str(expires).encode(), "sha256")
    return f"{expires}.{_b64url(mac.digest())}"


def _session_valid(token: str, value: str, now: float) -> bool:
    expires, _, _ = value.partition(".")
    if not expires.isdigit() or int(expires) <= now:
        return False
    return hmac.compare_digest(value.encode(), session_cookie_value(token, int(expires)).encode())


def _token_matches(token: str, offered: str) -> bool:
    # Constant time on the digests, so neither the length nor a prefix of the token leaks.
    return hmac.compare_digest(
        hashlib.sha256(offered.encode("utf-8")).digest(),
        hashlib.sha256(token.encode("utf-8")).digest(),
    )


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.5}"
        "input{font-size:1em;padding:.3em;width:100%}small{color:#555}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HTML_HEADERS)


def _authorised(token: str, request: Request) -> bool:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and offered and _token_matches(token, offered.strip()):
        return True
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and _session_valid(token, cookie, time.time())


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _parse_payloads(body: bytes) -> Payloads:
    payloads = Payloads()
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError(f"a JSON object is expected, not {type(document).__name__}")
        json_format.ParseDict(document, payloads, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, RecursionError) as exc:
        # The parser's message names a field or a position; it never holds payload data.
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise HTTPException(400, f"the body is not Temporal Payloads JSON: {reason}") from None
    return payloads


async def _apply(token: str, request: Request, operation: str, coder: Coder) -> Response:
    namespace = request.headers.get("x-namespace", "")[:100]
    if not _authorised(token, request):
        log.warning("codec_unauthorised", operation=operation, namespace=namespace)
        raise HTTPException(
            401,
            "a valid Authorization: Bearer <LIENTHONG_CODEC_TOKEN> or sign-in cookie is needed",
            headers={"WWW-Authenticate": "Bearer"},
        )
    payloads = _parse_payloads(await _read_body(request))
    try:
        converted = await coder(payloads.payloads)
    except CryptoError as exc:
        log.warning("codec_failed", operation=operation, namespace=namespace, error=str(exc))
        raise HTTPException(400, f"cannot {operation}: {exc}") from None
    log.info("codec_request", operation=operation, namespace=namespace, payloads=len(converted))
    text = json_format.MessageToJson(
        Payloads(payloads=converted), always_print_fields_with_no_presence=True
    )
    return Response(text, media_type="application/json")


def _sign_in_form(message: str = "", status: int = 200) -> HTMLResponse:
    notice = f"<p><strong>{html.escape(message)}</strong></p>" if message else ""
    return _page(
        "Máy chủ giải mã — Liên thông",
        f"{notice}<p>Nhập mã truy cập (<code>LIENTHONG_CODEC_TOKEN</code>) để Temporal Web UI "
        "trên trình duyệt này đọc được dữ liệu hồ sơ đã mã hóa.<br><small>Enter the codec "
        "server's access token so that the Temporal Web UI in this browser can decode "
        "payloads.</small></p>"
        '<form method="post" action="login"><p><label for="token">Mã truy cập</label><br>'
        '<input id="token" name="token" type="password" autocomplete="off" required></p>'
        '<p><button type="submit">Đăng nhập</button></p></form>',
        status,
    )


def _signed_in_page(request: Request) -> HTMLResponse:
    endpoint = str(request.base_url).rstrip("/")
    return _page(
        "Đã đăng nhập",
        f"<p>Trình duyệt này dùng được máy chủ giải mã trong {SESSION_SECONDS // 3600} giờ."
        "</p><p>Trong Temporal Web UI, mở <em>Codec Server</em> (biểu tượng ở thanh trên), "
        "chọn <em>Use my browser setting and ignore Cluster-level setting</em>, "
        f"nhập địa chỉ <code>{html.escape(endpoint)}</code>, bật "
        "<em>Include cross-origin credentials</em> rồi bấm <em>Apply</em>. Mở Web UI bằng "
        f"cùng tên máy (<code>{html.escape(request.url.hostname or '')}</code>).</p>"
        "<p><small>Signed in for this browser. In the Web UI's Codec Server settings, choose "
        "<em>Use my browser setting and ignore Cluster-level setting</em>, use this "
        "endpoint and turn on <em>Include cross-origin credentials</em>.</small></p>"
        '<form method="post" action="logout"><button type="submit">Đăng xuất</button></form>',
    )


def create_app(*, token: str, key_ring: KeyRing, cors_origins: Sequence[str] = ()) -> FastAPI:
    """The codec server as an ASGI app.

    Args:
        token: the access token every encode/decode must present (``LIENTHONG_CODEC_TOKEN``).
        key_ring: the data keys, the same ring the workers use.
        cors_origins: the Web UI origins allowed to call it from a browser.

    Raises:
        ValueError: ``token`` is empty.
    """
    if not token:
        raise ValueError("the codec server needs an access token (LIENTHONG_CODEC_TOKEN)")
    codec = EncryptionCodec(key_ring)
    app = FastAPI(
        title="Liên thông codec server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # The UI's requests carry Content-Type: application/json and X-Namespace, so the browser
    # sends a preflight first; it carries no credentials and is answered here, before auth.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        max_age=600,
    )

    async def encode(request: Request) -> Response:
        """Encrypt the given payloads with the active key."""
        return await _apply(token, request, "encode", codec.encode)

    async def decode(request: Request) -> Response:
        """Decrypt the given payloads; others pass through."""
        return await _apply(token, request, "decode", codec.decode)

    # Only the last path segment counts (the protocol): /encode, /default/encode, ...
    for path in ("/encode", "/{prefix:path}/encode"):
        app.add_api_route(path, encode, methods=["POST"], include_in_schema=False)
    for path in ("/decode", "/{prefix:path}/decode"):
        app.add_api_route(path, decode, methods=["POST"], include_in_schema=False)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        """Liveness for compose and the demo; says nothing about keys or data."""
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    @app.get("/login", include_in_schema=False)
    async def login_page() -> HTMLResponse:
        """The sign-in form."""
        return _sign_in_form()

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> HTMLResponse:
        """Check the typed token; on success set the session cookie for this browser."""
        body = await _read_body(request)
        try:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=4)
        except (UnicodeDecodeError, ValueError):
            fields = {}
        offered = (fields.get("token") or [""])[0].strip()
        if not offered or not _token_matches(token, offered):
            log.warning("codec_sign_in_refused")
            return _sign_in_form("Mã truy cập không đúng. (Wrong access token.)", status=401)
        expires = int(time.time()) + SESSION_SECONDS
        page = _signed_in_page(request)
        page.set_cookie(
            SESSION_COOKIE,
            session_cookie_value(token, expires),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        log.info("codec_signed_in", expires=expires)
        return page

    @app.post("/logout", include_in_schema=False)
    async def logout() -> HTMLResponse:
        """Forget this browser's session."""
        page = _sign_in_form("Đã đăng xuất. (Signed out.)")
        page.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return page

    return app


class _Parser(argparse.ArgumentParser):
    # One line on stderr for bad input, as starter.py does.
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``python -m engine.codec_server`` (bad input: exit 2, one line)."""
    parser = _Parser(prog=PROG, description="Decrypt Temporal payloads for the Web UI and CLI.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m engine.codec_server [--host H] [--port P]``: serve until SIGINT/SIGTERM."""
    import uvicorn

    from engine.keys import get_key_ring
    from engine.logs import configure_logging
    from engine.settings import SettingsError, get_settings

    args = parse_args(argv)
    try:
        settings = get_settings()
        token = settings.codec_token.get_secret_value()
        if not token:
            raise SettingsError(
                "LIENTHONG_CODEC_TOKEN is not set; the codec server never runs without one "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        configure_logging(settings.log_level, settings.log_format)
        app = create_app(
            token=token, key_ring=get_key_ring(), cors_origins=settings.codec_cors_origin_list
        )
    except (SettingsError, CryptoError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    log.info(
        "codec_server_started",
        url=f"http://{args.host}:{args.port}",
        cors_origins=settings.codec_cors_origin_list,
    )
    # uvicorn's own logging config would replace ours; its records go through the root logger.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
