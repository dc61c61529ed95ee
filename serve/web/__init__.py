"""The officer review pages: login, queue, case viewer, audit and dashboard (HTML shells + plain JS modules).

The pages are small shells that paint at once; the data comes after, from the same JSON API scanners and
scripts use (``/v1/queue``, ``/v1/cases/...``, ``/v1/audit``, ``/v1/dashboard``). Nothing is fetched from
outside quayscan: templates, scripts and styles ship in this package.
"""
