-- Job tokens of their own per hand-out, runners bound to their registered tags and
-- projects, and no signing key in the database.

-- claims counts every hand-out of a job over its life, also the claims no runner
-- acknowledged (which go back to the queue without a new attempt). A job token
-- signs (job, attempt, claim) and is checked against it, so each hand-out has a
-- token of its own that dies with it.
ALTER TABLE jobs ADD COLUMN claims integer NOT NULL DEFAULT 0;

-- runners.tags are the tags a runner was registered with: it claims only jobs of
-- those (a claim no longer overwrites them). project_bound limits a runner to the
-- projects in runner_projects; a bound runner whose projects were all deleted
-- claims nothing, never everything.
ALTER TABLE runners ADD COLUMN project_bound boolean NOT NULL DEFAULT false;
CREATE TABLE runner_projects (
    runner_id  bigint NOT NULL REFERENCES runners (id) ON DELETE CASCADE,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (runner_id, project_id)
);

-- The job-token signing key is derived from the seal key (outside the database)
-- from now on: the plain-text key stored here minted the token of any job.
DELETE FROM settings WHERE key = 'server_key';
