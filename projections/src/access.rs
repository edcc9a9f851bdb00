//! The `access` projection (hosted service): the users and API tokens of every account as
//! listed to its admin, and the security log (logins, token changes, support actions with
//! their reason). Authentication itself decides on the `Account` aggregate's folded state,
//! never on these eventual rows; they are for reading, and `replay --verify` rebuilds them.
//!
//! Account events are few (a login, a token change), so each is applied by its own
//! statements instead of the batch folding the journal needs.

use crate::projector::{Projection, ProjectionError, TableSpec};
use async_trait::async_trait;
use passerelle_adapters::store::{Db, RawEvent, Tx, Val};
use passerelle_domain::access::{AccountEvent, Role};
use passerelle_workflows::engine::StoreError;
use serde::Serialize;
use std::collections::HashMap;

/// The projection.
pub struct AccessProjection;

fn corrupt(raw: &RawEvent, reason: String) -> ProjectionError {
    ProjectionError::Corrupt(StoreError::Corrupt {
        aggregate_type: raw.aggregate_type.clone(),
        aggregate_id: raw.aggregate_id.clone(),
        sequence: raw.sequence,
        reason,
    })
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[async_trait]
impl Projection for AccessProjection {
    fn name(&self) -> &'static str {
        "access"
    }
    fn aggregate_type(&self) -> &'static str {
        "Account"
    }
    fn tables(&self) -> Vec<TableSpec> {
        vec![
            TableSpec {
                name: "access_accounts",
                key: "account_id",
                columns: "name, time_zone, opened_at",
                ddl: "(account_id TEXT PRIMARY KEY, name TEXT NOT NULL, time_zone TEXT NOT NULL, opened_at TEXT NOT NULL)",
            },
            TableSpec {
                name: "access_users",
                key: "user_key",
                columns: "account_id, email, roles, added_at, password_changed_at, last_login_at",
                ddl: "(user_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, email TEXT NOT NULL, roles TEXT NOT NULL, \
                      added_at TEXT NOT NULL, password_changed_at TEXT, last_login_at TEXT)",
            },
            TableSpec {
                name: "access_tokens",
                key: "token_key",
                columns: "account_id, token_id, name, roles, created_at, expires_at, revoked_at, created_by",
                ddl: "(token_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, token_id TEXT NOT NULL, name TEXT NOT NULL, \
                      roles TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, created_by TEXT NOT NULL)",
            },
            TableSpec {
                name: "security_log",
                key: "entry_key",
                columns: "account_id, at, actor, kind, detail",
                ddl: "(entry_key TEXT PRIMARY KEY, account_id TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, \
                      kind TEXT NOT NULL, detail TEXT NOT NULL)",
            },
        ]
    }

    async fn apply_batch(
        &self,
        tx: &mut Tx,
        prefix: &str,
        events: &[RawEvent],
    ) -> Result<(), ProjectionError> {
        for raw in events {
            let e: AccountEvent = serde_json::from_str(&raw.payload)
                .map_err(|err| corrupt(raw, format!("charge utile illisible : {err}")))?;
            let meta: HashMap<String, String> = serde_json::from_str(&raw.metadata)
                .map_err(|err| corrupt(raw, format!("métadonnées illisibles : {err}")))?;
            let account = meta.get("account_id").cloned().unwrap_or_default();
            let at = meta.get("timestamp").cloned().unwrap_or_default();
            let actor = meta.get("actor").cloned().unwrap_or_default();
            apply_one(tx, prefix, raw, &e, &account, &at).await?;
            // Every event of an account is an entry of its security log, key ordered by
            // stream sequence so the log reads in order.
            // The token hash is no secret, but an admin reading the log has no use for it.
            let mut detail = serde_json::to_value(&e).unwrap_or_default();
            if let Some(inner) = detail
                .get_mut("TokenCreated")
                .and_then(|v| v.as_object_mut())
            {
                inner.remove("secret_sha256");
            }
            let detail = detail.to_string();
            tx.execute(
                &format!("INSERT INTO {prefix}security_log (entry_key, account_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entry_key) DO NOTHING"),
                &[
                    Val::text(format!("{}#{:012}", raw.aggregate_id, raw.sequence)),
                    Val::text(&account),
                    Val::text(&at),
                    Val::text(actor),
                    Val::text(&raw.event_type),
                    Val::text(detail),
                ],
            )
            .await?;
        }
        Ok(())
    }
}

