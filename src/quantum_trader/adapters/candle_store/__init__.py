"""Local candle store (Parquet files) with validated, atomic writes and file import."""

from quantum_trader.adapters.candle_store.importer import (
    ImportResult,
    import_directory,
    import_file,
    infer_name,
)
from quantum_trader.adapters.candle_store.store import CandleStore, StoreEntry, WriteResult

__all__ = [
    "CandleStore",
    "ImportResult",
    "StoreEntry",
    "WriteResult",
    "import_directory",
    "import_file",
    "infer_name",
]
