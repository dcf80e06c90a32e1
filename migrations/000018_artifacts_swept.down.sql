DROP INDEX artifacts_expires;
DELETE FROM artifacts WHERE swept_at IS NOT NULL;
ALTER TABLE artifacts DROP COLUMN swept_at;
CREATE INDEX artifacts_expires ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
