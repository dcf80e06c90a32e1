-- seal_check holds one known value sealed with the server key, so a server given
-- another key than the one the database's secrets are sealed with refuses to
-- start instead of failing each secret it opens.
CREATE TABLE seal_check (
    id     integer PRIMARY KEY CHECK (id = 1),
    sealed bytea NOT NULL
);
