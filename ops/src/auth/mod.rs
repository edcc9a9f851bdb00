//! Accounts, users, roles, API tokens and sessions of the hosted service (issue 15).
//!
//! Decisions are taken on the `Account` aggregate's folded state (strongly consistent:
//! a revoked token is refused by the next request); the `access` projection only lists.
//! Secrets stay out of the event log: argon2id password hashes live in `user_passwords`
//! (written in the transaction of the `PasswordChanged` event), sessions and tokens are
//! stored by the SHA-256 of their random secret, so a copy of the database gives no usable
//! credential.

mod password;
mod throttle;

use chrono::{DateTime, Duration, Utc};
use passerelle_adapters::store::{AggregateError, AggregateStore, Db, Origin, Val};
use passerelle_domain::access::{
    normalize_email, AccountCommand, AccountError, AccountState, Role,
};
use passerelle_domain::{AccountId, Actor};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use password::{hash_password, verify_password, PasswordError, MIN_PASSWORD_LEN};
pub use throttle::Throttle;

/// How long a console session lasts without a new login.
pub const SESSION_TTL_HOURS: i64 = 12;

/// Failures of access commands.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Refused by the rules (unknown user, last admin…): show it.
    #[error(transparent)]
    Refused(#[from] AccountError),
    /// A bad password (too short…): show it.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Database or stored state: retry later.
    #[error("{0}")]
    Store(String),
}

impl<R: std::error::Error + 'static> From<AggregateError<R>> for AccessError
where
    AccountError: From<R>,
{
    fn from(e: AggregateError<R>) -> Self {
        match e {
            AggregateError::Refused(r) => AccessError::Refused(r.into()),
            other => AccessError::Store(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for AccessError {
    fn from(e: sqlx::Error) -> Self {
        AccessError::Store(format!("base de données : {e}"))
    }
}

/// Why a login was refused. The caller shows one message for `BadCredentials` whatever the
/// cause (unknown account, unknown user, wrong password), so nothing tells which exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong account, e-mail or password.
    #[error("identifiants incorrects (wrong credentials)")]
    BadCredentials,
    /// Too many failures: wait.
    #[error("trop d'échecs de connexion : réessayez dans {0} s (too many failures)")]
    Throttled(i64),
    /// Database: retry later.
    #[error("service indisponible, réessayez (unavailable)")]
    Unavailable,
}

/// How a request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A console session (cookie); state-changing requests need its CSRF token.
    Session {
        /// SHA-256 of the session token.
        token_sha256: String,
        /// The session's CSRF token.
        csrf: String,
    },
    /// An API token (Bearer).
    Token {
        /// Token id.
        id: String,
    },
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's own account.
    pub account: AccountId,
    /// User e-mail, or `token:<id>`.
    pub login: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Session or token.
    pub via: Via,
}

impl Principal {
    /// Holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    /// The actor recorded in events (`user:<account>/<login>`).
    pub fn actor(&self) -> Actor {
        Actor::User(format!("{}/{}", self.account, self.login))
    }
}

/// A token as handed to its owner once: `pst.<account>.<id>.<secret>`.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Token id.
    pub id: String,
    /// The whole token (shown once, never stored).
    pub token: String,
}

/// A session just opened: the cookie value and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Cookie value (shown to the browser only).
    pub token: String,
    /// CSRF token for forms.
    pub csrf: String,
}

