"""The revocation list of officers' tokens (`api.auth`): a revoked token is refused by every API
process until it expires.

Callers own the transaction (commit at the unit-of-work boundary).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_new
from store.models import RevokedToken


async def is_revoked(session: AsyncSession, token_id: str) -> bool:
    """Whether the token with this id is on the revocation list."""
    return await session.get(RevokedToken, token_id) is not None


async def revoke_token(
    session: AsyncSession,
    token_id: str,
    *,
    agency: str,
    officer: str,
    expires_at: datetime,
    revoked_at: datetime,
    reason: str,
) -> bool:
    """Put a token on the revocation list: whether it was newly put there."""
    return await insert_new(
        session,
        RevokedToken,
        RevokedToken.token_id,
        token_id=token_id,
        agency=agency,
        officer=officer,
        expires_at=expires_at,
        revoked_at=revoked_at,
        reason=reason[:200],
    )
