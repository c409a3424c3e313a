"""Users, memberships and sign-in sessions: the rules (docs/decisions/010-users-and-oauth.md).

A user is installation-wide (one per email, compared case-insensitively); a membership
gives a user a role in an account. Sessions are random tokens kept in a cookie and stored
only as an HMAC, in the database, so that every `serve` process sees them."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from activecommerce.accounts.service import find_account
from activecommerce.kit.clock import after, now
from activecommerce.kit.db import Connection, Database, UniqueViolation
from activecommerce.kit.fields import _email
from activecommerce.kit.problems import Problem
from activecommerce.kit.security import key_hash
from activecommerce.kit.timezones import zone_of
from activecommerce.users import repository as repo
from activecommerce.users.passwords import Passwords

ROLES = ("owner", "member")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # Argon2 takes any length; this bounds what one request may cost
# What a member may not manage; the console and the consent page ask `may`.
OWNER_ONLY = frozenset({"apiKeys", "webhooks", "oauthClients", "users"})


def may(role: str, what: str) -> bool:
    """Whether a user of this role may manage `what` (a collection name)."""
    return role == "owner" or what not in OWNER_ONLY


def new_password() -> str:
    return secrets.token_urlsafe(12)


def check_email(email: str) -> str:
    try:
        return _email(email)
    except ValueError as exc:
        raise Problem(
            422, "The request has invalid fields.", errors=[{"field": "email", "message": str(exc)}]
        ) from None


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Problem(
            422,
            "The request has invalid fields.",
            errors=[
                {
                    "field": "password",
                    "message": f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters",
                }
            ],
        )
    return password


def owner_hook(
    email: str, password_hash: str
) -> Callable[[Connection, int], Awaitable[dict[str, Any]]]:
    """For `accounts.service.create_account(on_created=...)`: the account's owner, made in
    the account's own transaction."""

    async def make(conn: Connection, account_id: int) -> dict[str, Any]:
        return await add_member(conn, account_id, email, password_hash, "owner")

    return make


async def add_member(
    conn: Connection, account_id: int, email: str, password_hash: str | None, role: str
) -> dict[str, Any]:
    """The user with this email (made with `password_hash` if new) joins the account."""
    if role not in ROLES:
        raise Problem(422, f"Unknown role {role!r}; choose owner or member.")
    stamp = now()
    existing = await repo.find_user_by_email(conn, email)
    if existing is None:
        if password_hash is None:
            raise Problem(422, "A new user needs a password.")
        try:
            user_id = await repo.insert_user(conn, email, password_hash, stamp)
        except UniqueViolation:
            raise Problem(409, f"A user with the email {email!r} already exists.") from None
        created = True
    else:
        user_id, created = int(existing["id"]), False
    try:
        await repo.insert_membership(conn, account_id, user_id, role, stamp)
    except UniqueViolation:
        raise Problem(409, f"{email} is already a member of account {account_id}.") from None
    return {
        "userId": str(user_id),
        "email": email if existing is None else existing["email"],
        "accountId": str(account_id),
        "role": role,
        "created": created,
    }


async def create_user(
    db: Database, passwords: Passwords, account_id: int, email: str, password: str, role: str
) -> dict[str, Any]:
    """`activecommerce users create`: hashes in the caller's thread (a command)."""
    check_email(email)
    check_password(password)
    return await _join(db, account_id, email, passwords.hash_now(password), role)


async def add_user(
    db: Database,
    passwords: Passwords,
    account_id: int,
    email: str,
    password: str | None,
    role: str,
) -> dict[str, Any]:
    """The console's "add member": the rules of `create_user`, the hash off the event loop.
    An existing user (by email) joins with their own password: `password` may be None."""
    check_email(email)
    if role not in ROLES:
        raise _invalid("role", "choose owner or member")
    known = await repo.find_user_by_email(db, email) is not None
    if not known and not password:
        raise _invalid("password", "a new user needs a password")
    hashed = None if known or password is None else await passwords.hash(check_password(password))
    return await _join(db, account_id, email, hashed, role)


async def _join(
    db: Database, account_id: int, email: str, hashed: str | None, role: str
) -> dict[str, Any]:
    async with db.transaction() as conn:
        if await find_account(conn, account_id) is None:
            raise Problem(404, "No such account.")
        return await add_member(conn, account_id, email, hashed, role)


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422, "The request has invalid fields.", errors=[{"field": field, "message": message}]
    )


async def members(db: Database, account_id: int) -> list[dict[str, Any]]:
    return [
        {"userId": int(r["user_id"]), "email": r["email"], "role": r["role"]}
        for r in await repo.members(db, account_id)
    ]


async def set_role(db: Database, account_id: int, user_id: int, role: str) -> None:
    """Change a member's role; an account always keeps at least one owner."""
    if role not in ROLES:
        raise _invalid("role", "choose owner or member")
    async with db.transaction() as conn:
        owners = await repo.lock_owners(conn, account_id)
        if role == "member" and owners == [user_id]:
            raise Problem(409, "The account's last owner cannot become a member.")
        if await repo.set_role(conn, account_id, user_id, role) == 0:
            raise Problem(404, "No such member.")


