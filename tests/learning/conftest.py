from tests.models.conftest import btc_small

__all__ = ["btc_small"]
