//! End-of-run e-mail notifications: per-profile settings and the [`Notifier`] the workers
//! call from their journaled `notify` step (so an e-mail is retried like any step and never
//! sent twice for one run).

use anyhow::Context;
use async_trait::async_trait;
use passerelle_adapters::mail::{
    build_notification, should_send, MailError, NotificationSettings, NotifyOn, RunSummary, Secret,
    SmtpMailer,
};
use passerelle_adapters::store::{Db, SqlRunStore, Val};
use passerelle_domain::{AccountId, ProfileId, RunStatus, SyncAction};
use passerelle_workflows::engine::{log::render_log, StepError};
use passerelle_workflows::ports::{Notifier, RunEnd};
use std::sync::Arc;

/// Reads a profile's settings (`None` when none were saved).
pub async fn load_settings(
    db: &Db,
    account: &AccountId,
    profile: &ProfileId,
) -> anyhow::Result<Option<NotificationSettings>> {
    let rows = db
        .fetch(
            "SELECT settings_json FROM profile_notifications WHERE account_id = $1 AND profile_id = $2",
            &[Val::text(account.as_str()), Val::text(profile.as_str())],
        )
        .await?;
    match rows.first().and_then(|r| r[0].as_str()) {
        Some(json) => Ok(Some(
            serde_json::from_str(json).context("réglages de notification illisibles")?,
        )),
        None => Ok(None),
    }
}

/// Why settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Refused (bad address, missing host…): tell the user, naming the bad value.
    #[error(transparent)]
    Invalid(#[from] MailError),
    /// Database failure.
    #[error("base de données : {0}")]
    Db(#[from] passerelle_adapters::store::DbError),
}

/// Validates and saves a profile's settings. The password is never stored.
pub async fn save_settings(
    db: &Db,
    account: &AccountId,
    profile: &ProfileId,
    mut settings: NotificationSettings,
    actor: &str,
) -> Result<(), SaveError> {
    settings.validate()?;
    settings.smtp_password = None;
    let json = serde_json::to_string(&settings).unwrap_or_default();
    db.execute(
        "INSERT INTO profile_notifications (account_id, profile_id, settings_json, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account_id, profile_id) DO UPDATE SET settings_json = excluded.settings_json, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        &[
            Val::text(account.as_str()),
            Val::text(profile.as_str()),
            Val::text(json),
            Val::text(actor),
            Val::text(chrono::Utc::now().to_rfc3339()),
        ],
    )
    .await?;
    Ok(())
}

/// The e-mail notifier.
pub struct MailNotifier {
    db: Db,
    store: Arc<SqlRunStore>,
    mailer: SmtpMailer,
    smtp_password: Option<Secret>,
}

impl MailNotifier {
    /// A notifier reading settings from `db`.
    pub fn new(db: Db, store: Arc<SqlRunStore>) -> Self {
        Self {
            db,
            store,
            mailer: SmtpMailer::new(),
            smtp_password: None,
        }
    }

    /// The SMTP password (setting `smtp.password`) for notification settings that name an
    /// SMTP user; it is never stored in the database.
    pub fn with_smtp_password(mut self, password: Option<Secret>) -> Self {
        self.smtp_password = password;
        self
    }
}

fn status_label(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Succeeded => "réussie",
        RunStatus::Failed => "en échec",
        RunStatus::Stopped => "arrêtée",
        other => other.label_fr(),
    }
}

/// The events of a finished run that may ask for an e-mail.
pub fn events_of(end: &RunEnd) -> Vec<NotifyOn> {
    let mut v = Vec::new();
    match end.status {
        RunStatus::Succeeded => v.push(NotifyOn::Succeeded),
        RunStatus::Failed | RunStatus::Stopped => v.push(NotifyOn::Failed),
        _ => {}
    }
    if end.counts.succeeded > 0 {
        match end.action {
            SyncAction::ImportOrders => v.push(NotifyOn::OrdersCreated),
            SyncAction::ImportQuotes => v.push(NotifyOn::QuotesCreated),
            _ => {}
        }
    }
    v
}

#[async_trait]
impl Notifier for MailNotifier {
    async fn run_ended(&self, end: &RunEnd) -> Result<String, StepError> {
        let settings = load_settings(&self.db, &end.account_id, &end.profile_id)
            .await
            .map_err(|e| StepError::transient(e.to_string()))?;
        let Some(mut settings) = settings else {
            return Ok("pas de notification configurée".into());
        };
        if !events_of(end)
            .into_iter()
            .any(|e| should_send(&settings, e))
        {
            return Ok("pas de notification demandée pour cette issue".into());
        }
        if settings.smtp_user.is_some() {
            settings.smtp_password = self.smtp_password.clone();
        }
        let recipients = settings
            .validate()
            .map_err(|e| StepError::permanent(e.to_string()))?;
        let events = self
            .store
            .load_log_after(&end.account_id, end.run_id, 0)
            .await
            .map_err(|e| StepError::transient(e.to_string()))?;
        let log_lines = render_log(&events);
        let when = |e: &passerelle_workflows::engine::RecordedEvent| {
            e.metadata
                .timestamp
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        };
        let started = events
            .iter()
            .find(|e| matches!(e.event, passerelle_domain::RunEvent::RunStarted { .. }))
            .map(when)
            .unwrap_or_default();
        let finished = events.last().map(when).unwrap_or_default();
        let summary = RunSummary {
            profile: end.profile_id.to_string(),
            action_label: end.action.label_fr().to_string(),
            status_label: status_label(end.status).to_string(),
            started_at: started,
            finished_at: finished,
            total: i64::from(end.counts.total),
            succeeded: i64::from(end.counts.succeeded),
            failed: i64::from(end.counts.failed),
            ignored: i64::from(end.counts.ignored),
            log_lines,
        };
        let notification = build_notification(&settings, &summary);
        match self
            .mailer
            .send(&settings, &recipients, &notification)
            .await
        {
            Ok(()) => Ok(format!(
                "notification envoyée à {} destinataire(s)",
                recipients.len()
            )),
            Err(e) if e.is_transient() => Err(StepError::transient(e.to_string())),
            Err(e) => Err(StepError::permanent(e.to_string())),
        }
    }
}
