"""The command line (docs/guides/operations.md): serve, worker, db upgrade, accounts, keys, contacts
import."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from activecommerce.accounts.plans import PLANS
from activecommerce.config import get_settings

app = typer.Typer(help="ActiveCommerce: a self-hosted CRM and marketing-automation platform.")
db_app = typer.Typer(help="Database maintenance.")
accounts_app = typer.Typer(help="Accounts and their API keys.")
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="API keys: list, create, revoke.")
contacts_app = typer.Typer(help="Contacts: import from a file.")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="Users: who signs in, and their role in an account.")
app.add_typer(users_app, name="users")
oauth_app = typer.Typer(help="OAuth 2.0 clients (third-party apps).")
app.add_typer(oauth_app, name="oauth-clients")
app.add_typer(contacts_app, name="contacts")
console = Console(stderr=True, soft_wrap=True)
# The owner of the developer account a fresh `serve` makes.
DEVELOPER_EMAIL = "developer@example.com"


def _migrate() -> None:
    from activecommerce.kit.migrate import upgrade

    upgrade(get_settings().effective_database_url)


def _where() -> str:
    """The database the settings point at, as a person can find it (no password)."""
    from sqlalchemy.engine import make_url

    from activecommerce.kit.db import is_sqlite, sqlite_path

    url = get_settings().effective_database_url
    if is_sqlite(url):
        return str(Path(sqlite_path(url)).resolve())
    return make_url(url).render_as_string(hide_password=True)


def _open_database(*, create: bool = False) -> None:
    """Bring the configured database up to date before a command uses it. Only `serve`,
    `db upgrade` and `accounts create` (`create`) may make a new one; every other command
    refuses, naming where it looked, rather than work on an empty database made by
    mistake (run from another folder, the default ./.data is another data directory)."""
    from sqlalchemy.exc import SQLAlchemyError

    from activecommerce.kit.migrate import has_schema

    settings = get_settings()
    try:
        exists = has_schema(settings.effective_database_url)
    except SQLAlchemyError as exc:
        console.print(f"Cannot open the database at {_where()}: {exc.__cause__ or exc}")
        raise typer.Exit(1) from None
    if not exists:
        if not create:
            console.print(_no_database_text(settings.database_url is not None))
            raise typer.Exit(1)
        console.print(f"Setting up a new database at {_where()}")
    _migrate()


def _no_database_text(by_url: bool) -> str:
    if by_url:
        return (
            f"No ActiveCommerce database at {_where()}: it has no tables (not migrated).\n"
            "Set ACTIVECOMMERCE_DATABASE_URL to the database `activecommerce serve` uses,"
            " or prepare this one with `activecommerce db upgrade`."
        )
    return (
        f"No ActiveCommerce database at {_where()}.\n"
        f"The data directory is ACTIVECOMMERCE_DATA_DIR (now {get_settings().data_dir};"
        f" a relative path is taken from the current folder, {Path.cwd()}).\n"
        "Run this command where `activecommerce serve` runs, or set"
        " ACTIVECOMMERCE_DATA_DIR to its data directory (or ACTIVECOMMERCE_DATABASE_URL to"
        " its PostgreSQL database). `activecommerce serve` or `activecommerce db upgrade`"
        " makes a new one."
    )


def _print_json(value: Any) -> None:
    """A command's --json answer: one line on stdout (messages go to stderr)."""
    sys.stdout.write(orjson.dumps(value).decode() + "\n")


