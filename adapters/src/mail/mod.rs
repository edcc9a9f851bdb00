//! E-mail notifications after a task run (spec §3.6).
//!
//! The flow is split so that only the last step does IO (STYLE §3):
//!
//! 1. [`NotificationSettings::validate`] checks the profile's settings once, when they are
//!    saved and again before sending, and yields [`ValidatedRecipients`].
//! 2. [`should_send`] tells, for a [`NotifyOn`] event of the finished run, whether the
//!    profile wants an e-mail.
//! 3. [`build_notification`] turns a [`RunSummary`] into a [`Notification`] (subject,
//!    French body, optional log attachment). Pure: no clock, no IO.
//! 4. [`SmtpMailer::send`] delivers it with lettre and classifies failures once into
//!    [`MailError`] (transient → retry later, permanent → report and stop).
//!
//! The SMTP password is a [`Secret`]: it prints as `***` and is scrubbed from every
//! error text, so it can reach neither logs nor the journal.

mod error;
mod message;
mod settings;
mod smtp;

pub use error::MailError;
pub use message::{build_notification, Notification, RunSummary};
pub use settings::{should_send, NotificationSettings, NotifyOn, TlsMode, ValidatedRecipients};
pub use smtp::SmtpMailer;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret value (SMTP password) whose `Debug` and `Display` print `***` (STYLE §17).
///
/// Serde reads and writes the clear value, because profile settings are persisted and
/// read back; never serialize settings into a log line or an error message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a clear value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear value, for the one place that needs it (SMTP authentication).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prints_stars_but_round_trips_through_serde() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2");
        let json = serde_json::to_string(&s).expect("serialize");
        assert_eq!(json, "\"hunter2\"");
        let back: Secret = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, s);
    }
}
