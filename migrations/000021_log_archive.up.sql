-- A finished attempt's log moves from log_chunks to one object in the blob
-- store: independently compressed blocks, found through index_data (the chunks'
-- offsets, sizes and arrival times, and each block's place in the object).
-- The row is written, and the chunks deleted, in one transaction after the
-- object is stored and checked, so a log is always readable from one place.
CREATE TABLE log_archives (
    job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    blob_key    text NOT NULL UNIQUE,
    size        bigint NOT NULL,  -- the object's bytes
    sha256      text NOT NULL,    -- of the object
    length      bigint NOT NULL,  -- where the log ends (past a trimmed log's gap)
    stored      bigint NOT NULL,  -- the log bytes kept
    index_data  bytea,            -- the index; NULL once expired
    ended_at    timestamptz NOT NULL, -- when the attempt ended: retention counts from it
    archived_at timestamptz NOT NULL DEFAULT now(),
    -- expired_at marks a log the retention sweep deleted (its object gone or
    -- going): the row stays so the job page says "log expired on …".
    expired_at  timestamptz,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX log_archives_ended ON log_archives (ended_at) WHERE expired_at IS NULL;
-- The archiver finds the logs still in log_chunks through their first chunk.
CREATE INDEX log_chunks_heads ON log_chunks (job_id, attempt) WHERE "offset" = 0;
-- Per-project log retention in seconds; NULL: the instance default (--log-retention).
ALTER TABLE projects ADD COLUMN log_retention_seconds bigint CHECK (log_retention_seconds > 0);
