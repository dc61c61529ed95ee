"""HTTP routes, one module per resource: scans, cases, models, health and metrics, the inference protocol."""
