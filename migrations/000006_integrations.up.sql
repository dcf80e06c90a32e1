-- Forge integrations: webhooks in, commit statuses out. Secret values are sealed
-- (AES-256-GCM, backend/internal/seal) before they reach these tables; the sealed
-- columns are listed in store.SealedColumns for key rotation, which walks them by
-- a bigint id.

CREATE TABLE integrations (
    id                    bigserial PRIMARY KEY,
    project_id            bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind                  text NOT NULL CHECK (kind IN ('gitea', 'forgejo', 'github', 'gitlab', 'darke', 'generic')),
    -- repository is "owner/name", or GitLab's numeric project id.
    repository            text NOT NULL,
    -- secret_sealed verifies webhook signatures; NULL refuses every delivery.
    secret_sealed         bytea,
    api_url               text NOT NULL DEFAULT '',
    token_sealed          bytea,
    events                text[] NOT NULL DEFAULT '{push,tag,request}',
    jobs                  jsonb NOT NULL DEFAULT '[]',
    context_per_job       boolean NOT NULL DEFAULT false,
    fork_policy           text NOT NULL DEFAULT 'approve' CHECK (fork_policy IN ('approve', 'without-secrets')),
    allow_private_network boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_delivery_at      timestamptz,
    last_delivery         text NOT NULL DEFAULT '',
    last_status_at        timestamptz,
    last_failure_at       timestamptz,
    last_failure          text NOT NULL DEFAULT ''
);
CREATE INDEX integrations_project ON integrations (project_id, id);
CREATE INDEX integrations_repository ON integrations (kind, lower(repository));

CREATE TABLE project_secrets (
    id           bigserial NOT NULL UNIQUE,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         text NOT NULL,
    value_sealed bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name)
);

-- webhook_deliveries remembers what a delivery submitted, under its delivery id
-- ("delivery:<id>") and under "event:<event>:<ref>:<sha>", so a redelivery or a
-- replay with a new id submits nothing twice.
CREATE TABLE webhook_deliveries (
    integration_id bigint NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    dedupe_key     text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, dedupe_key)
);

-- forge_commits says which integration reports the status of which commit entity.
CREATE TABLE forge_commits (
    project_id     bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha            text NOT NULL,
    integration_id bigint NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, sha, integration_id)
);

-- status_outbox holds one row per commit and integration: a job transition bumps
-- version in its own transaction; the sender delivers the newest state and records
-- sent_version, so a burst of changes coalesces into one request.
CREATE TABLE status_outbox (
    id              bigserial PRIMARY KEY,
    integration_id  bigint NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha             text NOT NULL,
    version         bigint NOT NULL DEFAULT 1,
    sent_version    bigint NOT NULL DEFAULT 0,
    -- sent maps each context to the "state description" it last delivered.
    sent            jsonb NOT NULL DEFAULT '{}',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    UNIQUE (integration_id, project_id, sha)
);
CREATE INDEX status_outbox_due ON status_outbox (next_attempt_at) WHERE version > sent_version;