async def remove_member(db: Database, account_id: int, user_id: int) -> None:
    """Remove a member from the account (the user stays, with their other accounts)."""
    async with db.transaction() as conn:
        owners = await repo.lock_owners(conn, account_id)
        if owners == [user_id]:
            raise Problem(409, "The account's last owner cannot be removed.")
        if await repo.delete_membership(conn, account_id, user_id) == 0:
            raise Problem(404, "No such member.")


async def change_password(
    db: Database, passwords: Passwords, user: SignedIn, current: str, new: str
) -> None:
    """A user changes their own password, knowing the current one; their other sessions
    end (this one stays)."""
    stored = await repo.password_hash(db, user.user_id)
    if len(current) > MAX_PASSWORD or not await passwords.verify(stored, current):
        raise _invalid("current_password", "is not your current password")
    try:
        check_password(new)
    except Problem:
        raise _invalid(
            "new_password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        ) from None
    hashed = await passwords.hash(new)
    async with db.transaction() as conn:
        await repo.set_password(conn, user.user_id, hashed, now())
        await repo.system_delete_other_sessions(conn, user.user_id, user.session_hash)


async def set_time_zone(db: Database, user: SignedIn, zone: str) -> None:
    """The zone (an IANA name, e.g. "Europe/Paris") the console shows this user's times in."""
    if zone_of(zone) is None:
        raise _invalid("timeZone", "is not a known IANA time zone (e.g. Europe/Paris or UTC)")
    async with db.transaction() as conn:
        await repo.set_time_zone(conn, user.user_id, zone, now())


async def reset_password(
    db: Database, passwords: Passwords, email: str, password: str
) -> dict[str, Any]:
    """An operator sets a user's password (`activecommerce users reset-password`): every
    session of that user ends. The hash is made off the event loop."""
    check_password(password)
    user = await repo.find_user_by_email(db, email)
    if user is None:
        raise Problem(404, f"No user with the email {email!r}.")
    hashed = await passwords.hash(password)
    async with db.transaction() as conn:
        await repo.set_password(conn, int(user["id"]), hashed, now())
        ended = await repo.system_delete_sessions(conn, int(user["id"]))
    return {"email": user["email"], "sessionsEnded": ended}


# ---------------------------------------------------------------- sign-in and sessions


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The user behind a session cookie."""

    user_id: int
    email: str
    session_hash: str
    account_id: int | None = None  # the account chosen in the console, if any
    time_zone: str = "UTC"  # where the console shows times (an IANA name)


@dataclass(frozen=True, slots=True)
class Membership:
    account_id: int
    name: str
    plan: str
    role: str


class Sessions:
    """Sign-in, sessions and their CSRF tokens, for the pages (sign-in, consent, and the
    console after them)."""

    def __init__(self, db: Database, secret: bytes, passwords: Passwords, lifetime: int) -> None:
        self._db = db
        self._secret = secret
        self.passwords = passwords
        self.lifetime = lifetime

    def _hash(self, token: str) -> str:
        return key_hash(self._secret, "session:" + token)

    async def sign_in(self, email: str, password: str) -> str | None:
        """A new session token for right credentials, else None. An unknown email costs
        the same Argon2 work as a wrong password (and gets the same answer)."""
        if len(email) > 254 or len(password) > MAX_PASSWORD:
            await self.passwords.verify(None, "x")
            return None
        user = await repo.find_user_by_email(self._db, email)
        stored = user["password_hash"] if user is not None else None
        if not await self.passwords.verify(stored, password) or user is None:
            return None
        token = secrets.token_urlsafe(32)
        stamp = now()
        async with self._db.transaction() as conn:
            await repo.system_delete_expired_sessions(conn, stamp)
            await repo.system_insert_session(
                conn, self._hash(token), int(user["id"]), stamp, after(self.lifetime)
            )
        return token

    async def current(self, token: str | None) -> SignedIn | None:
        if not token or len(token) > 100:
            return None
        hashed = self._hash(token)
        row = await repo.system_find_session(self._db, hashed, now())
        if row is None:
            return None
        chosen = row["account_id"]
        return SignedIn(
            int(row["user_id"]),
            row["email"],
            hashed,
            None if chosen is None else int(chosen),
            row["time_zone"],
        )

    async def sign_out(self, token: str | None) -> None:
        if token:
            async with self._db.transaction() as conn:
                await repo.system_delete_session(conn, self._hash(token))

    async def memberships(self, user_id: int) -> list[Membership]:
        rows = await repo.system_memberships(self._db, user_id)
        return [Membership(int(r["account_id"]), r["name"], r["plan"], r["role"]) for r in rows]

    async def choose_account(self, user: SignedIn, account_id: int) -> None:
        """The account this session's console works in (a membership: checked by caller)."""
        async with self._db.transaction() as conn:
            await repo.system_set_session_account(conn, user.session_hash, account_id)

    def mac(self, text: str) -> str:
        """A keyed hash of `text`: what a signed cookie (the console's flash) carries."""
        return key_hash(self._secret, "mac:" + text)

    def csrf_token(self, binding: str) -> str:
        """The token a form must carry: an HMAC of the session (or, before sign-in, of
        the pre-session cookie), so that another site can neither read nor forge it."""
        return key_hash(self._secret, "csrf:" + binding)

    def csrf_ok(self, binding: str | None, sent: str | None) -> bool:
        if not binding or not sent:
            return False
        return secrets.compare_digest(self.csrf_token(binding), sent)
