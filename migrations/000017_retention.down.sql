DROP INDEX IF EXISTS caches_last_used;
ALTER TABLE projects DROP COLUMN artifact_retention_seconds, DROP COLUMN cache_retention_seconds;
