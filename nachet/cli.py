"""Operator commands: `python -m nachet <command>`.

migrate                 apply the database migrations and exit
users add EMAIL [--exist-ok] [--admin]   register a user (General folder + blob container);
                        prints its id; --admin: may act for every user (secured mode)
users list              list the users
users remove EMAIL|ID   delete a user, its folders, pictures, inferences and container
users grant-admin EMAIL / users revoke-admin EMAIL
users grant-verifier EMAIL / users revoke-verifier EMAIL   who may accept examples (reviewed learning)
examples pending|accept|reject, classifier versions|rollback|promote   (nachet/review_commands.py)
sample set FOLDER_ID --weight-g G, report FOLDER_ID [--format] [--out], report verify FILE
tokens create EMAIL [--expires DAYS] [--name NAME]   a personal API token, printed once
tokens list [EMAIL]     list tokens (never the tokens themselves)
tokens revoke ID        revoke a token at once
db                      start the embedded database alone and print its URL (Ctrl-C stops it)
pipelines insert FILE   add or update the pipelines and models of a YAML/JSON pipeline file
pipelines list          list the active pipelines and their models
pipelines reload        make every running worker and replica reload its pipelines
pipelines install-builtin [--if-empty]   add the offline pipeline (built-in detector ->
                        learning classifier); --if-empty: only when there is no pipeline
serve-models            serve the built-in models over the Azure ML protocol (POST /score)
models export-triton DIR [--onnx NAME=PATH] [--gpu] ...   the built-in embedder and ONNX models as
                        a Triton model repository (nachet/triton_export.py)
measurements export OUT.csv [--user EMAIL]   every measured seed (area, length, width, ...)
export, import-folder, classify   the data tools (nachet/data_commands.py)
worker [--concurrency N] [--until-idle]   run background tasks (learning, folder jobs) on this
                        machine until stopped (or until the queue is empty)
fsck [--repair [--apply]]  report rows without blobs, blobs without rows, dangling folder
                        markers and containers without a user (exit 1 when any); --repair shows
                        what it would fix, --repair --apply fixes it
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from identity import api_tokens
from kernel.errors import DatastoreError
from storage import accounts
from storage import pipelines as stored_pipelines
from storage.database import DatabaseUnavailable, apply_migrations
from storage.fsck import GRACE_S

from . import report_commands, review_commands
from .config import ConfigError, load_settings
from .data_commands import add_data_commands, classify, export, import_folder, measurements, seeds
from .report_commands import add_report_commands
from .review_commands import add_review_commands
from .runtime import database_url, services_for_a_command
from .triton_export import add_model_commands, models_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nachet", description="Nachet backend operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations")
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="register a user")
    add.add_argument("email")
    add.add_argument("--exist-ok", action="store_true", help="a registered email is not an error")
    add.add_argument("--admin", action="store_true", help="an administrator (may act for every user)")
    users.add_parser("list", help="list users")
    users.add_parser("remove", help="delete a user and all its data").add_argument("user", help="email or id")
    users.add_parser("grant-admin", help="make a user an administrator").add_argument("email")
    users.add_parser("revoke-admin", help="take a user's administrator role away").add_argument("email")
    users.add_parser("grant-verifier", help="let a user accept examples").add_argument("email")
    users.add_parser("revoke-verifier", help="take a user's verifier role away").add_argument("email")
    tokens = sub.add_parser("tokens", help="personal API tokens").add_subparsers(dest="action", required=True)
    create = tokens.add_parser("create", help="create a token (printed once; only its hash is kept)")
    create.add_argument("email")
    create.add_argument("--expires", type=float, metavar="DAYS", help="expire after DAYS (default: never)")
    create.add_argument("--name", default="", help="what the token is for (a lab machine, a script)")
    tokens.add_parser("list", help="list tokens").add_argument("email", nargs="?")
    tokens.add_parser("revoke", help="revoke a token").add_argument("id")
    sub.add_parser("db", help="run the embedded database alone for inspection")
    pipes = sub.add_parser("pipelines", help="manage model pipelines").add_subparsers(
        dest="action", required=True
    )
    pipes.add_parser(
        "insert", help="insert a pipeline file (format: README, example: pipelines/example.yaml)"
    ).add_argument("file")
    pipes.add_parser("set-default", help="make a pipeline the default").add_argument("name")
    pipes.add_parser("remove", help="take a pipeline out of service").add_argument("name")
    pipes.add_parser("list", help="list active pipelines")
    pipes.add_parser("reload", help="tell running servers to reload their pipelines")
    builtin = pipes.add_parser("install-builtin", help="add the offline built-in pipeline")
    builtin.add_argument(
        "--if-empty", action="store_true", help="only on a database that has no pipeline yet"
    )
    serve = sub.add_parser("serve-models", help="serve the built-in models over the Azure ML protocol")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=12380)
    serve.add_argument(
        "--key", required=True, help="the API key clients send as 'Authorization: Bearer <key>'"
    )
    serve.add_argument("--header", default="azureml-model-deployment", help="header naming the deployment")
    serve.add_argument(
        "--onnx",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also serve an ONNX model file or export folder under a deployment name",
    )
    add_data_commands(sub)
    add_review_commands(sub)
    add_report_commands(sub)
    add_model_commands(sub)
    worker = sub.add_parser("worker", help="run background tasks (learning, folder classification)")
    worker.add_argument(
        "--concurrency", type=int, default=None, help="tasks at once (NACHET_TASK_CONCURRENCY)"
    )
    worker.add_argument("--until-idle", action="store_true", help="stop once no task is due")
    fsck = sub.add_parser("fsck", help="check that rows and blobs agree (exit 1 on any finding)")
    fsck.add_argument(
        "--repair",
        action="store_true",
        help="show what a repair does (a dry run unless --apply): delete orphan blobs and containers, "
        "rewrite lost markers, delete picture rows whose blob is lost",
    )
    fsck.add_argument("--apply", action="store_true", help="with --repair: carry the repair out")
    fsck.add_argument(
        "--grace",
        type=float,
        default=GRACE_S,
        metavar="SECONDS",
        help=f"ignore blobs written this recently (requests in flight; default {GRACE_S:g})",
    )
    return parser


async def _fsck(settings, args) -> int:
    from storage import fsck

    if args.apply and not args.repair:
        print("error: --apply goes with --repair", file=sys.stderr)
        return 2
    async with services_for_a_command(settings) as services:
        findings = await fsck.check(services.pool, services.blobs, args.grace)
        for finding in findings:
            print(finding)
            if args.repair:
                print(f"  {'repair' if args.apply else 'would'}: {finding.repair_action()}")
        apply = args.repair and args.apply
        repaired = await fsck.repair(services.pool, services.blobs, findings) if apply and findings else 0
    summary = f"{len(findings)} finding(s)"
    if args.repair:
        summary += f", {repaired} repaired" if args.apply else " (a dry run: add --apply to repair)"
    print(summary, file=sys.stderr)
    return 1 if findings else 0


async def _worker(settings, args) -> int:
    if args.concurrency is not None:
        if args.concurrency < 1:
            print("error: --concurrency must be at least 1", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"task_concurrency": args.concurrency})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with services_for_a_command(settings) as services:
        await services.pipelines.start()
        await services.learner.start()
        if args.until_idle:
            await services.tasks.run_until_idle()
        else:
            await services.tasks.start()
            print(
                f"task worker running ({settings.task_concurrency} at once); Ctrl-C stops it", file=sys.stderr
            )
            await stop.wait()
    return 0


async def _migrate(settings) -> int:
    url, embedded = await database_url(settings)
    try:
        applied = await apply_migrations(url, settings.db_schema)
    finally:
        if embedded:
            await asyncio.to_thread(embedded.stop)
    print("applied: " + ", ".join(applied) if applied else "the database is up to date")
    return 0


async def _users(settings, args) -> int:
    async with services_for_a_command(settings) as services:
        storage = services.storage
        if args.action == "add":
            add = storage.ensure_user if args.exist_ok else storage.create_user
            print(await add(args.email))
            if args.admin:
                await _set_role(services.pool, args.email, "admin", True)
        elif args.action == "list":
            for row in await storage.list_users():
                print(
                    f"{row['id']}  {row['email']}  folders={row['folders']}  "
                    f"since {row['registration_date']:%Y-%m-%d}{'  admin' if row['is_admin'] else ''}"
                )
        elif args.action.startswith(("grant-", "revoke-")):
            verb, _, role = args.action.partition("-")
            return await _set_role(services.pool, args.email, role, verb == "grant")
        else:
            print(f"removed {await storage.remove_user(args.user)}")
    return 0


ROLES = {"admin": (accounts.set_admin, "an administrator"), "verifier": (accounts.set_verifier, "a verifier")}


async def _set_role(pool, email: str, role: str, granted: bool) -> int:
    """grant-admin, revoke-admin, grant-verifier, revoke-verifier."""
    change, named = ROLES[role]
    if await change(pool, email, granted) is None:
        print(f"error: no user {email}", file=sys.stderr)
        return 1
    print(f"{email} is {'now' if granted else 'no longer'} {named}")
    return 0


async def _tokens(settings, args) -> int:
    async with services_for_a_command(settings) as services:
        if args.action == "create":
            if args.expires is not None and not (0 < args.expires < 36500):
                print("error: --expires takes a number of days between 0 and 36500", file=sys.stderr)
                return 1
            token_id, token = await api_tokens.create_token(
                services.pool, args.email, args.name, args.expires
            )
            print(token)
            print(f"token {token_id} for {args.email}: shown only now, keep it secret", file=sys.stderr)
            if not settings.api_tokens:
                print("note: the server accepts API tokens only with NACHET_API_TOKENS=true", file=sys.stderr)
        elif args.action == "list":
            for row in await api_tokens.list_tokens(services.pool, args.email):
                state = "revoked" if row["revoked_at"] else "live"
                expires = f"expires {row['expires_at']:%Y-%m-%d %H:%M}" if row["expires_at"] else "no expiry"
                print(f"{row['id']}  {row['email']}  {row['name'] or '-'}  {state}  {expires}")
        else:
            await api_tokens.revoke_token(services.pool, args.id)
            print(f"revoked {args.id}")
    return 0


async def _pipelines(settings, args) -> int:
    from cryptography.fernet import Fernet

    from model_inference.pipeline_file import PipelineInsertionError, load_pipeline_file
    from usecases.pipelines import insert_pipelines, served_as_recorded

    if args.action == "insert":
        try:
            parsed = load_pipeline_file(args.file)  # checked before anything starts
        except PipelineInsertionError as error:
            print(error.args[0], file=sys.stderr)
            return 1
    async with services_for_a_command(settings) as services:
        if args.action == "insert":
            key = settings.pipeline_decryption_key
            fernet = Fernet(key.get_secret_value().encode()) if key else None
            problems = await served_as_recorded(parsed, services.http)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                return 1
            try:
                names = await insert_pipelines(services.pool, parsed, fernet)
            except PipelineInsertionError as error:
                print(error.args[0], file=sys.stderr)
                return 1
            sealed = (
                "encrypted"
                if fernet
                else "in plain text (set NACHET_BLOB_PIPELINE_DECRYPTION_KEY to encrypt)"
            )
            print(f"inserted pipelines: {', '.join(names)}; endpoints and keys stored {sealed}")
        elif args.action == "list":
            await services.pipelines.reload()
            for meta in services.pipelines.metadata:
                flag = " (default)" if meta.get("default") else ""
                print(f"{meta['pipeline_name']}{flag}: {' -> '.join(map(str, meta['models']))}")
        elif args.action == "install-builtin":
            from usecases.pipelines import BUILTIN_PIPELINE, install_builtin_pipeline_rows

            empty = not await stored_pipelines.any_pipeline(services.pool)
            if args.if_empty and not empty:
                print(f"{BUILTIN_PIPELINE}: not installed (the database has pipelines)")
            else:
                added = await install_builtin_pipeline_rows(services.pool)
                print(f"{BUILTIN_PIPELINE}: {'installed' if added else 'already installed'}")
        elif args.action in ("set-default", "remove"):
            return await _change_pipeline(services.pool, args.action, args.name)
        else:
            await stored_pipelines.request_reload(services.pool)
            print("reload requested")
    return 0


async def _change_pipeline(pool, action: str, name: str) -> int:
    if action == "set-default":
        done: bool | None = await stored_pipelines.make_default(pool, name)
    else:
        done = await stored_pipelines.take_out_of_service(pool, name)
    if done is False and action == "remove":
        print(f"error: {name} is the default pipeline: set another default first", file=sys.stderr)
    elif not done:
        print(f"error: no active pipeline {name}", file=sys.stderr)
    else:
        print(f"{name} is now the default pipeline" if action == "set-default" else f"{name} removed")
    return 0 if done else 1


async def _serve_models(settings, args) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from model_server.server import create_server

    onnx = dict(item.split("=", 1) for item in args.onnx)
    async with services_for_a_command(settings) as services:
        await services.learner.start()
        config = Config()
        config.bind = [f"{args.host}:{args.port}"]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"serving models on http://{args.host}:{args.port}/score", flush=True)
        await serve(
            create_server(services.learner.model, args.key, args.header, onnx),
            config,
            shutdown_trigger=stop.wait,
        )
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
    if embedded is not None:
        await asyncio.to_thread(embedded.stop)
    return 0


COMMANDS = {
    "users": _users,
    "tokens": _tokens,
    "pipelines": _pipelines,
    "serve-models": _serve_models,
    "models": models_command,
    "fsck": _fsck,
    "measurements": measurements,
    "worker": _worker,
    "export": export,
    "import-folder": import_folder,
    "classify": classify,
    "seeds": seeds,
    "examples": review_commands.examples,
    "sample": report_commands.sample,
    "report": report_commands.report,
    "classifier": review_commands.classifier,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "db":
            return asyncio.run(_db(settings))
        return asyncio.run(COMMANDS[args.command](settings, args))
    except ConfigError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DatastoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except LookupError as error:  # an unknown user, token or selection: said in one line
        if type(error) is not LookupError:  # a KeyError or IndexError is a bug: its traceback
            raise
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 1
