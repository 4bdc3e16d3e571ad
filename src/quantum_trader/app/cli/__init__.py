"""Command-line interface: one Typer sub-app per area, wired together in ``main``."""
