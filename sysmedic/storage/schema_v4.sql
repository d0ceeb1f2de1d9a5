-- Schema version 4 (issue 23): the per-minute history and its hourly rollups of every per-user
-- figure kept besides CPU and memory (sysmedic/figures.py rows with a history name), one row
-- per minute, user and figure, so a new figure needs no new column. No semicolons in comments.
-- value is the interval's average (a user absent from a sample counts 0 there), peak its
-- maximum. In the hourly rollup value is the sum of the hour's averages, as in user_history_hourly.

CREATE TABLE user_figure_history (
    time     REAL NOT NULL,
    username TEXT NOT NULL,
    figure   TEXT NOT NULL,
    value    REAL,
    peak     REAL,
    PRIMARY KEY (time, username, figure)
);
CREATE INDEX user_figure_history_user ON user_figure_history(username, time);

CREATE TABLE user_figure_history_hourly (
    time     REAL NOT NULL,
    username TEXT NOT NULL,
    figure   TEXT NOT NULL,
    value    REAL,
    peak     REAL,
    PRIMARY KEY (time, username, figure)
);
