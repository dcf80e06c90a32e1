DROP INDEX jobs_entity_failed;
DROP INDEX entities_builds_author;
DROP INDEX entities_builds;
ALTER TABLE entities DROP COLUMN meta;
ALTER TABLE entities DROP COLUMN title;
