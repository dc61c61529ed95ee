"""``quayscan users``: people who log in to the review page.

    quayscan users add alice --role officer                    # asks for the password twice
    printf '%s\n' "$PASSWORD" | quayscan users add bob --role admin --password-stdin
    quayscan users list
    quayscan users disable alice
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import Iterator


def add_db_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", dest="db_url", help="database URL, as for serve (default: $QUAYSCAN_DB_URL or "
                   "sqlite:///var/quayscan.db); created or migrated as needed")


@contextlib.contextmanager
def open_db(url: str | None) -> Iterator:
    """A session on the service's database, migrated to the current schema first."""
    from quayscan.serve.settings import Settings
    from quayscan.serve.storage.db import make_engine, make_session_factory
    from quayscan.serve.storage.errors import StorageError
    from quayscan.serve.storage.schema import migrate

    url = Settings.from_env(db_url=url).db_url
    migrate(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            try:
                yield session
            except StorageError as exc:
                raise ValueError(str(exc)) from None
    finally:
        engine.dispose()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="add, list and disable people who log in", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    us = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    a = us.add_parser("add", help="add a person")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=["officer", "supervisor", "admin"])
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_db_flag(a)
    ls = us.add_parser("list", help="everyone")
    add_db_flag(ls)
    d = us.add_parser("disable", help="stop a person logging in")
    d.add_argument("name")
    add_db_flag(d)
    p.set_defaults(run=run)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from quayscan.serve.storage.credentials import create_user, list_users, set_user_disabled

    if args.users_command == "add":
        password = _password(args.password_stdin)
        with open_db(args.db_url) as session:
            user = create_user(session, args.name, args.role, password)
        print(f"added {user.name} ({user.role})")
        return 0
    with open_db(args.db_url) as session:
        if args.users_command == "list":
            for u in list_users(session):
                print(f"{u.name:<24} {u.role:<10} {'disabled' if u.disabled else 'active'}")
        else:
            set_user_disabled(session, args.name, True)
            print(f"disabled {args.name}")
    return 0
