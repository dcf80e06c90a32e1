DROP INDEX IF EXISTS projects_deleted;
ALTER TABLE projects DROP COLUMN IF EXISTS deleted_at;
ALTER TABLE collections DROP COLUMN IF EXISTS entity_count;
DROP INDEX IF EXISTS jobs_queued;
