"""Officers' sessions (api.auth, api.agencies): roles, revocation, a head's powers, and a
province's single sign-on (OpenID Connect) in place of our tokens."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from api.app import create_app
from api.auth import _AGENCY as AGENCY_PURPOSE
from api.auth import InvalidToken, OidcVerifier, _sign, issue_token, verify_token
from engine.settings import REPO_ROOT
from store.db import async_engine, session_factory
from store.models import AuditRecord, StepRecord
from tests.api.test_api import (
    BASE,
    CERTIFIED_ORIGINAL,
    TOKEN_SECRET,
    Stack,
    a_client_address,
    app_for,
    eventually,
    make_settings,
    new_provider,
    stack,  # noqa: F401  (the fixture, requested by name below)
    submission,
)
from tests.clients.test_processes import project_env

pytestmark = pytest.mark.postgres

AGENCY = "land-registration"


def bearer(agency: str = AGENCY, officer: str = "can-bo-a", role: str = "officer") -> str:
    value = issue_token(
        TOKEN_SECRET,
        agency=agency,
        officer=officer,
        valid_for=timedelta(hours=1),
        role="head" if role == "head" else "officer",
    )
    return f"Bearer {value}"


def test_a_token_carries_a_role_and_an_id_and_an_old_one_is_an_officers() -> None:
    head = verify_token(TOKEN_SECRET, bearer(role="head").split()[1])
    assert head.is_head and head.token_id and head.officer == "can-bo-a"
    other = verify_token(TOKEN_SECRET, bearer(role="head").split()[1])
    assert other.token_id != head.token_id
    # A token of the format before roles: an officer's, with nothing to revoke it by.
    payload = json.dumps({"agency": AGENCY, "officer": "cu", "exp": 4102444800}).encode()
    old = ".".join(
        base64.urlsafe_b64encode(part).rstrip(b"=").decode()
        for part in (payload, _sign(TOKEN_SECRET, AGENCY_PURPOSE, payload))
    )
    claims = verify_token(TOKEN_SECRET, old)
    assert claims.role == "officer" and claims.token_id is None
    with pytest.raises(ValueError, match="role"):
        issue_token(TOKEN_SECRET, agency=AGENCY, officer="x", valid_for=timedelta(1), role="boss")  # type: ignore[arg-type]


@pytest.fixture
async def api(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    app = app_for(None, sessions, make_settings(tmp_path), new_provider())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=a_client_address()), base_url=BASE
        ) as client:
            yield client, sessions
    finally:
        await engine.dispose()


async def test_signing_out_revokes_that_token_only(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = api
    mine, other = bearer(), bearer()
    inbox = f"/api/v1/agencies/{AGENCY}/inbox"
    assert (await client.get(inbox, headers={"Authorization": mine})).status_code == 200
    out = await client.post(f"/api/v1/agencies/{AGENCY}/sign-out", headers={"Authorization": mine})
    assert out.status_code == 200 and out.json() == {"revoked": True}
    refused = await client.get(inbox, headers={"Authorization": mine})
    assert refused.status_code == 401 and refused.json()["detail"] == "token revoked"
    assert (await client.get(inbox, headers={"Authorization": other})).status_code == 200


async def _open_steps(sessions: Any, overdue: bool) -> str:
    code = f"HS-{uuid.uuid4().hex[:10].upper()}"
    now = datetime.now(UTC)
    async with sessions() as session:
        for key, late in (("land-first-certificate:check", overdue), ("land:survey", False)):
            session.add(
                StepRecord(
                    dossier_code=code, step_key=key, procedure_code="land-first-certificate",
                    agency=AGENCY, kind="review", name_vi="Kiểm tra hồ sơ", status="open",
                    opened_at=now - timedelta(days=9),
                    due_at=now - timedelta(days=1) if late else now + timedelta(days=5),
                    overdue=late,
                )
            )  # fmt: skip
        await session.commit()
    return code


async def test_the_head_sees_escalations_and_assigns_steps_an_officer_cannot(
    api: tuple[httpx.AsyncClient, Any],
) -> None:
    client, sessions = api
    code = await _open_steps(sessions, overdue=True)
    officer = {"Authorization": bearer()}
    head = {"Authorization": bearer(officer="truong-phong", role="head")}
    escalations = f"/api/v1/agencies/{AGENCY}/escalations?page_size=100"
    assert (await client.get(escalations, headers=officer)).status_code == 403
    seen = (await client.get(escalations, headers=head)).json()["items"]
    mine = [(item["step_key"], item["overdue"]) for item in seen if item["dossier_code"] == code]
    assert mine == [("land-first-certificate:check", True)]
    step = "land-first-certificate:check"
    assignment = f"/api/v1/agencies/{AGENCY}/steps/{code}/{step}/assignment"
    body = {"officer": "can-bo-b", "reason": "quá hạn, giao người khác"}
    assert (await client.put(assignment, json=body, headers=officer)).status_code == 403
    assigned = await client.put(assignment, json=body, headers=head)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["officer"] == "can-bo-b"
    assert assigned.json()["assigned_by"] == "truong-phong"
    page = await client.get(f"/api/v1/agencies/{AGENCY}/inbox?page_size=100", headers=officer)
    items = {
        i["step_key"]: i["assigned_to"] for i in page.json()["items"] if i["dossier_code"] == code
    }
    assert items == {step: "can-bo-b", "land:survey": None}
    # Another officer may not decide it any more; nothing reaches a workflow.
    decided = await client.post(
        f"/api/v1/agencies/{AGENCY}/steps/{code}/{step}/decision",
        json={"action": "approve"},
        headers=officer,
    )
    assert decided.status_code == 403 and "can-bo-b" in decided.json()["detail"]
    async with sessions() as session:
        audit = (
            await session.execute(select(AuditRecord).where(AuditRecord.dossier_code == code))
        ).scalar_one()
    assert (audit.action, audit.actor_id, audit.detail) == (
        "reassigned",
        "truong-phong",
        "to can-bo-b",
    )
    # A step that is not this agency's, or not open: 404 / 409.
    missing = assignment.replace(step, "tax:compute")
    assert (await client.put(missing, json=body, headers=head)).status_code == 404


async def test_a_decision_on_an_assigned_step_records_the_assigned_officer(
    stack: Stack,  # noqa: F811
) -> None:
    document = await stack.upload(CERTIFIED_ORIGINAL)
    code = (await stack.submit(submission("certified-copy", [document]))).json()["dossier_code"]
    step = "certified-copy:certify"

    async def holder() -> str | None:
        async with stack.sessions() as session:
            row = await session.get(StepRecord, (code, step))
        return row.agency if row is not None and row.status == "open" else None

    agency = await eventually(holder)
    head = {"Authorization": bearer(agency, "chu-tich", "head")}
    put = await stack.client.put(
        f"/api/v1/agencies/{agency}/steps/{code}/{step}/assignment",
        json={"officer": "can-bo-b"},
        headers=head,
    )
    assert put.status_code == 200, put.text
    url = f"/api/v1/agencies/{agency}/steps/{code}/{step}/decision"
    approve = {"action": "approve", "reason": "đúng bản chính"}
    other = await stack.client.post(url, json=approve, headers={"Authorization": bearer(agency)})
    assert other.status_code == 403
    ok = await stack.client.post(
        url, json=approve, headers={"Authorization": bearer(agency, "can-bo-b")}
    )
    assert ok.status_code == 200, ok.text

    async def decision() -> AuditRecord | None:
        async with stack.sessions() as session:
            rows = await session.execute(
                select(AuditRecord).where(
                    AuditRecord.dossier_code == code, AuditRecord.action == "approve"
                )
            )
            return rows.scalars().first()

    recorded = await eventually(decision)
    assert (recorded.actor_kind, recorded.actor_id, recorded.agency) == (
        "officer",
        "can-bo-b",
        agency,
    )


# -- a province's OpenID Connect provider instead of our tokens ------------------------------

ISSUER = "https://sso.hanoi.gov.vn/realms/mot-cua"
AUDIENCE = "lienthong-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    """An identity provider's signing key, its JWKS and the tokens it signs (as Keycloak,
    VNeID or a province's own SSO would)."""

    def __init__(self, kid: str = "k1") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()

        def encode(value: int) -> str:
            return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {
            "keys": [
                {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                 "n": encode(numbers.n), "e": encode(numbers.e)}
            ]
        }  # fmt: skip

    def token(self, alg: str = "RS256", **changes: Any) -> str:
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex,
            "preferred_username": "nguyen.van.a", "agency": AGENCY, "roles": ["officer"],
        }  # fmt: skip
        claims.update(changes)
        header = _b64(json.dumps({"alg": alg, "kid": self.kid, "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = self.key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{body}.{_b64(signature if alg != 'none' else b'')}"


def test_the_oidc_verifier_maps_a_providers_claims_and_refuses_what_it_must() -> None:
    provider = Provider()
    verifier = OidcVerifier(provider.jwks, issuer=ISSUER, audience=AUDIENCE)
    claims = verifier.verify(provider.token(roles=["officer", "head"]))
    assert (claims.agency, claims.officer, claims.role) == (AGENCY, "nguyen.van.a", "head")
    assert verifier.verify(provider.token(aud=[AUDIENCE, "other"])).role == "officer"
    refused = {
        "expired": provider.token(exp=int(datetime.now(UTC).timestamp()) - 3600),
        "another audience": provider.token(aud="another-app"),
        "another issuer": provider.token(iss="https://evil.example"),
        "no agency": provider.token(agency=None),
        "alg none": provider.token(alg="none"),
        "HS256": provider.token(alg="HS256"),
        "another key": Provider().token(),
        "garbage": "a.b.c",
    }
    for why, token in refused.items():
        with pytest.raises(InvalidToken):
            verifier.verify(token)
            pytest.fail(why)


async def test_a_province_plugs_its_sso_into_the_api_and_revocation_still_holds(
    pg_url: str, tmp_path: Path
) -> None:
    provider = Provider()
    engine = async_engine(pg_url)
    sessions = session_factory(engine)
    # create_app(verifier=...): the one place a province's provider plugs in.
    app = create_app(
        temporal=None,  # type: ignore[arg-type]
        sessions=sessions,
        settings=make_settings(tmp_path),
        payments=new_provider(),
        verifier=OidcVerifier(provider.jwks, issuer=ISSUER, audience=AUDIENCE),
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            sso = {"Authorization": f"Bearer {provider.token()}"}
            inbox = f"/api/v1/agencies/{AGENCY}/inbox"
            assert (await client.get(inbox, headers=sso)).status_code == 200
            # Our own tokens no longer open anything once the province's SSO is plugged in.
            assert (await client.get(inbox, headers={"Authorization": bearer()})).status_code == 401
            head = {"Authorization": f"Bearer {provider.token(roles=['head'])}"}
            escalations = f"/api/v1/agencies/{AGENCY}/escalations"
            assert (await client.get(escalations, headers=head)).status_code == 200
            assert (await client.get(escalations, headers=sso)).status_code == 403
            await client.post(f"/api/v1/agencies/{AGENCY}/sign-out", headers=sso)
            assert (await client.get(inbox, headers=sso)).status_code == 401
    finally:
        await engine.dispose()


def test_python_m_api_revokes_a_token_read_from_stdin(pg_url: str, tmp_path: Path) -> None:
    token = bearer().split()[1]
    env = project_env(tmp_path, DATABASE_URL=pg_url, LIENTHONG_API_TOKEN_SECRET=TOKEN_SECRET)
    env["LIENTHONG_DATA_KEYS"] = os.environ["LIENTHONG_DATA_KEYS"]
    runs = [
        subprocess.run(
            [sys.executable, "-m", "api", "revoke-token"],
            input=token,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout.startswith("revoked: can-bo-a of land-registration")
    assert runs[1].stdout.startswith("already revoked")
    assert token not in runs[0].stdout + runs[0].stderr
    forged = subprocess.run(
        [sys.executable, "-m", "api", "revoke-token"],
        input=token[:-2] + "xx", cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert forged.returncode == 2 and "not a valid token" in forged.stderr
