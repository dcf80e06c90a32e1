-- An edge names two jobs. Its two foreign keys checked each inserted edge on
-- its own (a query per edge and key), which was two thirds of inserting a
-- 1,000-job batch's edges. Triggers now keep the same rules once per
-- statement, over all of its edges:
--   * every job an inserted or updated edge names exists, and is locked FOR
--     KEY SHARE to the end of the transaction, as a foreign key check locks
--     it: a concurrent delete either committed first (the insert then fails)
--     or waits for this transaction (and then deletes its edges too). A job
--     this transaction wrote needs no lock (nobody else sees it, or its
--     writer's own lock holds it), which spares a submission's own jobs a
--     lock and its WAL record each;
--   * deleting jobs deletes the edges that name them (ON DELETE CASCADE);
--     truncating jobs truncates job_edges;
--   * a job named by an edge keeps its id (ON UPDATE NO ACTION).
-- A delete's cascade must see the edges committed while it waited for their
-- jobs' locks, which only READ COMMITTED does (a foreign key's cascade would
-- fail to serialize instead): deleting jobs at another isolation level is
-- refused.
ALTER TABLE job_edges
    DROP CONSTRAINT job_edges_job_id_fkey,
    DROP CONSTRAINT job_edges_preceding_id_fkey;

-- One statement, which costs a small insert (a job's two children) least:
-- it reads the jobs named once and locks those written elsewhere (usually
-- one). Never a scan of all jobs, whatever plan a session cached while the
-- table was small.
CREATE FUNCTION job_edges_check() RETURNS trigger LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF (WITH named AS MATERIALIZED (SELECT ARRAY(SELECT job_id FROM new_edges UNION SELECT preceding_id FROM new_edges) AS ids),
            seen AS MATERIALIZED (
                SELECT j.id, j.xmin = pg_current_xact_id()::xid AS own FROM named, jobs j WHERE j.id = ANY (named.ids)),
            locked AS (SELECT FROM jobs WHERE id = ANY (ARRAY(SELECT id FROM seen WHERE NOT own)) FOR KEY SHARE)
        SELECT (SELECT count(*) FROM seen WHERE own) + (SELECT count(*) FROM locked) <> (SELECT cardinality(ids) FROM named)) THEN
        RAISE EXCEPTION 'insert or update on table "job_edges" names a job that does not exist'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'job_edges';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER job_edges_insert AFTER INSERT ON job_edges
    REFERENCING NEW TABLE AS new_edges FOR EACH STATEMENT EXECUTE FUNCTION job_edges_check();
CREATE TRIGGER job_edges_update AFTER UPDATE ON job_edges
    REFERENCING NEW TABLE AS new_edges FOR EACH STATEMENT EXECUTE FUNCTION job_edges_check();

CREATE FUNCTION jobs_delete_edges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'jobs can only be deleted in READ COMMITTED transactions (job_edges_check)'
            USING ERRCODE = 'feature_not_supported', TABLE = 'jobs';
    END IF;
    DELETE FROM job_edges WHERE job_id = ANY (ARRAY(SELECT id FROM old_jobs));
    DELETE FROM job_edges WHERE preceding_id = ANY (ARRAY(SELECT id FROM old_jobs));
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_delete_edges AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_delete_edges();

CREATE FUNCTION jobs_truncate_edges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE job_edges;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_truncate_edges AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_truncate_edges();

CREATE FUNCTION jobs_keep_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM job_edges WHERE job_id = OLD.id) OR EXISTS (SELECT FROM job_edges WHERE preceding_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "jobs" changes the id of job %, which job_edges names', OLD.id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'jobs';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_keep_id AFTER UPDATE OF id ON jobs
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION jobs_keep_id();
