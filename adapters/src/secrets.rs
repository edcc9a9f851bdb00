//! Secrets at rest (DESIGN §6 `secrets/`): OAuth tokens and passwords stored in the
//! database are encrypted with AES-256-GCM under one master key, so a database dump or a
//! backup alone reveals nothing.
//!
//! * Format: `v1:` + base64(nonce ‖ ciphertext‖tag), with a fresh random 96-bit nonce per
//!   encryption (GCM must never reuse a nonce under one key; 2^32 encryptions under one key
//!   keep the collision risk negligible, far beyond our volume). The `v1` prefix leaves
//!   room for a key rotation or another scheme later.
//! * Key: `PASSERELLE_MASTER_KEY` (base64 of 32 bytes, or 64 hex digits) when set —
//!   hosted deployments pass it from their secret manager; otherwise a key file, created
//!   on first use with mode 0600 and 32 random bytes (base64), which suits the embedded
//!   single-machine setup. Losing the key loses the stored secrets (connections must be
//!   re-authorised), so the key file belongs in backups kept apart from the database.
//! * Clear values come back as [`Secret`] (the crate's one masked type, shared with the
//!   SMTP password of [`crate::mail`]): `Debug`/`Display` print `***`. No error of this
//!   module contains a clear value or key material.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore as _;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use crate::mail::Secret;

/// The environment variable holding the master key (base64 of 32 bytes, or 64 hex digits).
pub const MASTER_KEY_ENV: &str = "PASSERELLE_MASTER_KEY";

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a key could not be loaded or a value decrypted. Never carries clear text or key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The master key (variable or file) is malformed. Refuse to start: fix the
    /// configuration (a wrong key would make every stored secret unreadable).
    #[error("clé maîtresse invalide ({source_name}) : {reason}")]
    InvalidKey {
        /// Where the key came from (variable name or file path).
        source_name: String,
        /// What is wrong with it (length, encoding), never the key itself.
        reason: String,
    },
    /// The key file could not be read or created. Refuse to start: fix the path or its
    /// permissions.
    #[error("fichier de clé maîtresse {path} inaccessible : {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The IO error.
        reason: String,
    },
    /// The stored value is not in a known format (not `v1:`, bad base64, too short).
    /// Permanent: the value was not written by this module or was truncated.
    #[error("secret chiffré illisible (format inconnu ou tronqué)")]
    Malformed,
    /// Authentication failed: the value was encrypted under another key, or altered.
    /// Permanent: check the master key; otherwise the secret must be entered again.
    #[error("secret chiffré invalide : mauvaise clé maîtresse ou données altérées")]
    Undecryptable,
}

/// Encrypts and decrypts secrets under the master key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A box over a raw 32-byte key.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// The key `key` when given (and not empty: the binary's `secrets.master_key`, from
    /// `PASSERELLE_MASTER_KEY`), otherwise from the key file at `path`, which is created
    /// (mode 0600, 32 random bytes in base64) when missing.
    pub fn from_key_or_file(key: Option<&str>, path: &Path) -> Result<Self, SecretError> {
        Self::from_sources(key, path)
    }

    /// A box over a key given as text (64 hex digits or base64), e.g. a rotation's new key.
    pub fn from_text(text: &str, source_name: &str) -> Result<Self, SecretError> {
        parse_key(text, source_name).map(Self::from_key)
    }

    /// A new random key, as the text a key file holds (base64 of 32 bytes).
    pub fn generate_key_text() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        B64.encode(key)
    }

    fn from_sources(env: Option<&str>, path: &Path) -> Result<Self, SecretError> {
        if let Some(text) = env.filter(|t| !t.trim().is_empty()) {
            return parse_key(text, MASTER_KEY_ENV).map(Self::from_key);
        }
        let text = read_or_create_key_file(path)?;
        parse_key(&text, &path.display().to_string()).map(Self::from_key)
    }

    /// Encrypts `clear` with a fresh random nonce: `v1:` + base64(nonce ‖ ciphertext).
    pub fn encrypt(&self, clear: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), clear.as_bytes())
            // AES-GCM only refuses plaintexts above 64 GiB, which no `&str` here reaches.
            .expect("AES-GCM encrypts any plaintext below 64 GiB");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Decrypts a value produced by [`Self::encrypt`] under the same key.
    pub fn decrypt(&self, stored: &str) -> Result<Secret, SecretError> {
        let body = stored.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let raw = B64.decode(body).map_err(|_| SecretError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let clear = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(clear)
            .map(Secret::new)
            .map_err(|_| SecretError::Malformed)
    }
}

