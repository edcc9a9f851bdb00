//! The detailed log of a run, rendered from its events (pure): `2024-09-09 17:06:45 -> text`.
//! Shared by the journal (CLI, API) and the e-mail notification.

use super::store::RecordedEvent;
use passerelle_domain::{Lang, RunEvent, RunStatus};

/// Renders the detailed log of a run from its events, in French:
/// `2024-09-09 17:06:45 -> text`. Step results are left out (`passerelle history` shows
/// every event).
pub fn render_log(events: &[RecordedEvent]) -> Vec<String> {
    render_log_in(events, Lang::Fr)
}

/// [`render_log`] in `lang` (labels and templates; recorded reasons stay as recorded).
pub fn render_log_in(events: &[RecordedEvent], lang: Lang) -> Vec<String> {
    let t = |fr: &'static str, en: &'static str| lang.pick(fr, en);
    let mut out = Vec::new();
    for e in events {
        let text = match &e.event {
            RunEvent::RunRequested {
                profile_id,
                action,
                trigger,
                ..
            } => Some(format!(
                "{} : {} ({} {profile_id}, {}, {} {})",
                t("Tâche demandée", "Run requested"),
                action.label(lang),
                t("profil", "profile"),
                if trigger.as_str() == "manual" {
                    t("manuelle", "manual")
                } else {
                    t("planifiée", "scheduled")
                },
                t("par", "by"),
                e.metadata.actor.to_text()
            )),
            RunEvent::RunStarted {
                worker, resumed, ..
            } => Some(if *resumed {
                format!("{} {worker}", t("Reprise par", "Resumed by"))
            } else {
                format!("{} {worker}", t("Démarrée par", "Started by"))
            }),
            RunEvent::ItemsDiscovered { count } => Some(format!(
                "{count} {}",
                t("élément(s) à traiter", "item(s) to process")
            )),
            RunEvent::StepCompleted { .. } => None,
            RunEvent::StepFailed {
                key,
                attempt,
                error,
                retry_at,
                ..
            } => Some(match retry_at {
                Some(at) => format!(
                    "{} {} ({}) {} {attempt} : {error} — {} {}",
                    t("Étape", "Step"),
                    key.name,
                    key.scope,
                    t("en erreur, essai", "error, attempt"),
                    t("nouvel essai à", "next attempt at"),
                    at.format("%H:%M:%S")
                ),
                None => format!(
                    "{} {} ({}) {} {attempt} : {error}",
                    t("Étape", "Step"),
                    key.name,
                    key.scope,
                    t("en échec, essai", "failed, attempt")
                ),
            }),
            RunEvent::ItemSucceeded { item, message } => Some(format!(
                "{} : {}",
                item.progress(),
                message.clone().unwrap_or_else(|| "OK".into())
            )),
            RunEvent::ItemFailed { item, reason } => Some(format!(
                "{} : {} {reason}",
                item.progress(),
                t("ERREUR", "ERROR")
            )),
            RunEvent::ItemIgnored { item, reason } => Some(format!(
                "{} : {} ({reason})",
                item.progress(),
                t("ignoré", "ignored")
            )),
            RunEvent::Noted { text } => Some(text.clone()),
            RunEvent::CancelRequested { by } => Some(format!(
                "{} {by}",
                t("Arrêt demandé par", "Stop requested by")
            )),
            RunEvent::RunFinished { status, message } => Some(format!(
                "{} : {} — {message}",
                t("Fin", "End"),
                status.label(lang)
            )),
        };
        if let Some(t) = text {
            out.push(format!(
                "{} -> {t}",
                e.metadata.timestamp.format("%Y-%m-%d %H:%M:%S")
            ));
        }
    }
    out
}

/// The error lines of a run's log, in French.
pub fn render_errors(events: &[RecordedEvent]) -> Vec<String> {
    render_errors_in(events, Lang::Fr)
}

/// [`render_errors`] in `lang`.
pub fn render_errors_in(events: &[RecordedEvent], lang: Lang) -> Vec<String> {
    render_log_in(
        &events
            .iter()
            .filter(|e| {
                matches!(
                    e.event,
                    RunEvent::ItemFailed { .. } | RunEvent::StepFailed { .. }
                ) || matches!(&e.event, RunEvent::RunFinished { status, .. } if *status == RunStatus::Failed)
            })
            .cloned()
            .collect::<Vec<_>>(),
        lang,
    )
}
