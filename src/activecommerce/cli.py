"""The command line (SPEC §8): serve, db upgrade, accounts."""

from __future__ import annotations

import asyncio
import sys
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
app.add_typer(accounts_app, name="accounts")
console = Console(stderr=True, soft_wrap=True)


def _migrate() -> None:
    from activecommerce.kit.migrate import upgrade

    upgrade(get_settings().effective_database_url)


async def _with_db(fn: Any) -> Any:
    from activecommerce.accounts.service import server_secret
    from activecommerce.kit.db import connect

    settings = get_settings()
    db = await connect(settings.effective_database_url)
    try:
        secret = await server_secret(db, settings.secret_key)
        return await fn(db, secret)
    finally:
        await db.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
) -> None:
    """Migrate the database if needed and serve the API (and, embedded, the worker)."""
    import uvicorn

    from activecommerce.accounts import repository
    from activecommerce.accounts.service import create_account
    from activecommerce.app import create_app

    settings = get_settings()
    _migrate()

    async def first_run(db: Any, secret: bytes) -> dict[str, Any] | None:
        if await repository.count_accounts(db) > 0:
            return None
        return await create_account(db, secret, name="Developer", plan="free")

    created = asyncio.run(_with_db(first_run))
    base = settings.public_url or f"http://{host}:{port}"
    console.print(f"ActiveCommerce is serving at [bold]{base}/v3[/bold]")
    console.print(f"API docs: {base}/docs   OpenAPI: {base}/v3/openapi.json")
    database = "SQLite " + str(settings.data_dir) if not settings.database_url else "PostgreSQL"
    console.print(f"Database: {database}")
    if created:
        key = created["sandboxApiKey"]
        console.print(
            "Created a developer account. Its sandbox API key (shown only now):\n"
            f"  [bold]{key}[/bold]\n"
            f"Try: curl -H 'Api-Token: {key}' {base}/v3/contacts"
        )
    else:
        console.print(
            "Make an account and keys with: activecommerce accounts create --name NAME --plan free"
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=access_log,
        log_level="info" if access_log else "warning",
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    _migrate()
    console.print("Database is up to date.")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="Account name")],
    plan: Annotated[str, typer.Option(help=f"One of: {', '.join(PLANS)}")] = "free",
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create an account with its API keys (sandbox; live too on a paid plan)."""
    from activecommerce.accounts.service import create_account
    from activecommerce.kit.problems import Problem

    if plan not in PLANS:
        console.print(f"Unknown plan {plan!r}. Choose one of: {', '.join(PLANS)}.")
        raise typer.Exit(2)
    _migrate()
    try:
        result = asyncio.run(
            _with_db(lambda db, secret: create_account(db, secret, name=name, plan=plan))
        )
    except Problem as exc:
        console.print(exc.detail)
        raise typer.Exit(2) from None
    if json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    console.print(f"Account {result['accountId']} ({plan}) created. Keys are shown only now:")
    console.print(f"  sandbox: {result['sandboxApiKey']}")
    if result["liveApiKey"]:
        console.print(f"  live:    {result['liveApiKey']}")


def main() -> None:
    app()
