-- Who did what to a job: each column holds an actor {"kind","name","at"} (NULL:
-- nobody did it, or the job predates this record). Four nullable jsonb columns
-- cost a job nothing until they are set.
ALTER TABLE jobs
    ADD COLUMN submitted_by jsonb,
    ADD COLUMN cancelled_by jsonb,
    ADD COLUMN retried_by jsonb,
    ADD COLUMN approved_by jsonb;

-- The audit log of administrative actions: who (an actor, and the user when a
-- user did it), from which address, what, on which project and target. The
-- user and project have no foreign key: an entry outlives what it names.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor_kind text NOT NULL,
    actor_name text NOT NULL,
    user_id bigint,
    address text NOT NULL DEFAULT '',
    action text NOT NULL,
    project_id bigint,
    target text NOT NULL DEFAULT '',
    detail jsonb NOT NULL DEFAULT '{}'
);
-- Newest first, by id (ids grow with time); the filters narrow that walk.
CREATE INDEX audit_log_actor ON audit_log (actor_name, id DESC);
CREATE INDEX audit_log_action ON audit_log (action, id DESC);
CREATE INDEX audit_log_project ON audit_log (project_id, id DESC) WHERE project_id IS NOT NULL;
