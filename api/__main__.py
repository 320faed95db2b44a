"""``python -m api [--host 127.0.0.1] [--port 8080]`` serves the API with uvicorn;
``python -m api issue-token --agency X --officer Y [--days N] [--role head]`` prints an agency
token; ``python -m api revoke-token < token-file`` revokes one (read from stdin, never argv).

Bad input or settings exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NoReturn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"python -m api: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The command line: serve (default) or issue-token."""
    parser = _Parser(prog="python -m api", description="The citizens' and agencies' HTTP API.")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback default)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--temporal", default=None, help="Temporal address (default: env)")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    token = commands.add_parser("issue-token", help="print a signed token for an officer")
    token.add_argument("--agency", required=True, help="agency code of the catalog")
    token.add_argument("--officer", required=True, help="the officer's id")
    token.add_argument("--days", type=float, default=1.0, help="validity in days (default 1)")
    token.add_argument("--role", choices=("officer", "head"), default="officer")
    commands.add_parser("revoke-token", help="revoke the token given on stdin")
    return parser


def _fail(message: str) -> int:
    print(f"python -m api: {message}", file=sys.stderr)
    return 2


def issue_token_command(agency: str, officer: str, days: float, role: str = "officer") -> int:
    """Print a token for an officer of an agency of the catalog."""
    from api.auth import issue_token
    from domain.catalog import UnknownAgency, default_catalog
    from engine.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc).replace("\n", " "))
    secret = settings.api_token_secret.get_secret_value()
    if not secret:
        return _fail("LIENTHONG_API_TOKEN_SECRET is not set")
    if not 0 < days <= 366:
        return _fail("--days must be more than 0 and at most 366")
    try:
        default_catalog().agency(agency)
        token = issue_token(
            secret,
            agency=agency,
            officer=officer,
            valid_for=timedelta(days=days),
            role="head" if role == "head" else "officer",
        )
    except (UnknownAgency, ValueError) as exc:
        return _fail(str(exc))
    print(token)
    return 0


class PathOnlyAccessLog(logging.Filter):
    """Uvicorn's access log with the path only: a query string may hold something secret (a
    link's token, a factor someone put in the URL against the API's advice)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the query string from the logged path; never drop the record."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].partition("?")[0], *args[3:])
        return True


async def revoke_token_command(token: str) -> int:
    """Revoke one of our tokens (read from stdin) until it expires."""
    from api.auth import InvalidToken, revoke, verify_token
    from engine.settings import SettingsError, load_settings
    from store.db import async_engine, session_factory

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc).replace("\n", " "))
    try:
        claims = verify_token(settings.api_token_secret.get_secret_value(), token)
    except InvalidToken as exc:
        return _fail(f"not a valid token: {exc}")
    engine = async_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            revoked = await revoke(session, claims, "revoked by an operator")
            await session.commit()
    finally:
        await engine.dispose()
    print(f"{'revoked' if revoked else 'already revoked'}: {claims.officer} of {claims.agency}")
    return 0


def verifier_from(settings: Any) -> Any:
    """The officers' token verifier: the province's OIDC provider when configured, else ours."""
    import json

    from api.auth import OidcVerifier, SignedTokens

    if not settings.oidc_issuer:
        return SignedTokens(settings.api_token_secret.get_secret_value())
    if not settings.oidc_audience or settings.oidc_jwks_file is None:
        raise ValueError("LIENTHONG_OIDC_ISSUER needs LIENTHONG_OIDC_AUDIENCE and _JWKS_FILE")
    jwks = json.loads(settings.oidc_jwks_file.read_text())
    return OidcVerifier(jwks, issuer=settings.oidc_issuer, audience=settings.oidc_audience)


async def serve(host: str, port: int, temporal_address: str | None) -> int:
    """Run the API until interrupted."""
    import uvicorn

    from api.app import create_app
    from api.payments import FakePaymentProvider
    from api.protocol import header_deadline_protocol
    from engine.logs import configure_logging
    from engine.settings import SettingsError, load_settings
    from engine.temporal import connect
    from store.db import async_engine, session_factory

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc).replace("\n", " "))
    for name in ("api_token_secret", "payment_webhook_secret"):
        if not getattr(settings, name).get_secret_value():
            return _fail(f"LIENTHONG_{name.upper()} is not set; the API needs it")
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("uvicorn.access").addFilter(PathOnlyAccessLog())
    client = await connect(temporal_address)
    engine = async_engine(settings.database_url)
    payments = FakePaymentProvider(
        secret=settings.payment_webhook_secret.get_secret_value(),
        callback_url=f"http://{host}:{port}/api/v1/payments/callback",
    )
    try:
        verifier = verifier_from(settings)
    except (OSError, ValueError) as exc:
        return _fail(f"single sign-on: {exc}")
    app = create_app(
        temporal=client,
        sessions=session_factory(engine),
        settings=settings,
        payments=payments,
        verifier=verifier,
    )
    try:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            http=header_deadline_protocol(settings.api_header_timeout_seconds),
        )
        await uvicorn.Server(config).serve()
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "issue-token":
        return issue_token_command(args.agency, args.officer, args.days, args.role)
    if args.command == "revoke-token":
        return asyncio.run(revoke_token_command(sys.stdin.read().strip()))
    if not 0 < args.port < 65536:
        return _fail("--port must be 1-65535")
    return asyncio.run(serve(args.host, args.port, args.temporal))


if __name__ == "__main__":
    from engine.temporal import exit_process

    exit_process(main())
