"""What `tests/` and `benchmarks/` share (benchmarks never import the test suite): fictional
organisations (factories.py, organisations.py), real servers (servers.py, serving.py), scratch
PostgreSQL databases (databases.py), Chromium on the real PWA (browser.py) and the field app
in process (ui_harness.py). Every person in them is invented."""
