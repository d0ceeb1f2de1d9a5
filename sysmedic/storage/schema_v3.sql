-- Schema version 3 (issue 21): hourly rollups of the history, so a long get_history range reads
-- one row an hour instead of one a minute (29 days of 50 users: 34,800 rows, not 2.1 million).
-- Applied by sysmedic.storage.db.migrate() in place. No semicolons in comments.
-- Each row holds sums, not averages, so buckets of whole hours fold them exactly as they fold
-- the rows they came from: time is the hour's start, intervals how many rows it sums.

CREATE TABLE system_history_hourly (
    time           REAL PRIMARY KEY,
    samples        INTEGER NOT NULL,
    intervals      INTEGER NOT NULL,
    cpu_sum        REAL,
    cpu_weight     INTEGER NOT NULL,
    cpu_max        REAL,
    memory_sum     REAL NOT NULL,
    memory_max     REAL,
    load1_sum      REAL NOT NULL,
    load1_max      REAL,
    network_sum    REAL,
    network_weight INTEGER NOT NULL,
    network_max    REAL
);

CREATE TABLE user_history_hourly (
    time       REAL NOT NULL,
    username   TEXT NOT NULL,
    cpu        REAL,
    cpu_max    REAL,
    memory     REAL NOT NULL,
    memory_max REAL,
    PRIMARY KEY (time, username)
);
CREATE INDEX user_history_hourly_user ON user_history_hourly(username, time);

-- The hours already kept, all but the one the last row is in.
INSERT INTO system_history_hourly
    SELECT CAST(time / 3600 AS INTEGER) * 3600 AS hour, SUM(samples), COUNT(*),
           SUM(cpu * samples), SUM(CASE WHEN cpu IS NULL THEN 0 ELSE samples END), MAX(cpu_max),
           SUM(memory * samples), MAX(memory_max), SUM(load1 * samples), MAX(load1_max),
           SUM(network * samples), SUM(CASE WHEN network IS NULL THEN 0 ELSE samples END), MAX(network_max)
    FROM system_history
    WHERE time < (SELECT CAST(MAX(time) / 3600 AS INTEGER) * 3600 FROM system_history)
    GROUP BY hour;
INSERT INTO user_history_hourly
    SELECT CAST(time / 3600 AS INTEGER) * 3600 AS hour, username, SUM(cpu), MAX(cpu_max), SUM(memory), MAX(memory_max)
    FROM user_history
    WHERE time < (SELECT CAST(MAX(time) / 3600 AS INTEGER) * 3600 FROM system_history)
    GROUP BY hour, username;
