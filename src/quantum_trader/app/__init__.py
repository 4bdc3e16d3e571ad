"""Composition root: engine wiring, services, CLI and HTTP API."""
