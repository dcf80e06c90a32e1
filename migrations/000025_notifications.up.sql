-- Notification rules: per project, where to tell people about a build's result
-- (a webhook URL or e-mail addresses), on which results and for which
-- collections. The URL may hold a token (Slack's and Discord's do), so it is
-- sealed like the generic webhook's signing secret.
CREATE TABLE notification_rules (
    id                    bigserial PRIMARY KEY,
    project_id            bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind                  text NOT NULL CHECK (kind IN ('webhook', 'slack', 'matrix', 'discord', 'email')),
    url_sealed            bytea,
    recipients            text[] NOT NULL DEFAULT '{}',
    secret_sealed         bytea,
    on_results            text[] NOT NULL,
    collections           jsonb NOT NULL DEFAULT '{}',
    allow_private_network boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_sent_at          timestamptz,
    last_failure_at       timestamptz,
    last_failure          text NOT NULL DEFAULT ''
);
CREATE INDEX notification_rules_project ON notification_rules (project_id);

-- notify_outbox is the status outbox's sibling, run by the same sender: a job
-- of an entity ending bumps version of one row per rule and entity in the
-- job's own transaction; the sender derives the build's result when it sends,
-- so a burst of endings coalesces into one message, and sent records the
-- result it delivered so a retry or a restart never sends it twice.
CREATE TABLE notify_outbox (
    id              bigserial PRIMARY KEY,
    rule_id         bigint NOT NULL REFERENCES notification_rules (id) ON DELETE CASCADE,
    entity_id       bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    version         bigint NOT NULL DEFAULT 1,
    sent_version    bigint NOT NULL DEFAULT 0,
    sent            jsonb NOT NULL DEFAULT '{}',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    UNIQUE (rule_id, entity_id)
);
CREATE INDEX notify_outbox_due ON notify_outbox (next_attempt_at) WHERE version > sent_version;
CREATE INDEX notify_outbox_entity ON notify_outbox (entity_id);
