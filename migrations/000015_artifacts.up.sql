-- Artifacts: files a job attempt uploaded. The bytes live in the blob store
-- under blob_key (unique per upload, so a retried upload never meets a
-- half-written one); a row is inserted only once its blob is complete and its
-- checksum verified, so a row always points at whole, checked bytes.
CREATE TABLE artifacts (
    id           bigserial PRIMARY KEY,
    job_id       bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt      int NOT NULL,
    path         text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL,
    content_type text NOT NULL,
    blob_key     text NOT NULL UNIQUE,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, attempt, path)
);
CREATE INDEX artifacts_expires ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
