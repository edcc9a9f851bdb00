//! What the e-mail says: built from a run summary by a pure function, then turned into
//! a MIME message for lettre.

use super::{MailError, NotificationSettings, ValidatedRecipients};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// What a finished run tells the notification: labels are already in French and dates
/// already formatted in the account's time zone, so building the message needs no
/// clock and no locale.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSummary {
    /// Profile name.
    pub profile: String,
    /// Task label, e.g. `Import des commandes`.
    pub action_label: String,
    /// Outcome label, e.g. `réussi`, `en échec`, `arrêté`.
    pub status_label: String,
    /// Start date-time, formatted.
    pub started_at: String,
    /// End date-time, formatted.
    pub finished_at: String,
    /// Items seen by the run.
    pub total: i64,
    /// Items processed successfully.
    pub succeeded: i64,
    /// Items that failed.
    pub failed: i64,
    /// Items skipped (already transferred, status not selected, quota exhausted).
    pub ignored: i64,
    /// The run's detailed log, one line per entry, attached when `attach_log` is on.
    pub log_lines: Vec<String>,
}

/// One e-mail, independent of SMTP: what [`build_notification`] decides and
/// [`SmtpMailer::send`](super::SmtpMailer::send) delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Subject line (single line).
    pub subject: String,
    /// Plain-text body, `\n` line endings.
    pub body_text: String,
    /// Optional attachment: file name and content (sent as UTF-8 `text/plain`).
    pub attachment: Option<(String, Vec<u8>)>,
}

/// Builds the e-mail for a finished run.
///
/// The subject is `settings.subject` when not blank, else
/// `Passerelle – {action_label} – {profile} : {status_label}`; line breaks in it are
/// replaced by spaces (a subject is one header line). The body lists the profile, task,
/// status, dates and counts in French. With `attach_log`, the log lines go in
/// `journal-<profile>.txt` (characters other than letters, digits, `-`, `_` and `.`
/// replaced by `-`, so the name is a valid file name everywhere).
pub fn build_notification(settings: &NotificationSettings, summary: &RunSummary) -> Notification {
    let subject = if settings.subject.trim().is_empty() {
        format!(
            "Passerelle – {} – {} : {}",
            summary.action_label, summary.profile, summary.status_label
        )
    } else {
        settings.subject.trim().to_string()
    };
    let subject = one_line(&subject);

    let attachment = settings.attach_log.then(|| {
        let mut log = summary.log_lines.join("\n");
        if !log.is_empty() {
            log.push('\n');
        }
        (log_file_name(&summary.profile), log.into_bytes())
    });

    let mut body = format!(
        "Profil : {}\n\
         Tâche : {}\n\
         Statut : {}\n\
         Début : {}\n\
         Fin : {}\n\
         Éléments : {} au total, {} réussi(s), {} en échec, {} ignoré(s)\n",
        summary.profile,
        summary.action_label,
        summary.status_label,
        summary.started_at,
        summary.finished_at,
        summary.total,
        summary.succeeded,
        summary.failed,
        summary.ignored,
    );
    if let Some((name, _)) = &attachment {
        body.push_str(&format!("\nLe journal détaillé est joint ({name}).\n"));
    }
    body.push_str("\n-- \nMessage automatique envoyé par Passerelle.\n");

    Notification {
        subject,
        body_text: body,
        attachment,
    }
}

/// Turns a [`Notification`] into a MIME message: a plain-text part, plus the
/// attachment (base64, `text/plain; charset=utf-8`) when there is one.
pub(crate) fn to_message(
    from: Mailbox,
    recipients: &ValidatedRecipients,
    notification: &Notification,
) -> Result<Message, MailError> {
    let mut builder = Message::builder()
        .from(from)
        .subject(notification.subject.clone())
        .user_agent(concat!("passerelle/", env!("CARGO_PKG_VERSION")).to_string());
    for mailbox in recipients.mailboxes() {
        builder = builder.to(mailbox.clone());
    }
    let text = SinglePart::plain(notification.body_text.clone());
    let built = match &notification.attachment {
        None => builder.singlepart(text),
        Some((name, bytes)) => {
            // `Vec<u8>` bodies are always base64: log lines may be long and contain any
            // UTF-8, and base64 survives every relay.
            let file = Attachment::new(name.clone()).body(bytes.clone(), ContentType::TEXT_PLAIN);
            builder.multipart(MultiPart::mixed().singlepart(text).singlepart(file))
        }
    };
    built.map_err(|e| MailError::Build {
        reason: e.to_string(),
    })
}

fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn log_file_name(profile: &str) -> String {
    let safe: String = profile
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("journal-{safe}.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RunSummary {
        RunSummary {
            profile: "boutique-paris".into(),
            action_label: "Import des commandes".into(),
            status_label: "en échec".into(),
            started_at: "2024-09-09 17:06:40".into(),
            finished_at: "2024-09-09 17:06:45".into(),
            total: 6,
            succeeded: 5,
            failed: 1,
            ignored: 0,
            log_lines: vec![
                "2024-09-09 17:06:45 -> Sale document 78 is valid".into(),
                "1/4 - Customer id: 651, account = CL00004".into(),
            ],
        }
    }

    #[test]
    fn default_subject_and_french_counts() {
        let n = build_notification(&NotificationSettings::default(), &summary());
        assert_eq!(
            n.subject,
            "Passerelle – Import des commandes – boutique-paris : en échec"
        );
        assert!(n
            .body_text
            .contains("Éléments : 6 au total, 5 réussi(s), 1 en échec, 0 ignoré(s)\n"));
        assert!(n.body_text.contains("Profil : boutique-paris\n"));
        assert!(n.body_text.contains("Début : 2024-09-09 17:06:40\n"));
        assert!(n.body_text.contains("Fin : 2024-09-09 17:06:45\n"));
        assert_eq!(n.attachment, None);
        assert!(!n.body_text.contains("journal"));
    }

    #[test]
    fn custom_subject_is_trimmed_and_kept_on_one_line() {
        let settings = NotificationSettings {
            subject: "  Rapport\r\nBcc: intrus@example.fr ".into(),
            ..NotificationSettings::default()
        };
        let n = build_notification(&settings, &summary());
        assert_eq!(n.subject, "Rapport Bcc: intrus@example.fr");
    }

    #[test]
    fn blank_subject_means_default() {
        let settings = NotificationSettings {
            subject: "   ".into(),
            ..NotificationSettings::default()
        };
        assert!(build_notification(&settings, &summary())
            .subject
            .starts_with("Passerelle – "));
    }

    #[test]
    fn attach_log_adds_the_log_as_utf8_text() {
        let settings = NotificationSettings {
            attach_log: true,
            ..NotificationSettings::default()
        };
        let n = build_notification(&settings, &summary());
        let (name, bytes) = n.attachment.expect("attachment");
        assert_eq!(name, "journal-boutique-paris.txt");
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            "2024-09-09 17:06:45 -> Sale document 78 is valid\n\
             1/4 - Customer id: 651, account = CL00004\n"
        );
        assert!(n
            .body_text
            .contains("Le journal détaillé est joint (journal-boutique-paris.txt)."));
    }

    #[test]
    fn log_file_name_is_safe() {
        assert_eq!(
            log_file_name("Boutique/Paris 1"),
            "journal-Boutique-Paris-1.txt"
        );
        assert_eq!(log_file_name("Été_2024.v2"), "journal-Été_2024.v2.txt");
    }

    #[test]
    fn mime_message_has_every_recipient_and_the_attachment() {
        let settings = NotificationSettings {
            recipients: "a@example.fr; b@example.fr".into(),
            attach_log: true,
            ..NotificationSettings::default()
        };
        let recipients = settings.validate().expect("valid");
        let n = build_notification(&settings, &summary());
        let from: Mailbox = "Passerelle <noreply@example.fr>".parse().expect("from");
        let message = to_message(from, &recipients, &n).expect("message");
        let raw = String::from_utf8(message.formatted()).expect("ascii");
        assert!(raw.contains("To: a@example.fr, b@example.fr\r\n"), "{raw}");
        assert!(
            raw.contains("From: Passerelle <noreply@example.fr>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Content-Type: multipart/mixed;"), "{raw}");
        assert!(
            raw.contains(
                "Content-Disposition: attachment; filename=\"journal-boutique-paris.txt\""
            ),
            "{raw}"
        );
        assert_eq!(
            message.envelope().to().len(),
            2,
            "the envelope carries every recipient"
        );
    }
}
