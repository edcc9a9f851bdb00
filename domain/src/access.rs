//! Accounts of the hosted service (tenants), their users with roles, their API tokens, and
//! the security log the account's admin reads (logins, token changes, support actions).
//!
//! One `Account` aggregate per tenant: users and tokens are small sets decided together
//! (the last admin cannot be removed, a token's roles are checked against the known ones),
//! and the log of who entered the account lives in the same stream so the admin sees it in
//! order. No secret enters an event: passwords are argon2id hashes kept outside the log
//! (the event only says a password changed), tokens are recorded by the SHA-256 of their
//! 256-bit random secret, never the secret itself.

use crate::decider::Decider;
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a user or a token may do (FEATURES §1, issue 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The merchant: profiles, schedules, notifications, subscription view, users, tokens.
    Admin,
    /// Runs and cancels sync tasks.
    Operator,
    /// Read-only: journal, history, replay verify, exports.
    Auditor,
    /// Hosting staff: any account, every action with a recorded reason.
    Support,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Auditor, Role::Support];

    /// Stable text form (`admin`, `operator`, `auditor`, `support`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Support => "support",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    /// Parses a comma-separated list (`admin,operator`); names the first unknown one.
    pub fn parse_list(s: &str) -> Result<Vec<Role>, AccountError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let r = Role::parse(part).ok_or_else(|| AccountError::UnknownRole(part.into()))?;
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out.sort();
        if out.is_empty() {
            return Err(AccountError::NoRole);
        }
        Ok(out)
    }
}

/// A user of an account, keyed by e-mail (lower case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Roles, sorted.
    pub roles: Vec<Role>,
    /// A password was set (a user without one cannot log in).
    pub password_set: bool,
}

/// An API token of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Label chosen at creation.
    pub name: String,
    /// Roles the token carries, sorted.
    pub roles: Vec<Role>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// SHA-256 (hex) of the token's secret part.
    pub secret_sha256: String,
    /// Revoked tokens are kept so the log stays readable.
    pub revoked: bool,
}

impl ApiToken {
    /// Usable at `now`: not revoked, not expired.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| now < e)
    }
}

/// The folded state of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Opened (created).
    pub opened: bool,
    /// Display name.
    pub name: String,
    /// Time zone of the account's schedules (IANA name).
    pub time_zone: String,
    /// Users by e-mail.
    pub users: BTreeMap<String, User>,
    /// Tokens by id.
    pub tokens: BTreeMap<String, ApiToken>,
}

/// Commands on an account. Time and ids come from the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountCommand {
    /// Opens the account.
    Open {
        /// Display name.
        name: String,
        /// IANA time zone.
        time_zone: String,
    },
    /// Adds a user.
    AddUser {
        /// E-mail (login).
        email: String,
        /// Roles.
        roles: Vec<Role>,
    },
    /// Removes a user.
    RemoveUser {
        /// E-mail.
        email: String,
    },
    /// Replaces a user's roles.
    SetRoles {
        /// E-mail.
        email: String,
        /// New roles.
        roles: Vec<Role>,
    },
    /// Records that a user's password was (re)set; the hash is stored outside the log.
    RecordPasswordChange {
        /// E-mail.
        email: String,
    },
    /// Creates a token.
    CreateToken {
        /// Token id (the public part of the token).
        id: String,
        /// Label.
        name: String,
        /// Roles.
        roles: Vec<Role>,
        /// Expiry.
        expires_at: Option<DateTime<Utc>>,
        /// SHA-256 of the secret part.
        secret_sha256: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Revokes a token.
    RevokeToken {
        /// Token id.
        id: String,
    },
    /// Records a login attempt (successful or not).
    RecordLogin {
        /// E-mail given.
        email: String,
        /// Client address.
        ip: String,
        /// `None` when it succeeded, else why it failed.
        failure: Option<String>,
    },
    /// Records a logout.
    RecordLogout {
        /// E-mail.
        email: String,
    },
    /// Records an action of the hosting staff on this account.
    RecordSupportAction {
        /// The support user (`account/email`).
        support_user: String,
        /// What was done (`GET /api/v1/runs`, `reset-orders 124,3`…).
        action: String,
        /// Why (mandatory).
        reason: String,
    },
}

