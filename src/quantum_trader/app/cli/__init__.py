"""Command-line interface (Typer): each area exposes its own ``app``."""
