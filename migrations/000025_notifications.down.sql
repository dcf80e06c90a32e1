DROP TABLE notify_outbox;
DROP TABLE notification_rules;
