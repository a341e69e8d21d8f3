"""Reviewed learning from the command line (issue "Trusted learning"):

examples pending [--user EMAIL]                       who taught what, which picture, when
examples accept (--user EMAIL | --batch ID | ID...) [--force] [--by EMAIL]
examples reject (--user EMAIL | --batch ID | ID...) [--by EMAIL]
classifier versions                                   id, created, by whom, examples per class, score, state
classifier diff A B [--limit N]                       classes, examples, scores; stored boxes renamed
classifier rollback VERSION [--by EMAIL]              active again at once; examples since: pending
classifier promote VERSION [--force] [--by EMAIL]     a candidate made active (through the gate)
"""

from __future__ import annotations

import json
from collections import Counter
from uuid import UUID

from usecases.review import Choice

from .runtime import services_for_a_command

OPERATOR = "operator (command line)"


def add_review_commands(sub) -> None:
    examples = sub.add_parser("examples", help="review the built-in classifier's examples").add_subparsers(
        dest="action", required=True
    )
    examples.add_parser("pending", help="examples waiting for review").add_argument("--user", metavar="EMAIL")
    for action, what in (
        ("accept", "accept into the shared classifier"),
        ("reject", "reject: they stop counting"),
    ):
        parser = examples.add_parser(action, help=what)
        parser.add_argument("ids", nargs="*", type=int, metavar="ID")
        parser.add_argument("--user", metavar="EMAIL", help="every pending example of this user")
        parser.add_argument("--batch", type=UUID, metavar="SESSION_ID", help="every example of this batch")
        parser.add_argument("--by", default=OPERATOR, help="who reviews (the audit line)")
        if action == "accept":
            parser.add_argument("--force", action="store_true", help="active even if the gate holds it")
    classifier = sub.add_parser("classifier", help="the shared classifier's versions").add_subparsers(
        dest="action", required=True
    )
    classifier.add_parser("versions", help="every version, oldest first")
    diff = classifier.add_parser("diff", help="what changes from version A to B, replayed on stored boxes")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--limit", type=int, default=200, help="the latest boxes replayed (default 200)")
    for action, what in (
        ("rollback", "make an older version active again"),
        ("promote", "make a candidate active"),
    ):
        parser = classifier.add_parser(action, help=what)
        parser.add_argument("version")
        parser.add_argument("--by", default=OPERATOR, help="who does it (the audit line)")
        if action == "promote":
            parser.add_argument("--force", action="store_true", help="past the non-regression gate")


def _choice(args) -> Choice:
    return Choice(args.ids or None, args.user, args.batch)


async def examples(settings, args) -> int:
    async with services_for_a_command(settings) as services:
        review = services.review
        if args.action == "pending":
            rows = await review.listed("pending", email=args.user)
            for row in rows:
                print(
                    f"{row['id']}  {row['email']}  {row['label']}  picture {row['picture_id']}  "
                    f"folder {row['folder']}  {row['created_at']:%Y-%m-%d %H:%M}"
                )
            per_user = Counter(row["email"] for row in rows)
            print(f"{len(rows)} pending: " + (", ".join(f"{u} {n}" for u, n in per_user.items()) or "none"))
        elif args.action == "accept":
            print(json.dumps(await review.accept(_choice(args), args.by, args.force), default=str))
        else:
            print(json.dumps(await review.reject(_choice(args), args.by), default=str))
    return 0


async def classifier(settings, args) -> int:
    async with services_for_a_command(settings) as services:
        review = services.review
        if args.action == "versions":
            for v in await review.versions():
                score = f"{v['score']['overall']:.1%}" if v["score"] else "-"
                counts = ", ".join(f"{name} {n}" for name, n in sorted(v["counts"].items()))
                print(
                    f"{v['id']}  {v['state']:<9}  {v['created_at']:%Y-%m-%d %H:%M}  by {v['created_by']}  "
                    f"score {score}  examples {len(v['examples'])}: {counts}"
                )
        elif args.action == "diff":
            features, load = services.learner.model.features, services.storage.picture_bytes
            print(json.dumps(await review.diff(args.a, args.b, features, load, args.limit), indent=2))
        elif args.action == "rollback":
            print(json.dumps(await review.rollback(args.version, args.by)))
        else:
            print(json.dumps(await review.promote(args.version, args.by, args.force)))
    return 0
