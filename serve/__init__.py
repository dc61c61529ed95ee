"""The triage service: HTTP API, serving engine, storage, auth, review page, metrics (never torch)."""
