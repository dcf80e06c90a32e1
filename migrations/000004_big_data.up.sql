-- The queue listing pages queued jobs by id; jobs_runnable is ordered by tag and
-- priority, so without this a backlog was read whole and sorted.
CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';

-- entity_count is kept by the submit that adds a member, as keys.value_count is,
-- so a collection listing does not count 200,000 members per row.
ALTER TABLE collections ADD COLUMN entity_count bigint NOT NULL DEFAULT 0;
UPDATE collections c SET entity_count = (SELECT count(*) FROM collection_entities WHERE collection_id = c.id);

-- A deleted project is renamed and marked at once; its rows are removed in the
-- background, in batches, by ProjectPurge.
ALTER TABLE projects ADD COLUMN deleted_at timestamptz;
CREATE INDEX projects_deleted ON projects (id) WHERE deleted_at IS NOT NULL;
