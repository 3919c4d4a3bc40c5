"""Bearer JWT authentication, roles and data scope.

Scope is the bank's rule of who may see a customer: staff see the customers they own; lobby
managers, RM supervisors and branch managers see their branch; head office, auditors and admins
see all. Auditors never write. A customer out of scope is answered as not found.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm_kit.settings import ServiceSettings


class Role(StrEnum):
    HIGH_COUNTER_TELLER = "high_counter_teller"
    LOW_COUNTER_STAFF = "low_counter_staff"
    LOBBY_MANAGER = "lobby_manager"
    RELATIONSHIP_MANAGER = "relationship_manager"
    RM_SUPERVISOR = "rm_supervisor"
    BRANCH_MANAGER = "branch_manager"
    HEAD_OFFICE = "head_office"
    COMPLAINT_HANDLER = "complaint_handler"
    AUDITOR = "auditor"
    ADMIN = "admin"


BRANCH_SCOPE = frozenset({Role.LOBBY_MANAGER, Role.RM_SUPERVISOR, Role.BRANCH_MANAGER})
ALL_SCOPE = frozenset({Role.HEAD_OFFICE, Role.AUDITOR, Role.ADMIN})
READ_ONLY = frozenset({Role.AUDITOR})
# Roles that act on other staff members' work: hand a task or a customer to someone else, merge duplicate records.
SUPERVISING = frozenset({Role.RM_SUPERVISOR, Role.BRANCH_MANAGER, Role.HEAD_OFFICE, Role.ADMIN})
# Roles whose work needs full sensitive values (identity checks at the counter, calling the customer).
MAY_REVEAL = frozenset(
    {
        Role.HIGH_COUNTER_TELLER,
        Role.LOW_COUNTER_STAFF,
        Role.RELATIONSHIP_MANAGER,
        Role.RM_SUPERVISOR,
        Role.BRANCH_MANAGER,
        Role.COMPLAINT_HANDLER,
    }
)


@dataclass(frozen=True)
class Principal:
    staff_id: str
    role: Role
    branch: str | None

    @property
    def may_write(self) -> bool:
        return self.role not in READ_ONLY

    @property
    def may_reveal(self) -> bool:
        return self.role in MAY_REVEAL


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self._secret = settings.crm_jwt_secret.get_secret_value() if settings.crm_jwt_secret else None
        self._jwks = (
            jwt.PyJWKClient(settings.crm_jwt_jwks_url, cache_keys=True, lifespan=300)
            if settings.crm_jwt_jwks_url
            else None
        )
        self._issuer = settings.crm_jwt_issuer
        if not self._secret and not self._jwks:
            raise RuntimeError("set CRM_JWT_SECRET (HS256) or CRM_JWT_JWKS_URL (RS256)")

    @property
    def fetches_keys(self) -> bool:
        return self._jwks is not None

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            options: jwt.types.Options = {"require": ["sub", "exp"]}
            if header.get("alg") == "RS256" and self._jwks:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(token, key, algorithms=["RS256"], issuer=self._issuer, options=options)
            elif header.get("alg") == "HS256" and self._secret:
                claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=self._issuer, options=options)
            else:
                raise jwt.InvalidAlgorithmError(f"algorithm {header.get('alg')!r} not accepted")
        except jwt.PyJWTError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}", {"WWW-Authenticate": "Bearer"}
            ) from exc
        try:
            role = Role(str(claims.get("role")))
        except ValueError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, f"invalid token: unknown role {claims.get('role')!r}"
            ) from exc
        return Principal(staff_id=str(claims["sub"]), role=role, branch=claims.get("branch"))


def issue_token(*, secret: str, staff_id: str, role: str, branch: str | None, ttl_seconds: int = 8 * 3600) -> str:
    now = int(time.time())
    claims = {"sub": staff_id, "role": Role(role).value, "iat": now, "exp": now + ttl_seconds}
    if branch:
        claims["branch"] = branch
    return jwt.encode(claims, secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.verifier
    if verifier.fetches_keys:
        # PyJWKClient may fetch the key set over HTTP: keep that off the event loop.
        principal = await asyncio.to_thread(verifier.verify, credentials.credentials)
    else:
        principal = verifier.verify(credentials.credentials)

    structlog.contextvars.bind_contextvars(staff_id=principal.staff_id, role=principal.role.value)
    return principal


def require_roles(*roles: Role) -> Any:
    async def _check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role.value} may not do this")
        return principal

    return _check


async def writer(principal: Principal = Depends(current_principal)) -> Principal:
    if not principal.may_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role.value} is read-only")
    return principal


# Who may call an endpoint, as FastAPI parameters: the same sets in every service. A service's own set (who may
# hand a customer to another RM, who may reassign a task) is declared beside its routes, under its own name.
Reader = Annotated[Principal, Depends(current_principal)]
"""Any signed-in staff member; what they see is narrowed by data scope."""
Writer = Annotated[Principal, Depends(writer)]
"""Any staff member who may write (not an auditor)."""
PolicyEditor = Annotated[Principal, Depends(require_roles(Role.HEAD_OFFICE, Role.ADMIN))]
"""Who may publish a new version of a service's rules."""
AuditReader = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.HEAD_OFFICE, Role.ADMIN))]
"""Who may read a service's audit trail."""


def app_state(name: str) -> Any:
    """A dependency answering the service's context, stored on the app as `app.state.<name>` by `create_app`."""

    def context(request: Request) -> Any:
        return getattr(request.app.state, name)

    return context
