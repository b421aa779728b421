"""The demo data `make run` loads (demo/data.py): composition, above every app and the back office
(docs/architecture/layers.md)."""