async def _with_db(fn: Any) -> Any:
    from activecommerce.accounts.service import server_secret
    from activecommerce.kit.db import connect

    settings = get_settings()
    db = await connect(
        settings.effective_database_url,
        acquire_timeout=settings.db_acquire_timeout_seconds,
        statement_timeout=settings.db_statement_timeout_seconds,
        retry_after=settings.db_retry_after_seconds,
    )
    try:
        secret = await server_secret(db, settings.secret_key)
        # The suppression list's keyed hash: every command that writes contacts needs it.
        from activecommerce.consent import keys as consent_keys

        consent_keys.configure(secret)
        return await fn(db, secret)
    finally:
        await db.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, help="API processes on this port (scaled mode: needs PostgreSQL)"),
    ] = 1,
) -> None:
    """Migrate the database if needed and serve the API (and, embedded, the worker)."""
    from activecommerce.accounts import repository
    from activecommerce.accounts.service import create_account
    from activecommerce.imports.router import IMPORTS_PATH
    from activecommerce.kit.db import is_sqlite
    from activecommerce.server import ServeConfig
    from activecommerce.server import serve as run_server
    from activecommerce.users.passwords import Passwords
    from activecommerce.users.service import new_password, owner_hook
    from activecommerce.web.contact_imports import UPLOAD_PATH

    settings = get_settings()
    if workers > 1 and is_sqlite(settings.effective_database_url):
        console.print(
            "--workers needs PostgreSQL (ACTIVECOMMERCE_DATABASE_URL): SQLite has one"
            " writer and the embedded worker runs inside the one serve process. One"
            " process serves many connections; for more, move to PostgreSQL."
        )
        raise typer.Exit(2)

    owner_password = new_password()

    async def first_run(db: Any, secret: bytes) -> dict[str, Any] | None:
        if await repository.count_accounts(db) > 0:
            return None
        hashed = Passwords(1).hash_now(owner_password)
        return await create_account(
            db,
            secret,
            name="Developer",
            plan="free",
            on_created=owner_hook(DEVELOPER_EMAIL, hashed),
        )

    created = _run(first_run, create=True)
    base = settings.public_url or f"http://{host}:{port}"
    # Links in emails point here unless ACTIVECOMMERCE_PUBLIC_URL says otherwise.
    settings = settings.model_copy(update={"public_url": base})
    console.print(f"ActiveCommerce is serving at [bold]{base}/v3[/bold]")
    console.print(f"API docs: {base}/docs   OpenAPI: {base}/v3/openapi.json")
    database = "SQLite " + str(settings.data_dir) if not settings.database_url else "PostgreSQL"
    console.print(f"Database: {database}")
    if workers > 1:
        console.print(f"API processes: {workers}")
        if not settings.redis_url:
            console.print(
                "Without ACTIVECOMMERCE_REDIS_URL each API process counts rate limits on its"
                " own: a client may get up to the limit from each."
            )
    if created:
        key = created["sandboxApiKey"]
        console.print(
            f"Created a developer account, id [bold]{created['accountId']}[/bold]"
            " (plan free). Its sandbox API key (shown only now):\n"
            f"  [bold]{key}[/bold]\n"
            f"Try: curl -H 'Api-Token: {key}' {base}/v3/contacts\n"
            f"Sign in at {base}/signin (shown only now):\n"
            f"  email    [bold]{DEVELOPER_EMAIL}[/bold]\n"
            f"  password [bold]{owner_password}[/bold]"
        )
    else:
        console.print(
            "Accounts: activecommerce accounts list; a new one: activecommerce accounts"
            " create --name NAME --plan free"
        )
    config = ServeConfig(
        settings,
        (IMPORTS_PATH, UPLOAD_PATH),
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        # Timeouts and the connection limit (per process): see activecommerce/server.py.
        timeout_keep_alive=settings.http_keepalive_seconds,
        timeout_graceful_shutdown=10,
        # X-Forwarded-For is read by the app, from ACTIVECOMMERCE_TRUSTED_PROXIES only
        # (uvicorn's own handling trusts loopback by default).
        proxy_headers=False,
    )
    if not run_server(config):
        raise typer.Exit(3)


@app.command()
def worker() -> None:
    """Run background work only (the scaled mode: any number of these on PostgreSQL)."""
    import signal

    from activecommerce.email.config import EmailConfig
    from activecommerce.webhooks.service import WebhookConfig
    from activecommerce.worker import build_worker, configure, settle_heap

    settings = get_settings()
    _open_database()

    async def run(db: Any, secret: bytes) -> None:
        webhooks, email = WebhookConfig(), EmailConfig()
        configure(settings, secret, webhooks, email)
        background = build_worker(db, settings, webhooks, email)
        settle_heap()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, background.stop)
        console.print(f"Worker {background.worker_id} running. Ctrl-C stops it.")
        try:
            await background.run()
        finally:
            await background.close()

    asyncio.run(_with_db(run))


