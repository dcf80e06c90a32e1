-- Caches a job keeps between runs (aura-runner cache save/restore): one
-- compressed archive per project and key, in the blob store under blob_key. A
-- row is written only once its blob is completely stored.
CREATE TABLE caches (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        text NOT NULL,
    blob_key   text NOT NULL UNIQUE,
    size       bigint NOT NULL CHECK (size >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, key)
);
-- Fallback prefixes pick the newest entry whose key starts with one (text_pattern_ops
-- serves LIKE 'prefix%'); eviction walks a project's least recently used.
CREATE INDEX caches_prefix ON caches (project_id, key text_pattern_ops);
CREATE INDEX caches_lru ON caches (project_id, last_used, id);
