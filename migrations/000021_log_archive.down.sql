-- Archived logs cannot move back here: their rows (and with them the logs) go.
ALTER TABLE projects DROP COLUMN log_retention_seconds;
DROP INDEX log_chunks_heads;
DROP TABLE log_archives;
