-- An entity's title (a commit's message, first line) and meta (author, branch,
-- merge request title and forge links), as a forge delivery or a submit says
-- them; the project page lists builds with them.
ALTER TABLE entities ADD COLUMN title text NOT NULL DEFAULT '';
ALTER TABLE entities ADD COLUMN meta jsonb NOT NULL DEFAULT '{}';
-- A project's builds newest first, and those of one author (store.BuildList).
CREATE INDEX entities_builds ON entities (project_id, id DESC);
CREATE INDEX entities_builds_author ON entities
    (project_id, (coalesce(nullif(meta->>'authorLogin', ''), meta->>'authorName')), id DESC);
-- The builds with a job that did not succeed, for the failure filter: few jobs.
CREATE INDEX jobs_entity_failed ON jobs (entity_id) WHERE status IN ('failed', 'cancelled', 'timed_out', 'lost');
