-- Aura's job model. Every job state change is a guarded UPDATE on jobs; the partial
-- indexes keep dispatch and the queue fast however many finished jobs pile up.

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE projects (
    id         bigserial PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    private    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entities (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        text NOT NULL,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, key, value)
);
CREATE INDEX entities_newest ON entities (project_id, key, id DESC);

CREATE TABLE collections (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key        text NOT NULL,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, key, value)
);
CREATE INDEX collections_newest ON collections (project_id, key, id DESC);

-- keys counts the values of each entity and collection key, so a project page does
-- not count a million entities.
CREATE TABLE keys (
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('entity', 'collection')),
    key         text NOT NULL,
    value_count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, kind, key)
);

CREATE TABLE collection_entities (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    entity_id     bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    PRIMARY KEY (collection_id, entity_id)
);
CREATE INDEX collection_entities_entity ON collection_entities (entity_id);

CREATE TABLE runners (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    tags          text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_check_in timestamptz,
    version       text NOT NULL DEFAULT '',
    os            text NOT NULL DEFAULT '',
    arch          text NOT NULL DEFAULT ''
);

CREATE TABLE tag_check_ins (
    tag           text PRIMARY KEY,
    last_check_in timestamptz NOT NULL
);

CREATE TABLE jobs (
    id                bigserial PRIMARY KEY,
    project_id        bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    entity_id         bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    parent_job_id     bigint REFERENCES jobs (id) ON DELETE SET NULL,
    name              text NOT NULL,
    cmd               text NOT NULL,
    env               jsonb NOT NULL DEFAULT '{}',
    secret_env        jsonb NOT NULL DEFAULT '{}',
    tag               text NOT NULL,
    status            text NOT NULL CHECK (status IN
                        ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost')),
    reason            text NOT NULL DEFAULT '',
    priority          integer NOT NULL DEFAULT 0,
    -- pending_preceding counts preceding jobs that have not succeeded yet; a waiting
    -- job is promoted when it reaches zero and its earliest start has passed.
    pending_preceding integer NOT NULL DEFAULT 0,
    earliest_start    timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    queued_at         timestamptz,
    started_at        timestamptz,
    ended_at          timestamptz,
    exit_code         integer,
    runner_id         bigint REFERENCES runners (id) ON DELETE SET NULL,
    attempt           integer NOT NULL DEFAULT 1,
    max_attempts      integer NOT NULL DEFAULT 3,
    timeout_seconds   integer NOT NULL DEFAULT 3600,
    -- lease_expires_at bounds how long a running job may go without a heartbeat;
    -- acked is false until the first heartbeat confirms the claim reached the runner.
    lease_expires_at  timestamptz,
    acked             boolean NOT NULL DEFAULT false,
    log_length        bigint NOT NULL DEFAULT 0,
    log_hash_state    bytea,
    log_truncated     boolean NOT NULL DEFAULT false,
    log_mismatch      boolean NOT NULL DEFAULT false,
    -- cascaded marks a job cancelled because a preceding job did not succeed, so a
    -- retry of that job can bring it back.
    cascaded          boolean NOT NULL DEFAULT false
);
-- Dispatch reads only this: runnable jobs by tag in priority order.
CREATE INDEX jobs_runnable ON jobs (tag, priority DESC, id) WHERE status = 'queued';
CREATE INDEX jobs_waiting ON jobs (id) WHERE status = 'waiting';
-- The earliest-start timer looks for the next waiting job whose preceding jobs are done.
CREATE INDEX jobs_timer ON jobs (earliest_start) WHERE status = 'waiting' AND pending_preceding = 0;
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_entity ON jobs (entity_id, id) INCLUDE (status);
CREATE INDEX jobs_parent ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;

CREATE TABLE job_edges (
    job_id       bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    preceding_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, preceding_id)
);
CREATE INDEX job_edges_preceding ON job_edges (preceding_id);

CREATE TABLE tokens (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('admin', 'project', 'runner')),
    hash         bytea NOT NULL UNIQUE,
    name         text NOT NULL DEFAULT '',
    project_id   bigint REFERENCES projects (id) ON DELETE CASCADE,
    runner_id    bigint REFERENCES runners (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX tokens_project ON tokens (project_id) WHERE project_id IS NOT NULL;

CREATE TABLE log_chunks (
    job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    "offset" bigint NOT NULL,
    data    bytea COMPRESSION lz4 NOT NULL,
    PRIMARY KEY (job_id, attempt, "offset")
);
