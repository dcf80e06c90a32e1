-- The server_key setting is not restored: a server of the previous version makes a
-- new one on its first start (running jobs' tokens then stop working).
DROP TABLE runner_projects;
ALTER TABLE runners DROP COLUMN project_bound;
ALTER TABLE jobs DROP COLUMN claims;
