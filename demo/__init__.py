"""The demo data `make run` loads (entry point: demo/data.py, the rest a module per entity): composition,
above every app and the back office (docs/architecture/layers.md)."""