/// An open session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Who.
    pub principal: Principal,
    /// Account a support user opened, with the reason given.
    pub support: Option<(AccountId, String)>,
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` random bytes in URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Accounts, users, tokens and sessions over one database.
#[derive(Clone)]
pub struct Access {
    db: Db,
    store: AggregateStore,
    throttle: Throttle,
}

impl Access {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            store: AggregateStore::new(db.clone()),
            throttle: Throttle::new(db.clone()),
            db,
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn origin(actor: &Actor, what: &str, now: DateTime<Utc>) -> Origin {
        Origin {
            actor: actor.clone(),
            correlation: format!("{what}:{}", uuid::Uuid::now_v7()),
            at: now,
        }
    }

    async fn exec(
        &self,
        account: &AccountId,
        cmd: AccountCommand,
        actor: &Actor,
        what: &str,
    ) -> Result<usize, AccessError> {
        let ev = self
            .store
            .execute::<AccountState>(
                account,
                account.as_str(),
                cmd,
                &Self::origin(actor, what, Utc::now()),
            )
            .await?;
        Ok(ev.len())
    }

    /// The folded state of an account, if it exists.
    pub async fn account(&self, account: &AccountId) -> Result<Option<AccountState>, AccessError> {
        Ok(self
            .store
            .load::<AccountState>(account, account.as_str())
            .await?
            .filter(|s| s.opened))
    }

    /// Opens an account.
    pub async fn create_account(
        &self,
        account: &AccountId,
        name: &str,
        time_zone: &str,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        if time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(AccessError::Refused(AccountError::InvalidText(format!(
                "fuseau horaire inconnu : {time_zone} (unknown time zone)"
            ))));
        }
        self.exec(
            account,
            AccountCommand::Open {
                name: name.into(),
                time_zone: time_zone.into(),
            },
            actor,
            "account-create",
        )
        .await
        .map(|_| ())
    }

    /// Adds a user with a password (argon2id-hashed in the event's transaction).
    pub async fn add_user(
        &self,
        account: &AccountId,
        email: &str,
        roles: Vec<Role>,
        password: &str,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        let phc = hash_password(password).await?;
        let email = normalize_email(email)?;
        self.exec(
            account,
            AccountCommand::AddUser {
                email: email.clone(),
                roles,
            },
            actor,
            "user-add",
        )
        .await?;
        self.store_password(account, &email, &phc, actor).await
    }

    /// Changes a user's password; every session of the user is revoked.
    pub async fn set_password(
        &self,
        account: &AccountId,
        email: &str,
        password: &str,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        let phc = hash_password(password).await?;
        let email = normalize_email(email)?;
        self.store_password(account, &email, &phc, actor).await?;
        self.revoke_user_sessions(account, &email).await
    }

    async fn store_password(
        &self,
        account: &AccountId,
        email: &str,
        phc: &str,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        let upsert = "INSERT INTO user_passwords (account_id, email, phc) VALUES ($1, $2, $3) \
                      ON CONFLICT (account_id, email) DO UPDATE SET phc = excluded.phc";
        self.store
            .execute_with::<AccountState>(
                account,
                account.as_str(),
                AccountCommand::RecordPasswordChange {
                    email: email.into(),
                },
                &Self::origin(actor, "user-passwd", Utc::now()),
                &[(
                    upsert,
                    vec![
                        Val::text(account.as_str()),
                        Val::text(email),
                        Val::text(phc),
                    ],
                )],
            )
            .await?;
        Ok(())
    }

    /// Removes a user (their password and sessions go too).
    pub async fn remove_user(
        &self,
        account: &AccountId,
        email: &str,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        let email = normalize_email(email)?;
        self.store
            .execute_with::<AccountState>(
                account,
                account.as_str(),
                AccountCommand::RemoveUser {
                    email: email.clone(),
                },
                &Self::origin(actor, "user-remove", Utc::now()),
                &[(
                    "DELETE FROM user_passwords WHERE account_id = $1 AND email = $2",
                    vec![Val::text(account.as_str()), Val::text(&email)],
                )],
            )
            .await?;
        self.revoke_user_sessions(account, &email).await
    }

    /// Replaces a user's roles (open sessions keep the old ones until they end: they are
    /// revoked so the next request logs in again).
    pub async fn set_roles(
        &self,
        account: &AccountId,
        email: &str,
        roles: Vec<Role>,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        let email = normalize_email(email)?;
        let n = self
            .exec(
                account,
                AccountCommand::SetRoles {
                    email: email.clone(),
                    roles,
                },
                actor,
                "user-roles",
            )
            .await?;
        if n > 0 {
            self.revoke_user_sessions(account, &email).await?;
        }
        Ok(())
    }

    /// Creates a token; the returned text is the only copy of its secret.
    pub async fn create_token(
        &self,
        account: &AccountId,
        name: &str,
        roles: Vec<Role>,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<IssuedToken, AccessError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let secret = random_token(32);
        self.exec(
            account,
            AccountCommand::CreateToken {
                id: id.clone(),
                name: name.into(),
                roles,
                expires_at,
                secret_sha256: sha256_hex(&secret),
                now: Utc::now(),
            },
            actor,
            "token-create",
        )
        .await?;
        Ok(IssuedToken {
            token: format!("pst.{account}.{id}.{secret}"),
            id,
        })
    }

    /// Revokes a token: the next request carrying it gets 401.
    pub async fn revoke_token(
        &self,
        account: &AccountId,
        id: &str,
        actor: &Actor,
    ) -> Result<(), AccessError> {
        self.exec(
            account,
            AccountCommand::RevokeToken { id: id.into() },
            actor,
            "token-revoke",
        )
        .await
        .map(|_| ())
    }

    /// Checks a Bearer token against the account's state (a revoked or expired token, a
    /// malformed one or another account's fail alike: `None`).
    pub async fn authenticate_token(&self, token: &str, now: DateTime<Utc>) -> Option<Principal> {
        let rest = token.strip_prefix("pst.")?;
        let mut parts = rest.rsplitn(3, '.');
        let (secret, id, acc) = (parts.next()?, parts.next()?, parts.next()?);
        let account = AccountId::parse(acc).ok()?;
        let state = self.account(&account).await.ok()??;
        let t = state.tokens.get(id)?;
        if !t.is_valid_at(now) || !constant_eq(&t.secret_sha256, &sha256_hex(secret)) {
            return None;
        }
        Some(Principal {
            account,
            login: format!("token:{id}"),
            roles: t.roles.clone(),
            via: Via::Token { id: id.into() },
        })
    }

    /// Checks a password login (throttled per user and per address) and records it.
    pub async fn login(
        &self,
        account: &str,
        email: &str,
        password: &str,
        ip: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, LoginError> {
        let email_n = email.trim().to_lowercase();
        let user_key = format!("user:{}/{}", account.trim(), email_n);
        let ip_key = format!("ip:{ip}");
        if let Some(wait) = self
            .throttle
            .blocked(&[&user_key, &ip_key], now)
            .await
            .map_err(|_| LoginError::Unavailable)?
        {
            // Recorded too: the admin sees someone hammering an account.
            if let Ok(acc) = AccountId::parse(account.trim()) {
                let _ = self
                    .record_login(
                        &acc,
                        &email_n,
                        ip,
                        Some("connexions suspendues (trop d'échecs)".into()),
                    )
                    .await;
            }
            return Err(LoginError::Throttled(wait));
        }
        let acc = AccountId::parse(account.trim()).ok();
        let state = match &acc {
            Some(a) => self.account(a).await.map_err(|_| LoginError::Unavailable)?,
            None => None,
        };
        let user = state.as_ref().and_then(|s| s.users.get(&email_n).cloned());
        let phc = match (&acc, &user) {
            (Some(a), Some(_)) => self
                .db
                .fetch(
                    "SELECT phc FROM user_passwords WHERE account_id = $1 AND email = $2",
                    &[Val::text(a.as_str()), Val::text(&email_n)],
                )
                .await
                .map_err(|_| LoginError::Unavailable)?
                .first()
                .and_then(|r| r[0].as_str().map(str::to_string)),
            _ => None,
        };
        // Verify even when the user is unknown (against a dummy hash), so the answer time
        // does not tell which accounts and users exist.
        let ok = verify_password(password, phc.as_deref()).await;
        match (acc, user, ok) {
            (Some(acc), Some(u), true) => {
                self.throttle
                    .succeeded(&[&user_key])
                    .await
                    .map_err(|_| LoginError::Unavailable)?;
                let _ = self.record_login(&acc, &email_n, ip, None).await;
                Ok(Principal {
                    account: acc,
                    login: email_n,
                    roles: u.roles,
                    via: Via::Token { id: String::new() },
                })
            }
            (acc, _, _) => {
                self.throttle
                    .failed(&[(&user_key, 5), (&ip_key, 20)], now)
                    .await
                    .map_err(|_| LoginError::Unavailable)?;
                if let (Some(acc), true) = (acc, state.is_some()) {
                    let _ = self
                        .record_login(&acc, &email_n, ip, Some("identifiants incorrects".into()))
                        .await;
                }
                Err(LoginError::BadCredentials)
            }
        }
    }

    async fn record_login(
        &self,
        account: &AccountId,
        email: &str,
        ip: &str,
        failure: Option<String>,
    ) -> Result<(), AccessError> {
        self.exec(
            account,
            AccountCommand::RecordLogin {
                email: email.into(),
                ip: ip.into(),
                failure,
            },
            &Actor::User(format!("{account}/{email}")),
            "login",
        )
        .await
        .map(|_| ())
    }

    /// Records an action of the hosting staff on `account` (refused without a reason).
    pub async fn record_support(
        &self,
        account: &AccountId,
        support: &Principal,
        action: &str,
        reason: &str,
    ) -> Result<(), AccessError> {
        self.exec(
            account,
            AccountCommand::RecordSupportAction {
                support_user: format!("{}/{}", support.account, support.login),
                action: action.into(),
                reason: reason.into(),
            },
            &support.actor(),
            "support",
        )
        .await
        .map(|_| ())
    }

    /// Opens a session for a logged-in user (a new random token each login: rotation).
    pub async fn open_session(
        &self,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<NewSession, AccessError> {
        let token = random_token(32);
        let csrf = random_token(24);
        self.db
            .execute(
                "INSERT INTO sessions (token_sha256, account_id, email, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    Val::text(sha256_hex(&token)),
                    Val::text(who.account.as_str()),
                    Val::text(&who.login),
                    Val::text(&csrf),
                    Val::text(ts(now)),
                    Val::text(ts(now + Duration::hours(SESSION_TTL_HOURS))),
                ],
            )
            .await?;
        Ok(NewSession { token, csrf })
    }

    /// The session behind a cookie value, if open, unexpired and its user still exists
    /// (roles are read from the account's state: a change applies at once).
    pub async fn session(&self, token: &str, now: DateTime<Utc>) -> Option<SessionInfo> {
        let h = sha256_hex(token);
        let rows = self
            .db
            .fetch(
                "SELECT account_id, email, csrf, expires_at, revoked_at, support_account, support_reason FROM sessions WHERE token_sha256 = $1",
                &[Val::text(&h)],
            )
            .await
            .ok()?;
        let r = rows.first()?;
        if r[4].as_str().is_some() || parse_ts(r[3].as_str()?)? <= now {
            return None;
        }
        let account = AccountId::parse(r[0].as_str()?).ok()?;
        let email = r[1].as_str()?.to_string();
        let state = self.account(&account).await.ok()??;
        let user = state.users.get(&email)?;
        let support = match (r[5].as_str(), r[6].as_str()) {
            (Some(a), Some(why)) => AccountId::parse(a).ok().map(|a| (a, why.to_string())),
            _ => None,
        };
        Some(SessionInfo {
            principal: Principal {
                account,
                login: email,
                roles: user.roles.clone(),
                via: Via::Session {
                    token_sha256: h,
                    csrf: r[2].as_str()?.to_string(),
                },
            },
            support,
        })
    }

    /// Ends a session (logout): the cookie is worthless from now on.
    pub async fn revoke_session(&self, token_sha256: &str) -> Result<(), AccessError> {
        self.db
            .execute(
                "UPDATE sessions SET revoked_at = $2 WHERE token_sha256 = $1 AND revoked_at IS NULL",
                &[Val::text(token_sha256), Val::text(ts(Utc::now()))],
            )
            .await?;
        Ok(())
    }

    /// Records the logout and ends the session.
    pub async fn logout(&self, who: &Principal) -> Result<(), AccessError> {
        if let Via::Session { token_sha256, .. } = &who.via {
            self.revoke_session(token_sha256).await?;
        }
        self.exec(
            &who.account,
            AccountCommand::RecordLogout {
                email: who.login.clone(),
            },
            &who.actor(),
            "logout",
        )
        .await
        .map(|_| ())
    }

    /// A support user opens another account for this session, with the reason (recorded
    /// on that account).
    pub async fn open_support_account(
        &self,
        who: &Principal,
        target: &AccountId,
        reason: &str,
    ) -> Result<(), AccessError> {
        self.record_support(target, who, "ouverture du compte (console)", reason)
            .await?;
        if let Via::Session { token_sha256, .. } = &who.via {
            self.db
                .execute(
                    "UPDATE sessions SET support_account = $2, support_reason = $3 WHERE token_sha256 = $1",
                    &[Val::text(token_sha256), Val::text(target.as_str()), Val::text(reason)],
                )
                .await?;
        }
        Ok(())
    }

    async fn revoke_user_sessions(
        &self,
        account: &AccountId,
        email: &str,
    ) -> Result<(), AccessError> {
        self.db
            .execute(
                "UPDATE sessions SET revoked_at = $3 WHERE account_id = $1 AND email = $2 AND revoked_at IS NULL",
                &[Val::text(account.as_str()), Val::text(email), Val::text(ts(Utc::now()))],
            )
            .await?;
        Ok(())
    }
}

/// Compares two hex digests in time independent of where they differ.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
