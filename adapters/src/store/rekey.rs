//! Master-key rotation (`passerelle keys rotate`): every stored secret (profile
//! credentials, EBP token pairs) decrypted under the old key and encrypted under the new one
//! in **one transaction**, so the store is never half old, half new. An operator command
//! over the whole store (every account), as the key is the installation's.

use super::db::{Db, DbError, Val};
use crate::secrets::{SecretBox, SecretError};

/// What a rotation re-encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Profile credentials.
    pub credentials: u64,
    /// EBP token pairs (two secrets each).
    pub token_pairs: u64,
}

/// Why a rotation was refused; nothing was changed. Never carries a clear value.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    /// A stored value does not open under the current key: the key given is not the one
    /// the store was written with (or the value is damaged). Fix the key; rotate again.
    #[error(
        "{what} illisible avec la clé actuelle : {source} (rotation annulée, rien n'a changé)"
    )]
    Undecryptable {
        /// Which value (table and row key, no secret).
        what: String,
        /// Why.
        source: SecretError,
    },
    /// The database failed; the transaction rolled back.
    #[error("base de données : {0}")]
    Db(#[from] DbError),
}

/// Re-encrypts every stored secret from `old` to `new` in one transaction.
pub async fn reencrypt_all(
    db: &Db,
    old: &SecretBox,
    new: &SecretBox,
) -> Result<RekeyReport, RekeyError> {
    let mut tx = db.begin_write().await?;
    if matches!(db, Db::Pg(_)) {
        // A worker refreshing a token now would write it under the old key after we
        // commit: make it wait for the rotation instead.
        tx.execute(
            "LOCK TABLE credentials, erp_tokens IN SHARE ROW EXCLUSIVE MODE",
            &[],
        )
        .await?;
    }
    let open = |what: String, value: &str| {
        old.decrypt(value)
            .map(|clear| new.encrypt(clear.expose()))
            .map_err(|source| RekeyError::Undecryptable { what, source })
    };
    let mut report = RekeyReport::default();
    let rows = tx
        .fetch(
            "SELECT account_id, profile_id, name, ciphertext FROM credentials \
             ORDER BY account_id, profile_id, name",
            &[],
        )
        .await?;
    for r in &rows {
        let s = |i: usize| r.get(i).and_then(Val::as_str).unwrap_or_default();
        let what = format!("identifiant {} du profil {}/{}", s(2), s(0), s(1));
        let enc = open(what, s(3))?;
        tx.execute(
            "UPDATE credentials SET ciphertext = $4 \
             WHERE account_id = $1 AND profile_id = $2 AND name = $3",
            &[
                Val::text(s(0)),
                Val::text(s(1)),
                Val::text(s(2)),
                Val::text(enc),
            ],
        )
        .await?;
        report.credentials += 1;
    }
    let rows = tx
        .fetch(
            "SELECT connection, access_token_enc, refresh_token_enc FROM erp_tokens ORDER BY connection",
            &[],
        )
        .await?;
    for r in &rows {
        let s = |i: usize| r.get(i).and_then(Val::as_str).unwrap_or_default();
        let access = open(format!("jeton d'accès EBP de {}", s(0)), s(1))?;
        let refresh = open(format!("jeton de rafraîchissement EBP de {}", s(0)), s(2))?;
        tx.execute(
            "UPDATE erp_tokens SET access_token_enc = $2, refresh_token_enc = $3 WHERE connection = $1",
            &[Val::text(s(0)), Val::text(access), Val::text(refresh)],
        )
        .await?;
        report.token_pairs += 1;
    }
    tx.commit().await?;
    Ok(report)
}

/// Every stored secret's ciphertext (credentials, then both tokens of each pair): what a
/// rotation's caller verifies against the new key, and a test against the old one.
pub async fn stored_ciphertexts(db: &Db) -> Result<Vec<String>, DbError> {
    let mut out = Vec::new();
    for r in db.fetch("SELECT ciphertext FROM credentials", &[]).await? {
        out.extend(r.first().and_then(Val::as_str).map(str::to_string));
    }
    for r in db
        .fetch(
            "SELECT access_token_enc, refresh_token_enc FROM erp_tokens",
            &[],
        )
        .await?
    {
        out.extend(r.iter().filter_map(Val::as_str).map(str::to_string));
    }
    Ok(out)
}