async fn apply_one(
    tx: &mut Tx,
    prefix: &str,
    raw: &RawEvent,
    e: &AccountEvent,
    account: &str,
    at: &str,
) -> Result<(), ProjectionError> {
    use AccountEvent as E;
    let user_key = |email: &str| format!("{account}/{email}");
    match e {
        E::AccountOpened { name, time_zone } => {
            tx.execute(
                &format!("INSERT INTO {prefix}access_accounts (account_id, name, time_zone, opened_at) VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone"),
                &[Val::text(account), Val::text(name), Val::text(time_zone), Val::text(at)],
            )
            .await?;
        }
        E::UserAdded { email, roles } => {
            tx.execute(
                &format!("INSERT INTO {prefix}access_users (user_key, account_id, email, roles, added_at) VALUES ($1, $2, $3, $4, $5) \
                          ON CONFLICT (user_key) DO UPDATE SET roles = excluded.roles, added_at = excluded.added_at, password_changed_at = NULL, last_login_at = NULL"),
                &[Val::text(user_key(email)), Val::text(account), Val::text(email), Val::text(roles_text(roles)), Val::text(at)],
            )
            .await?;
        }
        E::UserRemoved { email } => {
            tx.execute(
                &format!("DELETE FROM {prefix}access_users WHERE user_key = $1"),
                &[Val::text(user_key(email))],
            )
            .await?;
        }
        E::RolesChanged { email, roles } => {
            tx.execute(
                &format!("UPDATE {prefix}access_users SET roles = $2 WHERE user_key = $1"),
                &[Val::text(user_key(email)), Val::text(roles_text(roles))],
            )
            .await?;
        }
        E::PasswordChanged { email } => {
            tx.execute(
                &format!(
                    "UPDATE {prefix}access_users SET password_changed_at = $2 WHERE user_key = $1"
                ),
                &[Val::text(user_key(email)), Val::text(at)],
            )
            .await?;
        }
        E::LoginSucceeded { email, .. } => {
            tx.execute(
                &format!("UPDATE {prefix}access_users SET last_login_at = $2 WHERE user_key = $1"),
                &[Val::text(user_key(email)), Val::text(at)],
            )
            .await?;
        }
        E::TokenCreated {
            token_id,
            name,
            roles,
            created_at,
            expires_at,
            ..
        } => {
            let meta: HashMap<String, String> =
                serde_json::from_str(&raw.metadata).unwrap_or_default();
            tx.execute(
                &format!("INSERT INTO {prefix}access_tokens (token_key, account_id, token_id, name, roles, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (token_key) DO NOTHING"),
                &[
                    Val::text(format!("{account}/{token_id}")),
                    Val::text(account),
                    Val::text(token_id),
                    Val::text(name),
                    Val::text(roles_text(roles)),
                    Val::text(ts(*created_at)),
                    Val::Text(expires_at.map(ts)),
                    Val::text(meta.get("actor").cloned().unwrap_or_default()),
                ],
            )
            .await?;
        }
        E::TokenRevoked { token_id } => {
            tx.execute(
                &format!("UPDATE {prefix}access_tokens SET revoked_at = $2 WHERE token_key = $1"),
                &[Val::text(format!("{account}/{token_id}")), Val::text(at)],
            )
            .await?;
        }
        E::LoginFailed { .. } | E::LoggedOut { .. } | E::SupportActionRecorded { .. } => {}
    }
    Ok(())
}

/// A user as listed to the account's admin.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserRow {
    /// E-mail (login).
    pub email: String,
    /// Roles, comma-separated.
    pub roles: Vec<String>,
    /// When added.
    pub added_at: String,
    /// Last password change.
    pub password_changed_at: Option<String>,
    /// Last successful login.
    pub last_login_at: Option<String>,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenRow {
    /// Token id (public part).
    pub id: String,
    /// Label.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Created.
    pub created_at: String,
    /// Expiry.
    pub expires_at: Option<String>,
    /// Revoked.
    pub revoked_at: Option<String>,
    /// Who created it.
    pub created_by: String,
}

/// One entry of an account's security log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecurityEntry {
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// Event type (`LoginSucceeded`, `TokenRevoked`, `SupportActionRecorded`…).
    pub kind: String,
    /// The event's payload.
    pub detail: serde_json::Value,
}

/// An account as listed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountRow {
    /// Account id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Time zone.
    pub time_zone: String,
    /// Opened at.
    pub opened_at: String,
}

fn split_roles(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

fn opt(v: &Val) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Every account.
pub async fn accounts(db: &Db) -> Result<Vec<AccountRow>, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT account_id, name, time_zone, opened_at FROM access_accounts ORDER BY account_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AccountRow {
            id: r[0].display(),
            name: r[1].display(),
            time_zone: r[2].display(),
            opened_at: r[3].display(),
        })
        .collect())
}

/// The users of an account, by e-mail.
pub async fn users(db: &Db, account: &str) -> Result<Vec<UserRow>, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT email, roles, added_at, password_changed_at, last_login_at FROM access_users WHERE account_id = $1 ORDER BY email",
            &[Val::text(account)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| UserRow {
            email: r[0].display(),
            roles: split_roles(r[1].as_str()),
            added_at: r[2].display(),
            password_changed_at: opt(&r[3]),
            last_login_at: opt(&r[4]),
        })
        .collect())
}

/// The tokens of an account, newest first.
pub async fn tokens(db: &Db, account: &str) -> Result<Vec<TokenRow>, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT token_id, name, roles, created_at, expires_at, revoked_at, created_by FROM access_tokens WHERE account_id = $1 ORDER BY created_at DESC, token_id",
            &[Val::text(account)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TokenRow {
            id: r[0].display(),
            name: r[1].display(),
            roles: split_roles(r[2].as_str()),
            created_at: r[3].display(),
            expires_at: opt(&r[4]),
            revoked_at: opt(&r[5]),
            created_by: r[6].display(),
        })
        .collect())
}

/// A page of an account's security log, newest first.
pub async fn security_log(
    db: &Db,
    account: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<SecurityEntry>, sqlx::Error> {
    let rows = db
        .fetch(
            "SELECT at, actor, kind, detail FROM security_log WHERE account_id = $1 ORDER BY entry_key DESC LIMIT $2 OFFSET $3",
            &[Val::text(account), Val::int(limit), Val::int(offset)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SecurityEntry {
            at: r[0].display(),
            actor: r[1].display(),
            kind: r[2].display(),
            detail: serde_json::from_str(r[3].as_str().unwrap_or("null")).unwrap_or_default(),
        })
        .collect())
}
