"""Telling "the database is not there right now" from every other database error."""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

# SQLSTATE classes and codes of a server going away: 08 connection exception; 57P01 admin shutdown,
# 57P02 crash shutdown, 57P03 cannot connect now (starting up or shutting down)
_GONE_CLASSES = ("08",)
_GONE_CODES = ("57P01", "57P02", "57P03")


def connection_lost(exc: BaseException) -> bool:
    """True for an outage (no connection to be had, or the server dropped it); False for a bug, a bad query, a
    lock or statement timeout — those are OperationalErrors too, but with the server answering."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(_GONE_CLASSES) or state in _GONE_CODES
