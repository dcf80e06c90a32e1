-- Deliveries are remembered for redeliveries only (forges redeliver within days):
-- the server forgets those older than a month, found by this index.
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at);
