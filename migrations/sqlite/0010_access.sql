-- Hosted service (issue 15): what authentication needs besides the `Account` aggregate's
-- events. None of it is a projection: these rows hold secrets (password hashes, session
-- tokens by hash) or short-lived counters that must never enter the event log.

-- argon2id hashes (PHC strings) of user passwords; the event log only says a password
-- changed. Written in the transaction of the `PasswordChanged` event.
CREATE TABLE IF NOT EXISTS user_passwords (
    account_id text NOT NULL,
    email text NOT NULL,
    phc text NOT NULL,
    PRIMARY KEY (account_id, email)
);

-- Server-side sessions: the cookie carries a random token, the table its SHA-256, so a
-- database read does not give a usable cookie. Revoked on logout, expire on their own.
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 text PRIMARY KEY,
    account_id text NOT NULL,
    email text NOT NULL,
    csrf text NOT NULL,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    revoked_at text,
    support_account text,
    support_reason text
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (account_id, email);

-- Login throttling: consecutive failures per key (`user:<account>/<email>`, `ip:<addr>`)
-- and the time before which the key is refused.
CREATE TABLE IF NOT EXISTS login_throttle (
    throttle_key text PRIMARY KEY,
    failures bigint NOT NULL,
    blocked_until text
);
