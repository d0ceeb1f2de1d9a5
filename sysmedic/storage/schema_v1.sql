-- SysMedic database, schema version 1. Applied by sysmedic.storage.db.migrate().
-- Times are epoch seconds (REAL). Percentages are unrounded REAL.

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL    NOT NULL,
    severity    TEXT    NOT NULL,          -- critical | warning
    status      TEXT    NOT NULL,          -- the status label when the alert opened
    cause       TEXT    NOT NULL,          -- system:cpu, user:alice:memory, ...
    message     TEXT    NOT NULL,          -- one line
    users       TEXT    NOT NULL DEFAULT '[]',   -- JSON list of user names involved
    details     TEXT    NOT NULL DEFAULT '{}',   -- JSON: primary_cause, recommendations, metrics
    resolved_at REAL,
    resolved_by TEXT                        -- auto | manual
);
-- One open alert per cause, enforced by the database itself.
CREATE UNIQUE INDEX alerts_open_cause ON alerts(cause) WHERE resolved_at IS NULL;
CREATE INDEX alerts_created ON alerts(created_at);

CREATE TABLE system_history (
    time     REAL PRIMARY KEY,
    cpu      REAL,
    memory   REAL NOT NULL,
    disk     REAL NOT NULL,
    load1    REAL NOT NULL,
    network  REAL,
    status   TEXT NOT NULL
);

CREATE TABLE user_history (
    time       REAL    NOT NULL,
    username   TEXT    NOT NULL,
    cpu        REAL,
    memory     REAL    NOT NULL,
    processes  INTEGER NOT NULL,
    PRIMARY KEY (time, username)
);
CREATE INDEX user_history_user ON user_history(username, time);
