"""Reads: the HTTP query API, its Python client, and the SQL behind them.

Importing this package loads nothing heavy; the API (FastAPI) and the store
(chdb) load only where a server runs. The query layer never writes events.
"""
