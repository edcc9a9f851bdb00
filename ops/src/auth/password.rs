//! Password hashing: argon2id with the argon2 crate's defaults (m = 19 MiB, t = 2, p = 1,
//! OWASP's first recommended configuration), as PHC strings. Hashing runs on the blocking
//! pool: a hash costs tens of milliseconds of CPU and must not stall the async workers.
//!
//! Source: argon2 0.5 docs (`Argon2::default()` is Argon2id v19 with `Params::DEFAULT`),
//! docs.rs/argon2.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use std::sync::OnceLock;

/// Shortest password accepted (NIST SP 800-63B asks at least 8).
pub const MIN_PASSWORD_LEN: usize = 10;

/// A password refused before hashing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Too short.
    #[error(
        "mot de passe trop court : {MIN_PASSWORD_LEN} caractères au moins (password too short)"
    )]
    TooShort,
    /// Too long (argon2 accepts more, but an unbounded input is a cheap denial of service).
    #[error("mot de passe trop long : 256 caractères au plus (password too long)")]
    TooLong,
    /// Hashing failed (should not happen).
    #[error("hachage impossible : {0}")]
    Hash(String),
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Hashes a new password (length checked first).
pub async fn hash_password(password: &str) -> Result<String, PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if n > 256 {
        return Err(PasswordError::TooLong);
    }
    let p = password.to_string();
    tokio::task::spawn_blocking(move || hash_now(&p))
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("mot de passe factice").unwrap_or_default())
}

/// Checks `password` against a stored PHC string; with `None` (no such user) a dummy hash
/// is checked instead so the time taken is the same.
pub async fn verify_password(password: &str, phc: Option<&str>) -> bool {
    if password.chars().count() > 256 {
        return false;
    }
    let known = phc.is_some();
    let phc = phc.unwrap_or_else(|| dummy_hash()).to_string();
    let p = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|h| Argon2::default().verify_password(p.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    ok && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let h = hash_password("correct horse battery").await;
        let h = h.unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse battery", Some(&h)).await);
        assert!(!verify_password("wrong horse battery", Some(&h)).await);
        assert!(!verify_password("mot de passe factice", None).await);
        assert_eq!(hash_password("court").await, Err(PasswordError::TooShort));
    }
}
