//! Errors of the e-mail adapter, classified once (STYLE §6–7).
//!
//! Messages are French first with the English in parentheses, like the rest of the
//! journal. None of them ever carries the SMTP password: server replies are scrubbed
//! by [`scrub`] before they are stored in an error.

use thiserror::Error;

/// Why a notification could not be validated or delivered.
///
/// Callers branch on [`MailError::is_transient`]: transient failures are retried later
/// with the run's retry policy, everything else is permanent and is reported once (in
/// the run journal and, for settings, to the user editing them) without retrying.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MailError {
    /// A recipient of the `;`-separated list is not an e-mail address.
    /// Permanent: refuse to save the settings and show the address to the user.
    #[error("adresse e-mail invalide : « {address} » (invalid e-mail address)")]
    InvalidAddress {
        /// The entry as typed (trimmed).
        address: String,
    },

    /// The sender (`from`) is empty or not an e-mail address while notifications are on.
    /// Permanent: refuse to save the settings.
    #[error("adresse d'expéditeur invalide : « {address} » (invalid sender address)")]
    InvalidSender {
        /// The sender as typed (trimmed).
        address: String,
    },

    /// A notification switch is on but the recipient list is empty.
    /// Permanent: refuse to save the settings.
    #[error(
        "aucun destinataire alors qu'une notification est activée \
         (no recipient while a notification is enabled)"
    )]
    NoRecipients,

    /// The SMTP server name is empty while notifications are on.
    /// Permanent: refuse to save the settings.
    #[error("serveur SMTP non renseigné (SMTP host missing)")]
    MissingHost,

    /// The message could not be built (e.g. an attachment name the MIME builder refuses).
    /// Permanent: a bug or bad data; report it, do not retry.
    #[error("message impossible à construire : {reason} (message could not be built)")]
    Build {
        /// What the builder reported.
        reason: String,
    },

    /// The server could not be reached or answered with a 4xx reply: connection
    /// refused, timeout, network error, greylisting, mailbox temporarily unavailable.
    /// Transient: retry later (with back-off); the settings may well be right.
    #[error("envoi momentanément impossible : {reason} (temporary failure, retry later)")]
    Transient {
        /// What went wrong, password scrubbed.
        reason: String,
    },

    /// The server refused for good (5xx reply: unknown mailbox, authentication failed,
    /// relay denied), or TLS/authentication could not be set up with these settings.
    /// Permanent: report it in the journal and do not retry until the settings change.
    #[error("envoi refusé : {reason} (permanent failure)")]
    Permanent {
        /// What went wrong, password scrubbed.
        reason: String,
    },
}

impl MailError {
    /// `true` when retrying later may succeed ([`MailError::Transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// Classifies a lettre SMTP error, scrubbing `password` from its text.
    ///
    /// 5xx replies, client-side errors (no usable authentication mechanism), bad TLS
    /// parameters and failed TLS handshakes (invalid certificate, TLS spoken to a
    /// plain-text port) are permanent: retrying with the same settings would fail the
    /// same way. Everything else — 4xx replies, refused or reset connections, timeouts,
    /// name resolution, unreadable replies — is transient.
    pub(crate) fn from_smtp(err: &lettre::transport::smtp::Error, password: Option<&str>) -> Self {
        let reason = scrub(&err.to_string(), password);
        if err.is_permanent() || err.is_client() || err.is_tls() || tls_handshake_failed(err) {
            Self::Permanent { reason }
        } else {
            Self::Transient { reason }
        }
    }
}

/// lettre reports a failed TLS handshake as a connection error whose source is the
/// `io::Error` of tokio-rustls, of kind `InvalidData`; plain network failures have
/// other kinds (refused, reset, timed out).
fn tls_handshake_failed(err: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::InvalidData;
        }
        source = e.source();
    }
    false
}

/// Replaces every occurrence of `password` in `text` by `***`.
///
/// lettre's errors carry the server's reply; a misbehaving server could echo what it
/// received, so the text is scrubbed before it can reach a log or the journal.
pub(crate) fn scrub(text: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_the_password_only_when_there_is_one() {
        assert_eq!(
            scrub("535 bad credentials hunter2", Some("hunter2")),
            "535 bad credentials ***"
        );
        assert_eq!(
            scrub("535 bad credentials", Some("")),
            "535 bad credentials"
        );
        assert_eq!(scrub("535 bad credentials", None), "535 bad credentials");
    }

    #[test]
    fn messages_are_french_then_english() {
        let e = MailError::InvalidAddress {
            address: "bob@".into(),
        };
        assert_eq!(
            e.to_string(),
            "adresse e-mail invalide : « bob@ » (invalid e-mail address)"
        );
        assert!(!e.is_transient());
        assert!(MailError::Transient { reason: "x".into() }.is_transient());
    }
}
