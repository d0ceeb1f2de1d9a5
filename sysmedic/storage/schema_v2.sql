-- Schema version 2 (issue 10): alerts that re-open and remind, history that keeps the peaks.
-- Applied by sysmedic.storage.db.migrate() to a version 1 database, in place. No semicolons in comments.

-- created_at stays the first opening, opened_at is the latest, reopen_count says how often it
-- came back within the cooldown, notified_at is when a notifier was last told (for reminders).
ALTER TABLE alerts ADD COLUMN opened_at REAL;
ALTER TABLE alerts ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN notified_at REAL;
UPDATE alerts SET opened_at = created_at, notified_at = created_at;

-- A history row is an interval now: the columns of version 1 hold its averages, the new ones
-- its maxima and how many samples fed it. A version 1 row was one sample: its peak is itself.
ALTER TABLE system_history ADD COLUMN cpu_max REAL;
ALTER TABLE system_history ADD COLUMN memory_max REAL;
ALTER TABLE system_history ADD COLUMN load1_max REAL;
ALTER TABLE system_history ADD COLUMN network_max REAL;
ALTER TABLE system_history ADD COLUMN samples INTEGER NOT NULL DEFAULT 1;
UPDATE system_history SET cpu_max = cpu, memory_max = memory, load1_max = load1, network_max = network;

ALTER TABLE user_history ADD COLUMN cpu_max REAL;
ALTER TABLE user_history ADD COLUMN memory_max REAL;
UPDATE user_history SET cpu_max = cpu, memory_max = memory;
