"""``quayscan serve``: the triage service, ready with no arguments.

    quayscan serve                                  # 127.0.0.1:8000, SQLite + images under ./var/, default model
    quayscan serve --db postgresql+psycopg://q@db/quayscan --blobs /data/blobs --workers 2 --host 0.0.0.0
    quayscan serve --model runs/exp1/model.onnx     # register that model and make it decide
    quayscan serve --webhook https://tos.example/hook --webhook-secret-file /run/secrets/webhook

Flags override ``QUAYSCAN_*`` environment variables (``QUAYSCAN_DB_URL``, ``QUAYSCAN_BLOBS_DIR``, ...).
"""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the triage service (HTTP API)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", dest="db_url", help="database URL (default: sqlite:///var/quayscan.db)")
    p.add_argument("--blobs", dest="blobs_dir", help="folder for images and model files (default: var/blobs)")
    p.add_argument("--model", help="ONNX model to register and make current (default: the registry's current "
                   "model; the shipped model on a new database)")
    p.add_argument("--host", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: 8000)")
    p.add_argument("--workers", type=int, help="server processes (default: 1)")
    p.add_argument("--max-upload-mb", type=float, help="largest scan request in MiB (default: 200)")
    p.add_argument("--inference-timeout", dest="inference_timeout_s", type=float,
                   help="seconds a model run may take before the scan is decided inspect (default: 10)")
    p.add_argument("--audit-share", type=float, help="share of would-be releases sent to review at random as "
                   "audit_sample, to measure the model's misses (default: 0.02)")
    p.add_argument("--webhook", dest="webhook_urls", action="append", metavar="URL",
                   help="POST every final decision here, signed; repeatable (default: QUAYSCAN_WEBHOOK_URLS)")
    p.add_argument("--webhook-secret-file", metavar="PATH", help="file holding the webhook HMAC secret; required "
                   "with --webhook unless QUAYSCAN_WEBHOOK_SECRET is set (default: none)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from quayscan.serve.app import create_app
    from quayscan.serve.settings import Settings
    from quayscan.serve.storage.db import describe_url
    from quayscan.serve.webhooks import check_config

    secret = None
    if args.webhook_secret_file:  # a file, not a flag: a secret on the command line shows in ps
        with open(args.webhook_secret_file, encoding="utf-8") as f:
            secret = f.read().strip()
    settings = Settings.from_env(
        db_url=args.db_url, blobs_dir=args.blobs_dir, model=args.model, host=args.host, port=args.port,
        workers=args.workers, max_upload_mb=args.max_upload_mb, inference_timeout_s=args.inference_timeout_s,
        webhook_urls=args.webhook_urls, webhook_secret=secret, audit_share=args.audit_share,
    )
    check_config(settings.webhook_urls, settings.webhook_secret)  # fail here, not in each worker
    if settings.model is not None and not os.path.isfile(settings.model):
        raise FileNotFoundError(f"model file not found: {settings.model}")
    print(f"quayscan serve: http://{settings.host}:{settings.port}  database {describe_url(settings.db_url)}  "
          f"images {settings.blobs_dir}", flush=True)
    print("  first credentials:  quayscan keys create --role scanner --name gate-1      (a scanner's API key)\n"
          "                      quayscan users add alice --role admin                 (a person; asks the password)"
          + (f"\n  (add --db {settings.db_url} to both)" if args.db_url else ""), flush=True)
    if settings.workers > 1:
        os.environ.update(settings.to_env())  # each worker rebuilds the same settings
        uvicorn.run("quayscan.serve.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=args.log_level, proxy_headers=False)
    else:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level)
    return 0