@app.command()
def inbound(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 2525,
) -> None:
    """Receive bounces and complaints over SMTP (for a relay or MX of the bounce domain)."""
    import logging
    import signal

    from activecommerce.deliverability.inbound import Intake, start
    from activecommerce.email.config import EmailConfig
    from activecommerce.webhooks.service import WebhookConfig
    from activecommerce.wiring import wire
    from activecommerce.worker import configure

    settings = get_settings()
    if not settings.bounce_domain:
        console.print(
            "Set ACTIVECOMMERCE_BOUNCE_DOMAIN (the domain whose mail reaches this server)"
            " first: messages carry return paths on it once it is set."
        )
        raise typer.Exit(2)
    _open_database()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run(db: Any, secret: bytes) -> None:
        email = EmailConfig()
        configure(settings, secret, WebhookConfig(), email)
        wire()  # the event subscribers: webhooks and automations see bounces and complaints
        assert email.verp is not None
        server = await start(Intake(db, email.verp), host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(
            f"Receiving reports for {settings.bounce_domain} on {host}:{port}. Ctrl-C stops."
        )
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(_with_db(run))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Make the database if there is none, and apply every pending migration."""
    _open_database(create=True)
    console.print("Database is up to date.")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="Account name")],
    plan: Annotated[str, typer.Option(help=f"One of: {', '.join(PLANS)}")] = "free",
    owner_email: Annotated[
        str | None, typer.Option(help="Make this user the account's owner")
    ] = None,
    owner_password: Annotated[
        str | None, typer.Option(help="The owner's password (default: generated, printed)")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create an account with its API keys (sandbox; live too on a paid plan) and,
    with --owner-email, its owner."""
    from activecommerce.accounts.service import create_account
    from activecommerce.users.passwords import Passwords
    from activecommerce.users.service import (
        check_email,
        check_password,
        new_password,
        owner_hook,
    )

    if plan not in PLANS:
        console.print(f"Unknown plan {plan!r}; choose one of: {', '.join(PLANS)}.")
        raise typer.Exit(2)
    hook = None
    generated = None
    if owner_email is not None:
        password = owner_password
        if password is None:
            password = generated = new_password()
        try:
            check_email(owner_email)
            check_password(password)
        except Exception as exc:
            console.print(_problem_text(exc))
            raise typer.Exit(2) from None
        hook = owner_hook(owner_email, Passwords(1).hash_now(password))
    elif owner_password is not None:
        console.print("--owner-password needs --owner-email.")
        raise typer.Exit(2)
    # The command that sets up an installation may make its database (and says so).
    result = _run(
        lambda db, secret: create_account(db, secret, name=name, plan=plan, on_created=hook),
        create=True,
    )
    if owner_email is not None:
        # A user who existed already keeps their password: none was made for them.
        existed = not result["owner"]["created"]
        result["ownerPassword"] = None if existed else generated
    if json:
        _print_json(result)
        return
    console.print(f"Account {result['accountId']} ({plan}) created. Keys are shown only now:")
    console.print(f"  sandbox: {result['sandboxApiKey']}")
    if result["liveApiKey"]:
        console.print(f"  live:    {result['liveApiKey']}")
    if owner_email is not None:
        console.print(f"Owner: {owner_email}" + (f", password {generated}" if generated else ""))


@accounts_app.command("list")
def accounts_list(
    json: Annotated[bool, typer.Option("--json", help="Print a JSON array")] = False,
) -> None:
    """List the accounts: id, name, plan and when each was created."""
    from rich.table import Table

    from activecommerce.accounts import repository

    rows = _run(lambda db, secret: repository.list_accounts(db))
    views = [
        {"id": str(r["id"]), "name": r["name"], "plan": r["plan"], "createdAt": r["created_at"]}
        for r in rows
    ]
    if json:
        _print_json(views)
        return
    if not views:
        console.print("No accounts yet: activecommerce accounts create --name NAME --plan free")
        return
    table = Table("id", "name", "plan", "created")
    for v in views:
        table.add_row(v["id"], v["name"], v["plan"], v["createdAt"])
    Console(soft_wrap=True).print(table)


def _problem_text(exc: Exception) -> str:
    from activecommerce.kit.problems import Problem

    if isinstance(exc, Problem):
        details = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors or [])
        return f"{exc.detail}{' ' + details if details else ''}"
    return str(exc)


