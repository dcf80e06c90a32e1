-- Schedules submit a project's job templates on a cron expression in a time
-- zone, to an entity <entity_key>/<the run's local date and time>. next_run_at
-- is the claim: a server fires a schedule only by moving it from the value it
-- read, in the transaction that submits the jobs, so two servers never fire
-- one run twice, and a run missed during an outage fires once.
CREATE TABLE schedules (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL,
    cron        text NOT NULL,
    timezone    text NOT NULL,
    entity_key  text NOT NULL,
    jobs        jsonb NOT NULL,
    next_run_at timestamptz NOT NULL,
    last_run_at timestamptz,
    last_entity text NOT NULL DEFAULT '',
    last_result text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);
-- The scheduler's one question: the earliest next run.
CREATE INDEX schedules_next_run ON schedules (next_run_at);