/// A 32-byte key from 64 hex digits or base64 (surrounding whitespace ignored).
fn parse_key(text: &str, source_name: &str) -> Result<[u8; 32], SecretError> {
    let text = text.trim();
    let invalid = |reason: &str| SecretError::InvalidKey {
        source_name: source_name.to_string(),
        reason: reason.to_string(),
    };
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid("hexadécimal invalide"))?
    } else {
        B64.decode(text)
            .map_err(|_| invalid("ni 64 chiffres hexadécimaux ni base64"))?
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| invalid(&format!("{} octets au lieu de 32", b.len())))
}

/// Reads the key file, creating it first when missing. Creation writes a temporary file
/// (mode 0600) and hard-links it into place, so two processes starting together never see
/// a half-written key and never overwrite each other's: the loser reads the winner's key.
fn read_or_create_key_file(path: &Path) -> Result<String, SecretError> {
    let io_err = |e: std::io::Error| SecretError::KeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            return Ok(text);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let text = format!("{}\n", B64.encode(key));
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "clé maîtresse créée");
            Ok(text)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map_err(io_err)
        }
        Err(e) => Err(io_err(e)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "le fichier de clé maîtresse est lisible par d'autres utilisateurs (chmod 600 conseillé)"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn boxed(k: u8) -> SecretBox {
        SecretBox::from_key([k; 32])
    }

    #[test]
    fn round_trip() {
        let b = boxed(1);
        let enc = b.encrypt("refresh-tok-éà");
        assert!(enc.starts_with("v1:"));
        assert!(!enc.contains("refresh-tok"));
        assert_eq!(b.decrypt(&enc).unwrap().expose(), "refresh-tok-éà");
        assert_eq!(b.decrypt(&b.encrypt("")).unwrap().expose(), "");
    }

    #[test]
    fn nonce_differs_between_two_encryptions_of_the_same_text() {
        let b = boxed(1);
        let (x, y) = (b.encrypt("same"), b.encrypt("same"));
        assert_ne!(x, y);
        let nonce = |s: &str| B64.decode(&s[3..]).unwrap()[..NONCE_LEN].to_vec();
        assert_ne!(nonce(&x), nonce(&y));
    }

    #[test]
    fn tampering_is_detected() {
        let b = boxed(1);
        let enc = b.encrypt("hunter2");
        let mut raw = B64.decode(&enc[3..]).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 0x01;
            let tampered = format!("v1:{}", B64.encode(&raw));
            assert!(matches!(
                b.decrypt(&tampered),
                Err(SecretError::Undecryptable)
            ));
            raw[i] ^= 0x01;
        }
        assert!(matches!(b.decrypt("hunter2"), Err(SecretError::Malformed)));
        assert!(matches!(b.decrypt("v1:%%%"), Err(SecretError::Malformed)));
        assert!(matches!(b.decrypt("v1:AAAA"), Err(SecretError::Malformed)));
        assert!(matches!(
            b.decrypt(&enc[..enc.len() - 4]),
            Err(SecretError::Malformed | SecretError::Undecryptable)
        ));
    }

    #[test]
    fn wrong_key_is_refused_without_leaking() {
        let enc = boxed(1).encrypt("hunter2");
        let err = boxed(2).decrypt(&enc).unwrap_err();
        assert!(matches!(err, SecretError::Undecryptable));
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn debug_and_display_mask() {
        let b = boxed(1);
        let s = b.decrypt(&b.encrypt("hunter2")).unwrap();
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{b:?}"), "SecretBox(***)");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_bad_keys_are_refused_without_echo() {
        let hex = "00".repeat(31) + "ff";
        let mut want = [0u8; 32];
        want[31] = 0xff;
        assert_eq!(parse_key(&hex, "t").unwrap(), want);
        assert_eq!(
            parse_key(&format!(" {} \n", B64.encode(want)), "t").unwrap(),
            want
        );
        let short = B64.encode([9u8; 16]);
        let err = parse_key(&short, "t").unwrap_err().to_string();
        assert!(err.contains("16 octets"), "{err}");
        assert!(!err.contains(&short));
        assert!(parse_key("not a key!", "t").is_err());
    }

    #[test]
    fn key_file_is_created_once_with_owner_only_permissions_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("master.key");
        let a = SecretBox::from_sources(None, &path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Same file, same key.
        let b = SecretBox::from_sources(Some("  "), &path).unwrap();
        assert_eq!(b.decrypt(&a.encrypt("x")).unwrap().expose(), "x");
        // The variable takes precedence over the file.
        let env_key = "11".repeat(32);
        let c = SecretBox::from_sources(Some(&env_key), &path).unwrap();
        assert!(c.decrypt(&a.encrypt("x")).is_err());
        assert_eq!(c.decrypt(&boxed(0x11).encrypt("y")).unwrap().expose(), "y");
        // No leftover temporary file.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