@users_app.command("create")
def users_create(
    account: Annotated[str, typer.Option(help="Account id")],
    email: Annotated[str, typer.Option(help="The user's email (unique in the installation)")],
    password: Annotated[
        str | None, typer.Option(help="Password of a new user (default: generated, printed)")
    ] = None,
    role: Annotated[str, typer.Option(help="owner or member")] = "member",
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Add a user to an account (a user who exists already keeps their password)."""
    from activecommerce.users.passwords import Passwords
    from activecommerce.users.service import create_user, new_password

    account_id = _account_id(account)
    generated = None
    if password is None:
        password = generated = new_password()
    chosen = password
    result = _run(lambda db, secret: create_user(db, Passwords(1), account_id, email, chosen, role))
    if generated is not None and result["created"]:
        result["password"] = generated
    if json:
        _print_json(result)
        return
    what = "created" if result["created"] else "existing user added"
    console.print(f"User {result['userId']} ({email}, {role} of account {account_id}): {what}")
    if generated is not None and result["created"]:
        console.print(f"  password (shown only now): {generated}")


@users_app.command("reset-password")
def users_reset_password(
    email: Annotated[str, typer.Option(help="The user's email")],
    password: Annotated[
        str | None, typer.Option(help="The new password (default: generated, printed)")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print {email, password}")] = False,
) -> None:
    """Set a user's password (for a lost one); the user's sessions end."""
    from activecommerce.users.passwords import Passwords
    from activecommerce.users.service import new_password, reset_password

    chosen = password if password is not None else new_password()

    async def reset(db: Any, secret: bytes) -> dict[str, Any]:
        passwords = Passwords(1)
        try:
            return await reset_password(db, passwords, email, chosen)
        finally:
            passwords.close()

    result = _run(reset)
    if json:
        out = {"email": result["email"], "password": chosen}
        _print_json(out)
        return
    ended = result["sessionsEnded"]
    console.print(f"Password of {result['email']} reset; {ended} session(s) signed out.")
    if password is None:
        console.print(f"  new password (shown only now): {chosen}")


@oauth_app.command("create")
def oauth_clients_create(
    account: Annotated[str, typer.Option(help="Account id (the app's developer)")],
    env: Annotated[str, typer.Option(help="live or sandbox")],
    scopes: Annotated[str, typer.Option(help='Space-separated, e.g. "contacts:read deals:read"')],
    redirect_uri: Annotated[
        list[str] | None, typer.Option(help="Repeatable; required for the code flow")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="No secret; PKCE required")] = False,
    name: Annotated[str, typer.Option(help="Shown on the consent page")] = "OAuth app",
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Register an OAuth client; its secret is shown only now."""
    from activecommerce.oauth.service import create_client

    account_id = _account_id(account)
    if env not in ("live", "sandbox"):
        console.print(f"Unknown environment {env!r}; choose live or sandbox.")
        raise typer.Exit(2)

    async def create(db: Any, secret: bytes) -> dict[str, Any]:
        async with db.transaction() as conn:
            return await create_client(
                conn,
                secret,
                account_id=account_id,
                env=env,
                name=name,
                scopes=scopes.split(),
                redirect_uris=list(redirect_uri or []),
                public=public,
            )

    view = _run(create)
    if json:
        _print_json(view)
        return
    console.print(f"OAuth client {view['clientId']} ({env}) registered.")
    if view.get("clientSecret"):
        console.print(f"  client secret (shown only now): {view['clientSecret']}")


def _run(fn: Any, *, create: bool = False) -> Any:
    """Run a service call against the configured database (made first only if `create`);
    a Problem ends the command with its message and exit status 2."""
    from activecommerce.kit.problems import Problem

    _open_database(create=create)
    try:
        return asyncio.run(_with_db(fn))
    except Problem as exc:
        console.print(_problem_text(exc))
        raise typer.Exit(2) from None


def _account_id(value: str) -> int:
    from activecommerce.kit.fields import parse_id

    parsed = parse_id(value)
    if parsed is None:
        console.print(f"{value!r} is not an account id.")
        raise typer.Exit(2)
    return parsed


@accounts_app.command("set-plan")
def accounts_set_plan(
    account: Annotated[str, typer.Argument(help="Account id")],
    plan: Annotated[str, typer.Argument(help=f"One of: {', '.join(PLANS)}")],
) -> None:
    """Upgrade or downgrade an account; the new rate limit applies from the next request."""
    from activecommerce.accounts.service import set_plan

    account_id = _account_id(account)
    _run(lambda db, secret: set_plan(db, account_id, plan))
    console.print(f"Account {account_id} is now on plan {plan}.")


@keys_app.command("list")
def keys_list(
    account: Annotated[str, typer.Option(help="Account id")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List an account's active keys (prefixes only; secrets are never stored)."""
    from activecommerce.accounts import repository
    from activecommerce.accounts.service import key_view

    account_id = _account_id(account)
    rows = _run(lambda db, secret: repository.list_account_keys(db, account_id))
    views = [key_view(r) for r in rows]
    if json:
        _print_json(views)
        return
    for v in views:
        console.print(
            f"{v['id']:>6}  {v['environment']:<8} {v['prefix']}…  created {v['createdAt']}"
            f"  last used {v['lastUsedAt'] or 'never'}"
        )


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="Account id")],
    env: Annotated[str, typer.Option(help="live or sandbox")] = "sandbox",
    name: Annotated[str | None, typer.Option(help="What the key is for (optional)")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create a key; it is shown only now."""
    from activecommerce.accounts.service import create_key

    account_id = _account_id(account)

    async def create(db: Any, secret: bytes) -> dict[str, Any]:
        async with db.transaction() as conn:
            return await create_key(conn, secret, account_id, env, name)

    view = _run(create)
    if json:
        _print_json(view)
        return
    console.print(f"Key {view['id']} ({env}), shown only now:\n  {view['key']}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id")],
    account: Annotated[str, typer.Option(help="Account id")],
) -> None:
    """Revoke a key at once, in every process."""
    from activecommerce.accounts.service import revoke_key

    account_id = _account_id(account)
    parsed = _account_id(key_id)
    if not _run(lambda db, secret: revoke_key(db, parsed, account_id, None)):
        console.print(f"No active key {key_id} in account {account_id}.")
        raise typer.Exit(1)
    console.print(f"Key {key_id} revoked.")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header row; .ndjson or .jsonl: one contact object per line",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    account: Annotated[str, typer.Option(help="Account id")],
    env: Annotated[str, typer.Option(help="live or sandbox")],
    update: Annotated[
        bool, typer.Option("--update/--no-update", help="Update contacts whose email exists")
    ] = True,
    json: Annotated[bool, typer.Option("--json", help="Print the finished import")] = False,
) -> None:
    """Import contacts from a file, as POST /v3/contactImports does, with a progress bar.
    The import runs here; should this command stop, a worker finishes it."""
    from rich.progress import Progress

    from activecommerce.accounts.plans import has_live
    from activecommerce.accounts.repository import get_account
    from activecommerce.imports import service
    from activecommerce.kit.principal import Principal
    from activecommerce.kit.problems import Problem

    account_id = _account_id(account)
    if env not in ("live", "sandbox"):
        console.print("--env is live or sandbox.")
        raise typer.Exit(2)
    settings = get_settings()
    fmt = "ndjson" if file.suffix.lower() in (".ndjson", ".jsonl") else "csv"
    worker_id = f"cli:{socket.gethostname()}:{os.getpid()}"[:64]

    async def chunks() -> AsyncIterator[bytes]:
        with file.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk

    async def run(db: Any, secret: bytes) -> service.ImportView:
        row = await get_account(db, account_id)
        if row is None:
            raise Problem(404, f"No account {account_id}.")
        if env == "live" and not has_live(row["plan"]):
            raise Problem(403, f"Account {account_id} (plan {row['plan']}) has no live data.")
        principal = Principal.acting_for(account_id, env, row["plan"])
        with Progress(console=console) as progress:
            reading = progress.add_task("Reading", total=file.stat().st_size)
            import_id, job_id = await service.receive(
                db,
                principal,
                fmt,
                update,
                chunks(),
                held_by=worker_id,
                lease_seconds=settings.job_lease_seconds,
                on_bytes=lambda n: progress.advance(reading, n),
            )
            importing = progress.add_task("Importing", total=None)

            def show(imp: service.ImportView) -> None:
                progress.update(importing, total=imp["total"], completed=imp["processed"])

            return await service.run_held(
                db,
                principal,
                import_id,
                job_id,
                worker_id,
                service.batch_size(db, settings.import_batch_size),
                settings.job_lease_seconds,
                show,
            )

    result = _run(run)
    if json:
        _print_json(result)
    else:
        console.print(
            f"Import {result['id']} {result['status']}: {result['total']} rows,"
            f" {result['created']} created, {result['updated']} updated,"
            f" {result['skipped']} skipped, {result['failed']} failed."
        )
        for error in result["errors"]:
            console.print(f"  line {error['line']}: {error['message']}")
    if result["status"] != "completed":
        raise typer.Exit(1)


def main() -> None:
    app()
