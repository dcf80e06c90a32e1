DROP TABLE user_identities;
DROP TABLE invitations;
DROP TABLE project_members;
DROP TABLE user_tokens;
DROP TABLE sessions;
DROP TABLE users;
