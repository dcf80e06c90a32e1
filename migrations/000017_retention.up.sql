-- Per-project retention: how long artifacts (uploaded without their own
-- expiry) and caches (after their last use) are kept; NULL: the instance
-- default (--artifact-retention, --cache-retention).
ALTER TABLE projects
    ADD COLUMN artifact_retention_seconds bigint CHECK (artifact_retention_seconds > 0),
    ADD COLUMN cache_retention_seconds bigint CHECK (cache_retention_seconds > 0);
-- The retention sweep walks caches by last use.
CREATE INDEX caches_last_used ON caches (last_used);
