-- An expired artifact keeps its row once the sweep has deleted its bytes, so
-- the job page and the API say "expired on …" instead of the file vanishing;
-- swept_at marks that its blob is gone (or going: a swept row's key no longer
-- counts as used, so a blob left by a crash is cleared as an orphan).
ALTER TABLE artifacts ADD COLUMN swept_at timestamptz;
DROP INDEX artifacts_expires;
CREATE INDEX artifacts_expires ON artifacts (expires_at) WHERE expires_at IS NOT NULL AND swept_at IS NULL;
