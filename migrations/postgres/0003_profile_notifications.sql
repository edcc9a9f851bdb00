-- E-mail notification settings per profile (no secret: the SMTP password, when needed,
-- comes from the operator's environment until the encrypted credential store exists).
CREATE TABLE IF NOT EXISTS profile_notifications (
    account_id text NOT NULL,
    profile_id text NOT NULL,
    settings_json text NOT NULL,
    updated_by text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (account_id, profile_id)
);
