//! The detailed log of a run, rendered from its events (pure): `2024-09-09 17:06:45 -> text`.
//! Shared by the journal (CLI, API) and the e-mail notification.

use super::store::RecordedEvent;
use passerelle_domain::{RunEvent, RunStatus};

/// Renders the detailed log of a run from its events: `2024-09-09 17:06:45 -> text`.
/// Step results are left out (see `passerelle history` for every event).
pub fn render_log(events: &[RecordedEvent]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let text = match &e.event {
            RunEvent::RunRequested {
                profile_id,
                action,
                trigger,
                ..
            } => Some(format!(
                "Tâche demandée : {} (profil {profile_id}, {}, par {})",
                action.label_fr(),
                if trigger.as_str() == "manual" {
                    "manuelle"
                } else {
                    "planifiée"
                },
                e.metadata.actor.to_text()
            )),
            RunEvent::RunStarted {
                worker, resumed, ..
            } => Some(if *resumed {
                format!("Reprise par {worker}")
            } else {
                format!("Démarrée par {worker}")
            }),
            RunEvent::ItemsDiscovered { count } => Some(format!("{count} élément(s) à traiter")),
            RunEvent::StepCompleted { .. } => None,
            RunEvent::StepFailed {
                key,
                attempt,
                error,
                retry_at,
                ..
            } => Some(match retry_at {
                Some(at) => format!(
                    "Étape {} ({}) en erreur, essai {attempt} : {error} — nouvel essai à {}",
                    key.name,
                    key.scope,
                    at.format("%H:%M:%S")
                ),
                None => format!(
                    "Étape {} ({}) en échec, essai {attempt} : {error}",
                    key.name, key.scope
                ),
            }),
            RunEvent::ItemSucceeded { item, message } => Some(format!(
                "{} : {}",
                item.progress(),
                message.clone().unwrap_or_else(|| "OK".into())
            )),
            RunEvent::ItemFailed { item, reason } => {
                Some(format!("{} : ERREUR {reason}", item.progress()))
            }
            RunEvent::ItemIgnored { item, reason } => {
                Some(format!("{} : ignoré ({reason})", item.progress()))
            }
            RunEvent::Noted { text } => Some(text.clone()),
            RunEvent::CancelRequested { by } => Some(format!("Arrêt demandé par {by}")),
            RunEvent::RunFinished { status, message } => {
                Some(format!("Fin : {} — {message}", status.label_fr()))
            }
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

/// The error lines of a run's log.
pub fn render_errors(events: &[RecordedEvent]) -> Vec<String> {
    render_log(
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
    )
}
