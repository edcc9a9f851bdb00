//! Per-profile notification settings (spec §3.6) and their validation.

use super::{MailError, Secret};
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text, no encryption (local relays, tests). Credentials, if any, travel in
    /// clear, so a warning is logged when they are used this way.
    None,
    /// Plain connection upgraded with `STARTTLS` (usually port 587). Required, not
    /// opportunistic: a server that does not offer it is refused, so the password is
    /// never sent in clear by surprise.
    #[default]
    StartTls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

/// E-mail notification settings of one profile (spec §3.6).
///
/// Missing fields take their [`Default`] (port 587, STARTTLS, every switch off), so
/// older stored settings keep loading when a field is added. `Debug` never shows the
/// password (it is a [`Secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// SMTP server name or IP address.
    pub smtp_host: String,
    /// SMTP server port (587 for STARTTLS, 465 for TLS, 25 for plain relays).
    pub smtp_port: u16,
    /// Login for SMTP authentication; `None` or empty: no authentication.
    pub smtp_user: Option<String>,
    /// Password for SMTP authentication, used only together with `smtp_user`.
    pub smtp_password: Option<Secret>,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// Sender, `noreply@example.fr` or `Passerelle <noreply@example.fr>`.
    pub from: String,
    /// Subject of the e-mails; empty means the default
    /// `Passerelle – {action} – {profile} : {status}`.
    pub subject: String,
    /// Recipients separated by `;` (spaces and empty entries are ignored).
    pub recipients: String,
    /// Send after a run that created orders in the ERP.
    pub after_orders_created: bool,
    /// Send after a run that created quotes in the ERP.
    pub after_quotes_created: bool,
    /// Send when a task run succeeded.
    pub on_success: bool,
    /// Send when a task run failed.
    pub on_failure: bool,
    /// Attach the run's detailed log as `journal-<profile>.txt`. Only shapes the
    /// message: on its own it sends nothing.
    pub attach_log: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_user: None,
            smtp_password: None,
            tls: TlsMode::default(),
            from: String::new(),
            subject: String::new(),
            recipients: String::new(),
            after_orders_created: false,
            after_quotes_created: false,
            on_success: false,
            on_failure: false,
            attach_log: false,
        }
    }
}

/// Recipients that passed [`NotificationSettings::validate`]: parsed, trimmed,
/// without duplicates, in the order typed. Only `validate` builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedRecipients {
    to: Vec<Mailbox>,
}

impl ValidatedRecipients {
    /// The recipients, in the order typed.
    pub fn mailboxes(&self) -> &[Mailbox] {
        &self.to
    }

    /// Number of recipients.
    pub fn len(&self) -> usize {
        self.to.len()
    }

    /// `true` when there is no recipient (allowed only while every switch is off).
    pub fn is_empty(&self) -> bool {
        self.to.is_empty()
    }
}

/// An event of a finished run that may trigger an e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOn {
    /// The run created orders in the ERP.
    OrdersCreated,
    /// The run created quotes in the ERP.
    QuotesCreated,
    /// The run succeeded.
    Succeeded,
    /// The run failed.
    Failed,
}

/// Whether `settings` ask for an e-mail on `event`.
///
/// A run may raise several events (it succeeded *and* created orders); the caller sends
/// one e-mail if any of them answers `true`.
pub fn should_send(settings: &NotificationSettings, event: NotifyOn) -> bool {
    match event {
        NotifyOn::OrdersCreated => settings.after_orders_created,
        NotifyOn::QuotesCreated => settings.after_quotes_created,
        NotifyOn::Succeeded => settings.on_success,
        NotifyOn::Failed => settings.on_failure,
    }
}

impl NotificationSettings {
    /// `true` when at least one switch can trigger an e-mail (`attach_log` cannot).
    pub fn any_enabled(&self) -> bool {
        self.after_orders_created || self.after_quotes_created || self.on_success || self.on_failure
    }

    /// Checks the settings and parses the recipients.
    ///
    /// Every entry of `recipients` must be an address (invalid ones are named in the
    /// error) and a non-empty `from` must be one too. While any switch is on, the list,
    /// the sender and the SMTP host must not be empty. Call it when the settings are
    /// saved (to refuse them) and before sending.
    pub fn validate(&self) -> Result<ValidatedRecipients, MailError> {
        let mut to: Vec<Mailbox> = Vec::new();
        for entry in self
            .recipients
            .split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let mailbox = parse_mailbox(entry).ok_or_else(|| MailError::InvalidAddress {
                address: entry.to_string(),
            })?;
            let email: &str = mailbox.email.as_ref();
            let duplicate = to
                .iter()
                .any(|m| email.eq_ignore_ascii_case(m.email.as_ref()));
            if !duplicate {
                to.push(mailbox);
            }
        }
        let from = self.from.trim();
        if !from.is_empty() {
            self.sender()?;
        }
        if self.any_enabled() {
            if to.is_empty() {
                return Err(MailError::NoRecipients);
            }
            if from.is_empty() {
                return Err(MailError::InvalidSender {
                    address: String::new(),
                });
            }
            if self.smtp_host.trim().is_empty() {
                return Err(MailError::MissingHost);
            }
        }
        Ok(ValidatedRecipients { to })
    }

    /// The parsed sender.
    pub(crate) fn sender(&self) -> Result<Mailbox, MailError> {
        let from = self.from.trim();
        parse_mailbox(from).ok_or_else(|| MailError::InvalidSender {
            address: from.to_string(),
        })
    }
}

