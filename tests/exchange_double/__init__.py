"""A local Binance USDT-M futures REST double that ccxt talks to over HTTP (the project's own):
:class:`ExchangeDouble` serves a :class:`Book` with injectable :class:`Faults`."""

from tests.exchange_double.book import Book
from tests.exchange_double.faults import Faults
from tests.exchange_double.server import ExchangeDouble

__all__ = ["Book", "ExchangeDouble", "Faults"]
