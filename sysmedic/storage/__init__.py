"""SQLite storage of alerts and metric history. The only package that imports sqlite3."""

from .db import (MAX_ALERT_ID, AlertRecord, Storage, database_path, history_buckets, history_stored,
                 require_sqlite, set_aside_if_corrupt, storage_fault)

__all__ = ["MAX_ALERT_ID", "AlertRecord", "Storage", "database_path", "history_buckets", "history_stored",
           "require_sqlite", "set_aside_if_corrupt", "storage_fault"]
