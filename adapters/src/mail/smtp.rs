//! Delivery over SMTP with lettre.

use super::message::to_message;
use super::{MailError, Notification, NotificationSettings, TlsMode, ValidatedRecipients};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;
use tracing::instrument;

/// Sends notifications through the SMTP server named in each profile's settings.
///
/// A transport is built per e-mail and shut down right after: notifications are rare
/// (at most one per run) and every profile has its own server, so a long-lived pool
/// would only keep idle connections open on customers' servers.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    timeout: Duration,
}

impl Default for SmtpMailer {
    fn default() -> Self {
        Self::new()
    }
}

impl SmtpMailer {
    /// A mailer giving each delivery 30 s.
    pub fn new() -> Self {
        Self::with_timeout(Duration::from_secs(30))
    }

    /// A mailer giving each delivery `timeout`: for connecting, and again for the
    /// whole SMTP dialogue (greeting to the reply after `DATA`). Running out of time
    /// is a transient failure.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// Delivers `notification` to `recipients` through the server of `settings`.
    ///
    /// Returns once the server has accepted the message (`250` after `DATA`). Failures
    /// are classified once (see [`MailError`]): transient ones (connection refused,
    /// timeout, 4xx reply) are worth retrying later, permanent ones (5xx reply,
    /// authentication or TLS refused, invalid sender) are not. The password never
    /// appears in the error nor in the trace.
    #[instrument(
        skip_all,
        fields(host = %settings.smtp_host, port = settings.smtp_port, recipients = recipients.len()),
        err
    )]
    pub async fn send(
        &self,
        settings: &NotificationSettings,
        recipients: &ValidatedRecipients,
        notification: &Notification,
    ) -> Result<(), MailError> {
        if recipients.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let host = settings.smtp_host.trim();
        if host.is_empty() {
            return Err(MailError::MissingHost);
        }
        let message = to_message(settings.sender()?, recipients, notification)?;
        let password = settings.smtp_password.as_ref().map(|p| p.expose());

        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_parameters(host, password)?),
            TlsMode::Tls => Tls::Wrapper(tls_parameters(host, password)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.smtp_port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some(user) = settings
            .smtp_user
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            if settings.tls == TlsMode::None {
                tracing::warn!("SMTP credentials sent without TLS");
            }
            builder = builder.credentials(Credentials::new(
                user.to_string(),
                password.unwrap_or_default().to_string(),
            ));
        }
        let transport = builder.build();

        // lettre's own timeout only covers connecting: a server that accepts the
        // connection and then stays silent would hold the run forever.
        let outcome = tokio::time::timeout(self.timeout, transport.send(message)).await;
        // Close the connection (QUIT) now rather than when the pool's idle timer fires;
        // bounded too, for the same silent server.
        let _ = tokio::time::timeout(self.timeout, transport.shutdown()).await;
        let sent = if matches!(outcome, Ok(Ok(_))) {
            "sent"
        } else {
            "failed"
        };
        metrics::counter!("passerelle_smtp_sends_total", "outcome" => sent).increment(1);
        match outcome {
            Ok(Ok(response)) => {
                tracing::debug!(code = %response.code(), "notification accepted");
                Ok(())
            }
            Ok(Err(e)) => Err(MailError::from_smtp(&e, password)),
            Err(_elapsed) => Err(MailError::Transient {
                reason: format!(
                    "pas de réponse du serveur SMTP en {} ms (timed out)",
                    self.timeout.as_millis()
                ),
            }),
        }
    }
}

fn tls_parameters(host: &str, password: Option<&str>) -> Result<TlsParameters, MailError> {
    TlsParameters::new(host.to_string()).map_err(|e| MailError::from_smtp(&e, password))
}
