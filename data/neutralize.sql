-- account_ap_sync: a neutralized copy never talks to the platforms of the database it was copied from.
-- Every platform is switched off (no outbound call; its webhooks answer 503 and store nothing) until an
-- administrator re-enables it, which asks for new credentials: the stored ones are deleted here.
UPDATE ap_platform
   SET neutralized = true;
DELETE FROM ap_platform_secret;
-- nothing queued for the production platform leaves the copy
UPDATE ap_sync_outbox
   SET state = 'cancelled',
       last_error = 'Cancelled by database neutralization.'
 WHERE state = 'pending';