/// Events of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// The account was opened.
    AccountOpened {
        /// Display name.
        name: String,
        /// IANA time zone.
        time_zone: String,
    },
    /// A user was added.
    UserAdded {
        /// E-mail.
        email: String,
        /// Roles.
        roles: Vec<Role>,
    },
    /// A user was removed.
    UserRemoved {
        /// E-mail.
        email: String,
    },
    /// A user's roles changed.
    RolesChanged {
        /// E-mail.
        email: String,
        /// New roles.
        roles: Vec<Role>,
    },
    /// A user's password was (re)set.
    PasswordChanged {
        /// E-mail.
        email: String,
    },
    /// A token was created.
    TokenCreated {
        /// Token id.
        token_id: String,
        /// Label.
        name: String,
        /// Roles.
        roles: Vec<Role>,
        /// Creation time.
        created_at: DateTime<Utc>,
        /// Expiry.
        expires_at: Option<DateTime<Utc>>,
        /// SHA-256 (hex) of the secret part.
        secret_sha256: String,
    },
    /// A token was revoked.
    TokenRevoked {
        /// Token id.
        token_id: String,
    },
    /// A user logged in.
    LoginSucceeded {
        /// E-mail.
        email: String,
        /// Client address.
        ip: String,
    },
    /// A login failed.
    LoginFailed {
        /// E-mail given.
        email: String,
        /// Client address.
        ip: String,
        /// Why (wrong password, unknown user, throttled…).
        reason: String,
    },
    /// A user logged out.
    LoggedOut {
        /// E-mail.
        email: String,
    },
    /// The hosting staff acted on this account.
    SupportActionRecorded {
        /// Support user (`account/email`).
        support_user: String,
        /// What was done.
        action: String,
        /// Why.
        reason: String,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::AccountOpened { .. } => "AccountOpened",
            AccountEvent::UserAdded { .. } => "UserAdded",
            AccountEvent::UserRemoved { .. } => "UserRemoved",
            AccountEvent::RolesChanged { .. } => "RolesChanged",
            AccountEvent::PasswordChanged { .. } => "PasswordChanged",
            AccountEvent::TokenCreated { .. } => "TokenCreated",
            AccountEvent::TokenRevoked { .. } => "TokenRevoked",
            AccountEvent::LoginSucceeded { .. } => "LoginSucceeded",
            AccountEvent::LoginFailed { .. } => "LoginFailed",
            AccountEvent::LoggedOut { .. } => "LoggedOut",
            AccountEvent::SupportActionRecorded { .. } => "SupportActionRecorded",
        }
        .into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Refusals of account commands (shown to the user as they are).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The account does not exist: create it first.
    #[error("compte inconnu (passerelle account create) (unknown account)")]
    NotOpened,
    /// Already created.
    #[error("le compte existe déjà (account already exists)")]
    AlreadyOpened,
    /// No such user.
    #[error("utilisateur inconnu : {0} (unknown user)")]
    UnknownUser(String),
    /// Already a user.
    #[error("l'utilisateur {0} existe déjà (user already exists)")]
    UserExists(String),
    /// Not an e-mail address.
    #[error("adresse e-mail invalide : « {0} » (invalid e-mail)")]
    InvalidEmail(String),
    /// A role name not among admin, operator, auditor, support.
    #[error("rôle inconnu « {0} » (admin, operator, auditor, support) (unknown role)")]
    UnknownRole(String),
    /// At least one role is needed.
    #[error("au moins un rôle est nécessaire (admin, operator, auditor, support) (no role)")]
    NoRole,
    /// The account would have no admin left.
    #[error("le dernier administrateur du compte ne peut pas être retiré (last admin)")]
    LastAdmin,
    /// No such token.
    #[error("jeton inconnu : {0} (unknown token)")]
    UnknownToken(String),
    /// Token id reused.
    #[error("jeton déjà existant : {0} (token exists)")]
    TokenExists(String),
    /// An expiry in the past.
    #[error("la date d'expiration est passée (expiry in the past)")]
    ExpiryInPast,
    /// Support actions need a reason.
    #[error("un motif est obligatoire pour une action du support (reason required)")]
    ReasonRequired,
    /// A text field is too long or empty.
    #[error("{0}")]
    InvalidText(String),
}

/// Lower-cases and checks an e-mail address (one `@`, a dot in the domain, no spaces,
/// at most 254 characters: RFC 5321's path limit).
pub fn normalize_email(s: &str) -> Result<String, AccountError> {
    let e = s.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
    if ok {
        Ok(e)
    } else {
        Err(AccountError::InvalidEmail(s.chars().take(80).collect()))
    }
}

fn short_text(field: &str, s: &str, max: usize) -> Result<(), AccountError> {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(AccountError::InvalidText(format!(
            "{field} : 1 à {max} caractères sans caractère de contrôle ({field}: 1 to {max} characters)"
        )));
    }
    Ok(())
}

fn admins_after(state: &AccountState, email: &str, roles: &[Role]) -> usize {
    state
        .users
        .iter()
        .filter(|(e, u)| {
            if e.as_str() == email {
                roles.contains(&Role::Admin)
            } else {
                u.roles.contains(&Role::Admin)
            }
        })
        .count()
}

