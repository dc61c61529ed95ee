"""``quayscan keys``: API keys for scanners and other machines.

    quayscan keys create --role scanner --name gate-3     # prints the key once, alone on its last line
    KEY=$(quayscan keys create --role officer --name cms | tail -n 1)
    quayscan keys list
    quayscan keys revoke PREFIX_OR_ID
"""

from __future__ import annotations

import argparse

from quayscan.cli.users import add_db_flag, open_db


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, list and revoke API keys", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ks = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    c = ks.add_parser("create", help="make a key (printed once)")
    c.add_argument("--role", required=True, choices=["scanner", "officer", "supervisor", "admin"])
    c.add_argument("--name", required=True, help="who uses it, e.g. gate-3")
    add_db_flag(c)
    ls = ks.add_parser("list", help="keys that work (--all: revoked too)")
    ls.add_argument("--all", action="store_true")
    add_db_flag(ls)
    r = ks.add_parser("revoke", help="stop a key working, at once")
    r.add_argument("key", help="the key's id or prefix")
    add_db_flag(r)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.serve.storage.credentials import create_api_key, list_api_keys, revoke_api_key

    with open_db(args.db_url) as session:
        if args.keys_command == "create":
            key, token = create_api_key(session, args.name, args.role)
            print(f"API key {key.prefix} for {key.name!r} (role {key.role}); it is shown only once:")
            print(token)
        elif args.keys_command == "list":
            for k in list_api_keys(session, include_revoked=args.all):
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
                print(f"{k.prefix}  {k.role:<10}  {k.name:<24}  created {k.created_at:%Y-%m-%d %H:%M}  {state}")
        else:
            k = revoke_api_key(session, args.key)
            print(f"revoked {k.prefix} ({k.name})")
    return 0
