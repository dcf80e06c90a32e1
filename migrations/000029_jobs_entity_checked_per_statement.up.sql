-- A job's entity and project were two foreign keys, each checked by a query
-- per inserted job: a third of inserting a 1,000-job batch. As for job_edges
-- (000028), triggers keep their rules once per statement instead, and more:
--   * every inserted job's entity exists, in the job's project (the entity's
--     own key holds its project), and is locked FOR KEY SHARE to the end of
--     the transaction unless this transaction wrote it, as a foreign key
--     check locks it; so is the entity a job is moved to;
--   * deleting entities deletes their jobs (ON DELETE CASCADE; a project's
--     delete reaches its jobs through its entities), truncating entities
--     truncates jobs, at READ COMMITTED only (000028 says why);
--   * an entity with jobs keeps its id and project.
ALTER TABLE jobs
    DROP CONSTRAINT jobs_entity_id_fkey,
    DROP CONSTRAINT jobs_project_id_fkey;

-- jobs_entity_lock locks entities ids for a check, but for those this
-- transaction wrote, and returns their projects in the order of ids.
CREATE FUNCTION jobs_entity_lock(ids bigint[]) RETURNS bigint[] LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM entities WHERE id = ANY (ids) AND xmin <> pg_current_xact_id()::xid FOR KEY SHARE;
    RETURN ARRAY(SELECT project_id FROM entities WHERE id = ANY (ids) ORDER BY id);
END $$;

CREATE FUNCTION jobs_entity_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    projects bigint[];
BEGIN
    SELECT array_agg(entity_id ORDER BY entity_id), array_agg(project_id ORDER BY entity_id) INTO ids, projects
    FROM (SELECT DISTINCT entity_id, project_id FROM new_jobs) named;
    IF ids IS NOT NULL AND jobs_entity_lock(ids) IS DISTINCT FROM projects THEN
        RAISE EXCEPTION 'insert on table "jobs" names an entity that does not exist in the job''s project'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'jobs';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_entity_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_entity_check();

CREATE FUNCTION jobs_entity_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF jobs_entity_lock(ARRAY[NEW.entity_id]) IS DISTINCT FROM ARRAY[NEW.project_id] THEN
        RAISE EXCEPTION 'update on table "jobs" names an entity that does not exist in the job''s project'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'jobs';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_entity_update AFTER UPDATE OF entity_id, project_id ON jobs
    FOR EACH ROW WHEN (OLD.entity_id IS DISTINCT FROM NEW.entity_id OR OLD.project_id IS DISTINCT FROM NEW.project_id)
    EXECUTE FUNCTION jobs_entity_moved();

CREATE FUNCTION entities_delete_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'entities can only be deleted in READ COMMITTED transactions (jobs_entity_check)'
            USING ERRCODE = 'feature_not_supported', TABLE = 'entities';
    END IF;
    DELETE FROM jobs WHERE entity_id = ANY (ARRAY(SELECT id FROM old_entities));
    RETURN NULL;
END $$;

CREATE TRIGGER entities_delete_jobs AFTER DELETE ON entities
    REFERENCING OLD TABLE AS old_entities FOR EACH STATEMENT EXECUTE FUNCTION entities_delete_jobs();

CREATE FUNCTION entities_truncate_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE jobs CASCADE;
    RETURN NULL;
END $$;

CREATE TRIGGER entities_truncate_jobs AFTER TRUNCATE ON entities
    FOR EACH STATEMENT EXECUTE FUNCTION entities_truncate_jobs();

CREATE FUNCTION entities_keep_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM jobs WHERE entity_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "entities" changes the id or project of entity %, which jobs name', OLD.id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'entities';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER entities_keep_key AFTER UPDATE OF id, project_id ON entities
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.project_id IS DISTINCT FROM NEW.project_id)
    EXECUTE FUNCTION entities_keep_key();