impl Decider for AccountState {
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Refusal = AccountError;
    const TYPE: &'static str = "Account";

    fn decide(&self, cmd: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        use AccountCommand as C;
        use AccountEvent as E;
        if !self.opened && !matches!(cmd, C::Open { .. }) {
            return Err(AccountError::NotOpened);
        }
        let user = |email: &str| -> Result<String, AccountError> {
            let e = normalize_email(email)?;
            if self.users.contains_key(&e) {
                Ok(e)
            } else {
                Err(AccountError::UnknownUser(e))
            }
        };
        Ok(match cmd {
            C::Open { name, time_zone } => {
                if self.opened {
                    return Err(AccountError::AlreadyOpened);
                }
                short_text("nom", &name, 200)?;
                vec![E::AccountOpened { name, time_zone }]
            }
            C::AddUser { email, roles } => {
                let email = normalize_email(&email)?;
                if self.users.contains_key(&email) {
                    return Err(AccountError::UserExists(email));
                }
                if roles.is_empty() {
                    return Err(AccountError::NoRole);
                }
                vec![E::UserAdded { email, roles }]
            }
            C::RemoveUser { email } => {
                let email = user(&email)?;
                if admins_after(self, &email, &[]) == 0 {
                    return Err(AccountError::LastAdmin);
                }
                vec![E::UserRemoved { email }]
            }
            C::SetRoles { email, roles } => {
                let email = user(&email)?;
                if roles.is_empty() {
                    return Err(AccountError::NoRole);
                }
                if admins_after(self, &email, &roles) == 0 {
                    return Err(AccountError::LastAdmin);
                }
                if self.users.get(&email).map(|u| &u.roles) == Some(&roles) {
                    return Ok(Vec::new());
                }
                vec![E::RolesChanged { email, roles }]
            }
            C::RecordPasswordChange { email } => vec![E::PasswordChanged {
                email: user(&email)?,
            }],
            C::CreateToken {
                id,
                name,
                roles,
                expires_at,
                secret_sha256,
                now,
            } => {
                short_text("nom du jeton", &name, 100)?;
                if self.tokens.contains_key(&id) {
                    return Err(AccountError::TokenExists(id));
                }
                if roles.is_empty() {
                    return Err(AccountError::NoRole);
                }
                if expires_at.is_some_and(|e| e <= now) {
                    return Err(AccountError::ExpiryInPast);
                }
                vec![E::TokenCreated {
                    token_id: id,
                    name,
                    roles,
                    created_at: now,
                    expires_at,
                    secret_sha256,
                }]
            }
            C::RevokeToken { id } => match self.tokens.get(&id) {
                None => return Err(AccountError::UnknownToken(id)),
                Some(t) if t.revoked => Vec::new(),
                Some(_) => vec![E::TokenRevoked { token_id: id }],
            },
            C::RecordLogin { email, ip, failure } => {
                // The address given may be anything an attacker typed: keep a bounded,
                // printable copy for the log.
                let email: String = email
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(254)
                    .collect();
                match failure {
                    None => vec![E::LoginSucceeded { email, ip }],
                    Some(reason) => vec![E::LoginFailed { email, ip, reason }],
                }
            }
            C::RecordLogout { email } => vec![E::LoggedOut { email }],
            C::RecordSupportAction {
                support_user,
                action,
                reason,
            } => {
                if reason.trim().is_empty() {
                    return Err(AccountError::ReasonRequired);
                }
                short_text("motif", &reason, 500)?;
                vec![E::SupportActionRecorded {
                    support_user,
                    action: action.chars().take(300).collect(),
                    reason,
                }]
            }
        })
    }

