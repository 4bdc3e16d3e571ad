"""Composition root: the engine, services, CLI and API wiring."""
