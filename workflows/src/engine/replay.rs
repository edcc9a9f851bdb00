//! Deterministic replay of a recorded run with no IO (DESIGN §4 rule 7).
//!
//! The workflow body runs against a context whose steps may only return recorded results:
//! a step that is not in the history, a step whose name differs at the same position, or a
//! different item outcome is reported as `Nondeterminism`; so is a recorded step the
//! workflow no longer reaches.

use super::context::{ContextParts, History, RunContext};
use super::error::RunError;
use super::journal::{Journal, Sink};
use super::store::RecordedEvent;
use super::worker::Workflow;
use crate::ports::SystemClock;
use passerelle_domain::{RunEvent, StepKey};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What a replay reached.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    /// Steps the workflow asked for, in the order it asked.
    pub reached: Vec<StepKey>,
    /// Steps of the history, sorted by scope and position.
    pub recorded: Vec<StepKey>,
    /// How the replayed body ended (`Ok` or the recorded failure / park).
    pub outcome: Result<(), RunError>,
}

/// Replays `events` (a run's whole stream) through `workflow` without IO.
pub async fn replay_run(
    workflow: &dyn Workflow,
    events: &[RecordedEvent],
) -> Result<ReplayReport, RunError> {
    let (profile_id, action, input) = match events.first().map(|e| &e.event) {
        Some(RunEvent::RunRequested {
            profile_id,
            action,
            input,
            ..
        }) => (profile_id.clone(), *action, input.clone()),
        _ => {
            return Err(RunError::Nondeterminism(
                "l'historique ne commence pas par RunRequested".into(),
            ))
        }
    };
    let first = &events[0];
    let run_id: passerelle_domain::RunId = first.aggregate_id.parse().map_err(|_| {
        RunError::Nondeterminism(format!("id de tâche invalide {}", first.aggregate_id))
    })?;
    let account_id = passerelle_domain::AccountId::parse(&first.metadata.account_id)
        .map_err(|e| RunError::Nondeterminism(e.to_string()))?;
    let history = History::from_events(events);
    let finished = history.finished;
    let recorded = history.recorded_keys();
    let cancel = events.iter().find_map(|e| match &e.event {
        RunEvent::CancelRequested { by } => Some(by.clone()),
        _ => None,
    });
    let clock = Arc::new(SystemClock);
    let journal = Journal::new(
        Sink::Replay,
        clock.clone(),
        account_id.to_string(),
        run_id.to_string(),
        "replay".into(),
        events.len() as i64 + 1,
        cancel,
    );
    let ctx = RunContext::new(ContextParts {
        run_id,
        account_id,
        profile_id,
        action,
        journal,
        history,
        clock,
        interrupt: Arc::new(AtomicBool::new(false)),
        lease_lost: Arc::new(AtomicBool::new(false)),
        fault: None,
        concurrency: 1,
        only_items: super::retry_scope::RetryScope::from_input(&input).map(|r| r.items),
    });
    let outcome = workflow.run(ctx.clone(), input).await;
    if let Err(e @ RunError::Nondeterminism(_)) = &outcome {
        return Err(e.clone());
    }
    let reached = ctx.reached();
    let reached_set: HashSet<&StepKey> = reached.iter().collect();
    if finished || outcome.is_ok() {
        if let Some(missing) = recorded
            .iter()
            .find(|k| k.scope != super::worker::END_SCOPE && !reached_set.contains(k))
        {
            return Err(RunError::Nondeterminism(format!(
                "l'étape enregistrée {missing} n'est plus atteinte par le workflow"
            )));
        }
    }
    Ok(ReplayReport {
        reached,
        recorded,
        outcome,
    })
}
