"""Operator commands: `python -m nachet <command>`.

  migrate                 apply the database migrations and exit
  users add EMAIL         register a user (General folder + blob container); prints its id
  users list              list the users
  users remove EMAIL|ID   delete a user, its folders, pictures, inferences and container
  db                      start the embedded database alone and print its URL (Ctrl-C stops it)
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import asyncpg

from datastore.db import DatabaseUnavailable
from datastore.migrate import migrate
from storage import DatastoreError

from .config import ConfigError, load_settings
from .runtime import close_services, database_url, open_services


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nachet", description="Nachet backend operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations")
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    users.add_parser("add", help="register a user").add_argument("email")
    users.add_parser("list", help="list users")
    users.add_parser("remove", help="delete a user and all its data").add_argument("user", help="email or id")
    sub.add_parser("db", help="run the embedded database alone for inspection")
    return parser


async def _migrate(settings) -> int:
    url, embedded = await database_url(settings)
    try:
        conn = await asyncpg.connect(url)
        try:
            applied = await migrate(conn, settings.db_schema)
        finally:
            await conn.close()
    finally:
        if embedded:
            await asyncio.to_thread(embedded.stop)
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


async def _users(settings, args) -> int:
    services = await open_services(settings, seed_default_user=False)
    try:
        storage = services.storage
        if args.action == "add":
            print(await storage.create_user(args.email))
        elif args.action == "list":
            for row in await storage.list_users():
                print(f"{row['id']}  {row['email']}  folders={row['folders']}  since {row['registration_date']:%Y-%m-%d}")
        else:
            print(f"removed {await storage.remove_user(args.user)}")
    finally:
        await close_services(services)
    return 0


async def _db(settings) -> int:
    if not settings.embedded_db:
        print("NACHET_DB_URL is set: there is no embedded database to start", file=sys.stderr)
        return 2
    url, embedded = await database_url(settings)
    print(f"embedded PostgreSQL running: psql '{url}'  (schema {settings.db_schema}); Ctrl-C to stop")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await asyncio.to_thread(embedded.stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "users":
            return asyncio.run(_users(settings, args))
        return asyncio.run(_db(settings))
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    except (DatabaseUnavailable, DatastoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
