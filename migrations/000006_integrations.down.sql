DROP TABLE status_outbox;
DROP TABLE forge_commits;
DROP TABLE webhook_deliveries;
DROP TABLE project_secrets;
DROP TABLE integrations;
