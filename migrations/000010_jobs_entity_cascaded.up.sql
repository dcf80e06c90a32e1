-- Entity counts tell skipped jobs (cancelled because a preceding job did not
-- succeed) from cancelled ones: the covering index carries cascaded too, so the
-- counts stay an index-only scan.
CREATE INDEX jobs_entity_counts ON jobs (entity_id, id) INCLUDE (status, cascaded);
DROP INDEX jobs_entity;
ALTER INDEX jobs_entity_counts RENAME TO jobs_entity;
