"""SQLite storage of alerts and metric history. The only package that imports sqlite3."""

from .db import AlertRecord, Storage, database_path

__all__ = ["AlertRecord", "Storage", "database_path"]
