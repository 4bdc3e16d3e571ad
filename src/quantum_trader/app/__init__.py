"""Composition root: engine wiring, services, CLI and API."""
