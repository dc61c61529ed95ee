"""``quayscan models``: the service's model registry: register, promote (through the gate), roll back, shadow.

    quayscan models list                                        # versions, flags and each one's history
    quayscan models register runs/ft/model.onnx --by alice
    quayscan models shadow ft-2 --by alice                      # scores live scans, decides nothing
    quayscan models promote ft-2 --gate-data data/gate --by alice
    quayscan models promote ft-2 --gate-data data/gate --force --reason "recall dip is one scan" --by alice
    quayscan models rollback --by alice --reason "false alarms at gate 3"
    quayscan models shadow --off

``promote`` runs the current and the candidate model on the gate set (a dataset folder) and refuses, with
the figures, when the candidate is worse than the current one beyond the tolerances, unless ``--force``
with a ``--reason``; both are logged with the gate's figures. ``--db`` and ``--blobs`` are those of
``quayscan serve`` (or ``QUAYSCAN_DB_URL`` / ``QUAYSCAN_BLOBS_DIR``); a running server follows the registry
within its poll interval (2 s), no restart.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from quayscan.cli.users import add_db_flag, open_db


def _common(p: argparse.ArgumentParser, by: bool = True) -> None:
    add_db_flag(p)
    p.add_argument("--blobs", dest="blobs_dir", help="folder of the model files, as for serve (default: "
                   "$QUAYSCAN_BLOBS_DIR or var/blobs)")
    if by:
        p.add_argument("--by", help="who does this, for the audit trail (default: your login name)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, register, promote, roll back and shadow model versions",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ms = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = ms.add_parser("list", help="registered versions and their history")
    ls.add_argument("--json", action="store_true", help="JSON instead of a table (default: table)")
    _common(ls, by=False)
    r = ms.add_parser("register", help="store and register an ONNX model (it does not decide yet)")
    r.add_argument("file", help="the .onnx file (quayscan export writes one)")
    _common(r)
    pr = ms.add_parser("promote", help="make a version decide, if it passes the gate against the current one")
    pr.add_argument("version")
    pr.add_argument("--gate-data", help="dataset folder (labels.jsonl) both models are measured on; required "
                    "unless --force")
    pr.add_argument("--tolerance-recall", type=float, default=0.005,
                    help="how far the candidate's inspect recall may fall below the current one's (default: 0.005)")
    pr.add_argument("--tolerance-release", type=float, default=0.02,
                    help="how far its release rate may fall below the current one's (default: 0.02)")
    pr.add_argument("--force", action="store_true", help="promote even if the gate fails or is not run "
                    "(needs --reason; logged)")
    pr.add_argument("--reason", help="why (required with --force; logged)")
    pr.add_argument("--no-progress", action="store_true")
    _common(pr)
    rb = ms.add_parser("rollback", help="the previously promoted version decides again")
    rb.add_argument("--reason", help="why (logged)")
    _common(rb)
    sh = ms.add_parser("shadow", help="run a version in shadow (scored on live scans, deciding nothing)")
    sh.add_argument("version", nargs="?")
    sh.add_argument("--off", action="store_true", help="stop shadowing")
    sh.add_argument("--reason", help="why (logged)")
    _common(sh)
    p.set_defaults(run=run)


def _blobs(args: argparse.Namespace):
    from quayscan.serve.settings import Settings
    from quayscan.serve.storage.blobs import LocalBlobStore

    return LocalBlobStore(Settings.from_env(blobs_dir=args.blobs_dir).blobs_dir)


def _by(args: argparse.Namespace) -> str:
    return args.by or getpass.getuser()


def _time(t: Any) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t else "-"


def _list(args: argparse.Namespace) -> int:
    from quayscan.serve.storage.registry import list_events, list_models

    with open_db(args.db_url) as session:
        models, events = list_models(session), list_events(session)
    if args.json:
        from quayscan.serve.api.models import model_json

        out = [model_json(m, None, [e for e in events if e.version == m.version]) for m in models]
        for m in out:
            del m["loaded"], m["card"]  # the card: quayscan card --model FILE
        print(json.dumps(out, indent=2))
        return 0
    for m in models:
        flag = "current" if m.is_current else "shadow" if m.is_shadow else ""
        print(f"{m.version:<24} {flag:<8} registered {_time(m.registered_at)} by {m.registered_by or '-'}"
              + (f"; promoted {_time(m.promoted_at)} by {m.promoted_by or '-'}" if m.promoted_at else ""))
        for e in (e for e in events if e.version == m.version):
            forced = "  FORCED" if e.forced else ""
            reason = f"  reason: {e.reason}" if e.reason else ""
            print(f"    {_time(e.created_at)}  {e.action:<9} by {e.user_name or '-'}{forced}{reason}")
    return 0


def _figures(side: dict[str, Any]) -> str:
    def num(key: str) -> str:  # None: undefined on this gate set (e.g. no scan to inspect)
        return "n/a" if side.get(key) is None else f"{side[key]:.4f}"

    return f"recall {num('inspect_recall')}, release rate {num('release_rate')}, AUC {num('auc')}"


def _promote(args: argparse.Namespace) -> int:
    from quayscan.serve.registry import artifact_path
    from quayscan.serve.storage.registry import current_model, get_model, promote_model

    reason = (args.reason or "").strip() or None
    if args.force and reason is None:
        raise ValueError("--force needs --reason (it is logged)")
    blobs = _blobs(args)
    with open_db(args.db_url) as session:
        candidate, current = get_model(session, args.version), current_model(session)
    if current is not None and current.version == candidate.version:
        print(f"{candidate.version} already decides")
        return 0
    if current is not None and not args.force and not args.gate_data:
        raise ValueError(f"--gate-data DIR is required: {candidate.version} is measured against the current "
                         f"model {current.version} (or --force --reason)")
    details: dict[str, Any] = {}
    passed = current is None  # the first model of a registry has nothing to be compared with
    if current is not None and args.gate_data:
        from quayscan.training.compare import Tolerance, gate_models

        report = gate_models(artifact_path(blobs, current.artifact), artifact_path(blobs, candidate.artifact),
                             args.gate_data, Tolerance(args.tolerance_recall, args.tolerance_release),
                             progress=not args.no_progress)
        details = {"gate_report": report}
        passed = report["gate"]["passed"]
        print(f"gate set {args.gate_data}: {report['n_scans']} scans")
        print(f"  current   {current.version}: {_figures(report['a'])}")
        print(f"  candidate {candidate.version}: {_figures(report['b'])}")
        if not passed:
            print("  gate fails: " + "; ".join(report["gate"]["problems"]), file=sys.stderr)
            if not args.force:
                print(f"quayscan models promote: refused: {candidate.version} is worse than {current.version} "
                      "beyond the tolerance; --force --reason TEXT to promote it anyway", file=sys.stderr)
                return 1
        else:
            print("  gate passes")
    forced = not passed  # promoted although the gate failed or was not run
    with open_db(args.db_url) as session:
        row = promote_model(session, candidate.version, by=_by(args), reason=reason, forced=forced, details=details)
    print(f"{row.version} now decides" + (" (forced; logged with the reason)" if forced else "")
          + "; running servers follow within their poll interval")
    return 0


def run(args: argparse.Namespace) -> int:
    from quayscan.serve.registry import previous_model, register_file
    from quayscan.serve.storage.registry import promote_model, set_shadow_model

    if args.models_command == "list":
        return _list(args)
    if args.models_command == "promote":
        return _promote(args)
    if args.models_command == "register":
        with open_db(args.db_url) as session:
            row = register_file(session, _blobs(args), args.file, by=_by(args))
        print(f"registered {row.version} ({row.artifact}); it decides once promoted: "
              f"quayscan models promote {row.version} --gate-data DIR")
        return 0
    with open_db(args.db_url) as session:
        if args.models_command == "rollback":
            previous = previous_model(session)
            if previous is None:
                raise ValueError("no model was promoted before the current one")
            row = promote_model(session, previous.version, by=_by(args), reason=args.reason, action="rollback")
            print(f"rolled back: {row.version} decides again")
            return 0
        if args.off == (args.version is not None):
            raise ValueError("give a VERSION to shadow, or --off")
        row = set_shadow_model(session, None if args.off else args.version, by=_by(args), reason=args.reason)
    print(f"{row.version} now shadows" if row else "no model shadows now")
    return 0