    fn apply_event(&mut self, event: &AccountEvent) {
        use AccountEvent as E;
        match event {
            E::AccountOpened { name, time_zone } => {
                self.opened = true;
                self.name = name.clone();
                self.time_zone = time_zone.clone();
            }
            E::UserAdded { email, roles } => {
                self.users.insert(
                    email.clone(),
                    User {
                        roles: roles.clone(),
                        password_set: false,
                    },
                );
            }
            E::UserRemoved { email } => {
                self.users.remove(email);
            }
            E::RolesChanged { email, roles } => {
                if let Some(u) = self.users.get_mut(email) {
                    u.roles = roles.clone();
                }
            }
            E::PasswordChanged { email } => {
                if let Some(u) = self.users.get_mut(email) {
                    u.password_set = true;
                }
            }
            E::TokenCreated {
                token_id,
                name,
                roles,
                created_at,
                expires_at,
                secret_sha256,
            } => {
                self.tokens.insert(
                    token_id.clone(),
                    ApiToken {
                        name: name.clone(),
                        roles: roles.clone(),
                        created_at: *created_at,
                        expires_at: *expires_at,
                        secret_sha256: secret_sha256.clone(),
                        revoked: false,
                    },
                );
            }
            E::TokenRevoked { token_id } => {
                if let Some(t) = self.tokens.get_mut(token_id) {
                    t.revoked = true;
                }
            }
            E::LoginSucceeded { .. }
            | E::LoginFailed { .. }
            | E::LoggedOut { .. }
            | E::SupportActionRecorded { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountCommand as C;

    fn given(events: &[AccountEvent]) -> AccountState {
        let mut s = AccountState::default();
        for e in events {
            s.apply_event(e);
        }
        s
    }

    fn opened_with_admin() -> Vec<AccountEvent> {
        vec![
            AccountEvent::AccountOpened {
                name: "Boutique".into(),
                time_zone: "Europe/Paris".into(),
            },
            AccountEvent::UserAdded {
                email: "a@x.fr".into(),
                roles: vec![Role::Admin],
            },
        ]
    }

    #[test]
    fn commands_need_an_open_account() {
        let s = AccountState::default();
        assert_eq!(
            s.decide(C::AddUser {
                email: "a@x.fr".into(),
                roles: vec![Role::Admin]
            }),
            Err(AccountError::NotOpened)
        );
    }

    #[test]
    fn emails_are_normalised_and_unique() {
        let s = given(&opened_with_admin());
        assert_eq!(
            s.decide(C::AddUser {
                email: " A@X.FR ".into(),
                roles: vec![Role::Operator]
            }),
            Err(AccountError::UserExists("a@x.fr".into()))
        );
        assert!(matches!(
            s.decide(C::AddUser {
                email: "no-at".into(),
                roles: vec![Role::Operator]
            }),
            Err(AccountError::InvalidEmail(_))
        ));
        assert_eq!(
            s.decide(C::AddUser {
                email: "Op@X.fr".into(),
                roles: vec![Role::Operator]
            }),
            Ok(vec![AccountEvent::UserAdded {
                email: "op@x.fr".into(),
                roles: vec![Role::Operator]
            }])
        );
    }

    #[test]
    fn the_last_admin_stays() {
        let s = given(&opened_with_admin());
        assert_eq!(
            s.decide(C::RemoveUser {
                email: "a@x.fr".into()
            }),
            Err(AccountError::LastAdmin)
        );
        assert_eq!(
            s.decide(C::SetRoles {
                email: "a@x.fr".into(),
                roles: vec![Role::Auditor]
            }),
            Err(AccountError::LastAdmin)
        );
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let mut s = given(&opened_with_admin());
        let ev = s
            .decide(C::CreateToken {
                id: "t1".into(),
                name: "ci".into(),
                roles: vec![Role::Auditor],
                expires_at: Some(now + chrono::Duration::days(1)),
                secret_sha256: "ab".into(),
                now,
            })
            .unwrap_or_default();
        assert_eq!(ev.len(), 1);
        s.apply_event(&ev[0]);
        let t = s.tokens.get("t1").cloned();
        assert!(t.as_ref().is_some_and(|t| t.is_valid_at(now)));
        assert!(!t
            .as_ref()
            .is_some_and(|t| t.is_valid_at(now + chrono::Duration::days(2))));
        assert_eq!(
            s.decide(C::CreateToken {
                id: "t2".into(),
                name: "old".into(),
                roles: vec![Role::Auditor],
                expires_at: Some(now),
                secret_sha256: "cd".into(),
                now,
            }),
            Err(AccountError::ExpiryInPast)
        );
        let rev = s
            .decide(C::RevokeToken { id: "t1".into() })
            .unwrap_or_default();
        s.apply_event(&rev[0]);
        assert!(!s.tokens["t1"].is_valid_at(now));
        assert_eq!(s.decide(C::RevokeToken { id: "t1".into() }), Ok(vec![]));
    }

    #[test]
    fn support_actions_need_a_reason() {
        let s = given(&opened_with_admin());
        assert_eq!(
            s.decide(C::RecordSupportAction {
                support_user: "staff/s@h.fr".into(),
                action: "reset-orders".into(),
                reason: "  ".into()
            }),
            Err(AccountError::ReasonRequired)
        );
    }

    #[test]
    fn roles_parse() {
        assert_eq!(
            Role::parse_list("operator, admin,operator"),
            Ok(vec![Role::Admin, Role::Operator])
        );
        assert_eq!(
            Role::parse_list("root"),
            Err(AccountError::UnknownRole("root".into()))
        );
        assert_eq!(Role::parse_list(""), Err(AccountError::NoRole));
    }
}
