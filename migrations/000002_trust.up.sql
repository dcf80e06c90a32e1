-- Trust: secrets sealed at rest, claims that never reached a runner counted apart
-- from attempts, runners that lost a lease kept from new work until they show life,
-- and what a job token may still submit.

-- secret_sealed holds the job's secret env as JSON sealed with the server key (AES-256-GCM);
-- secret_names keeps the names, which are not secret, for the API. secret_env is left
-- from 000001: the server seals what it still holds at start and empties it.
ALTER TABLE jobs ADD COLUMN secret_names text[] NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN secret_sealed bytea;
UPDATE jobs SET secret_names = ARRAY(SELECT jsonb_object_keys(secret_env) ORDER BY 1)
WHERE secret_env <> '{}';

-- handouts counts claims of the current attempt that no runner acknowledged; they are
-- not attempts. Past a cap the job fails with a reason that says so.
ALTER TABLE jobs ADD COLUMN handouts integer NOT NULL DEFAULT 0;
-- compat marks an attempt claimed by a 0.4 runner, which uploads its whole log once,
-- after it reported the job finished.
ALTER TABLE jobs ADD COLUMN compat boolean NOT NULL DEFAULT false;
-- depth is how many job-submits-job steps lead to this job (0: submitted from outside).
ALTER TABLE jobs ADD COLUMN depth integer NOT NULL DEFAULT 0;
-- children counts the jobs this job's token submitted.
ALTER TABLE jobs ADD COLUMN children integer NOT NULL DEFAULT 0;

-- cancel_requested_at is when the server asked a running job to stop (a user cancelled
-- it, or its log outgrew the limit): it stays running until its runner confirms the
-- process is gone (or the grace passes), then it ends as stop_status.
ALTER TABLE jobs ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE jobs ADD COLUMN stop_status text NOT NULL DEFAULT 'cancelled'
    CHECK (stop_status IN ('cancelled', 'failed'));

-- lost_at is set when a lease of this runner ran out: it gets no new work from a long
-- poll that began before then, only once it shows it is alive again.
ALTER TABLE runners ADD COLUMN lost_at timestamptz;
