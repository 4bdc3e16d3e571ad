"""Settings: typed, validated, read once at startup."""

from quantum_trader.config.modules import MODULE_SWITCHES, module_enabled
from quantum_trader.config.redaction import redacted
from quantum_trader.config.settings import KNOWN_MODELS, Settings, load_settings

__all__ = [
    "KNOWN_MODELS",
    "MODULE_SWITCHES",
    "Settings",
    "load_settings",
    "module_enabled",
    "redacted",
]