/// Parses `a@b.fr` or `Name <a@b.fr>`; `None` when it is not an address.
fn parse_mailbox(entry: &str) -> Option<Mailbox> {
    entry.parse::<Mailbox>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(recipients: &str) -> NotificationSettings {
        NotificationSettings {
            smtp_host: "smtp.example.fr".into(),
            from: "Passerelle <noreply@example.fr>".into(),
            recipients: recipients.into(),
            on_failure: true,
            ..NotificationSettings::default()
        }
    }

    fn emails(r: &ValidatedRecipients) -> Vec<String> {
        r.mailboxes().iter().map(|m| m.email.to_string()).collect()
    }

    #[test]
    fn recipients_are_trimmed_empty_entries_skipped_duplicates_dropped() {
        let r = settings(" alice@example.fr ;; Bob <bob@example.fr>; ;ALICE@example.fr;")
            .validate()
            .expect("valid");
        assert_eq!(emails(&r), ["alice@example.fr", "bob@example.fr"]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn an_invalid_recipient_is_named_in_french_then_english() {
        let err = settings("alice@example.fr; bob@ ;carol@example.fr")
            .validate()
            .expect_err("bob@ is not an address");
        assert_eq!(
            err,
            MailError::InvalidAddress {
                address: "bob@".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "adresse e-mail invalide : « bob@ » (invalid e-mail address)"
        );
    }

    #[test]
    fn a_comma_separated_list_is_refused_as_one_bad_entry() {
        let err = settings("a@example.fr, b@example.fr")
            .validate()
            .expect_err("comma");
        assert_eq!(
            err,
            MailError::InvalidAddress {
                address: "a@example.fr, b@example.fr".into()
            }
        );
    }

    #[test]
    fn an_empty_list_is_refused_only_when_a_switch_is_on() {
        assert_eq!(settings(" ; ").validate(), Err(MailError::NoRecipients));

        let off = NotificationSettings {
            on_failure: false,
            attach_log: true,
            ..settings("")
        };
        assert!(off.validate().expect("nothing to send").is_empty());
    }

    #[test]
    fn each_sending_switch_requires_recipients() {
        for set in [
            |s: &mut NotificationSettings| s.after_orders_created = true,
            |s: &mut NotificationSettings| s.after_quotes_created = true,
            |s: &mut NotificationSettings| s.on_success = true,
            |s: &mut NotificationSettings| s.on_failure = true,
        ] {
            let mut s = NotificationSettings {
                on_failure: false,
                ..settings("")
            };
            set(&mut s);
            assert_eq!(s.validate(), Err(MailError::NoRecipients));
        }
    }

    #[test]
    fn sender_and_host_are_checked() {
        let bad_from = NotificationSettings {
            from: "noreply".into(),
            ..settings("a@example.fr")
        };
        assert_eq!(
            bad_from.validate(),
            Err(MailError::InvalidSender {
                address: "noreply".into()
            })
        );

        let no_from = NotificationSettings {
            from: " ".into(),
            ..settings("a@example.fr")
        };
        assert!(matches!(
            no_from.validate(),
            Err(MailError::InvalidSender { .. })
        ));

        let no_host = NotificationSettings {
            smtp_host: String::new(),
            ..settings("a@example.fr")
        };
        assert_eq!(no_host.validate(), Err(MailError::MissingHost));
    }

    #[test]
    fn should_send_follows_each_switch() {
        let none = NotificationSettings::default();
        for event in [
            NotifyOn::OrdersCreated,
            NotifyOn::QuotesCreated,
            NotifyOn::Succeeded,
            NotifyOn::Failed,
        ] {
            assert!(!should_send(&none, event));
        }
        let s = NotificationSettings {
            after_quotes_created: true,
            on_failure: true,
            ..NotificationSettings::default()
        };
        assert!(!should_send(&s, NotifyOn::OrdersCreated));
        assert!(should_send(&s, NotifyOn::QuotesCreated));
        assert!(!should_send(&s, NotifyOn::Succeeded));
        assert!(should_send(&s, NotifyOn::Failed));
    }

    #[test]
    fn serde_defaults_fill_missing_fields_and_debug_hides_the_password() {
        let s: NotificationSettings = serde_json::from_str(
            r#"{"smtp_host":"smtp.example.fr","smtp_password":"hunter2","tls":"tls"}"#,
        )
        .expect("deserialize");
        assert_eq!(s.smtp_port, 587);
        assert_eq!(s.tls, TlsMode::Tls);
        assert!(!s.any_enabled());
        assert_eq!(
            s.smtp_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("***"), "{debug}");

        let json = serde_json::to_value(&s).expect("serialize");
        assert_eq!(json["tls"], "tls");
        assert_eq!(
            serde_json::to_value(TlsMode::StartTls).expect("serialize"),
            "starttls"
        );
    }
}
