//! `passerelle retry RUN [--items 12,48]` (issue 17.6): a new run of the same action over
//! only the failed items of RUN, once the merchant fixed the data.
//!
//! The new run's input is the original's plus `"retry": {"of": RUN, "items": […]}`
//! ([`passerelle_workflows::engine::retry_scope`]): the engine discovers only those items
//! and the run's first log line names RUN. RUN itself is never written to; its history
//! lists the runs that retried it ([`retries_of`]).

use crate::commands::usage;
use passerelle_adapters::store::{Db, Val};
use passerelle_domain::{AccountId, ProfileId, RunEvent, RunId, SyncAction};
use passerelle_workflows::engine::retry_scope::RetryScope;
use passerelle_workflows::engine::{RunStore, StoreError};
use std::collections::BTreeSet;

/// What a retry will run.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPlan {
    /// Profile of the original run.
    pub profile: ProfileId,
    /// Its action.
    pub action: SyncAction,
    /// The new run's input (the original's, with the retry scope).
    pub input: serde_json::Value,
    /// The retried item keys.
    pub items: BTreeSet<String>,
}

/// Reads RUN and plans its retry: every failed item, or those of `only` (each must have
/// failed in RUN). Usage errors (exit 2) for an unknown or unfinished run, an item that did
/// not fail, or nothing to retry.
pub async fn plan_retry(
    store: &dyn RunStore,
    acc: &AccountId,
    run: RunId,
    only: Option<&[String]>,
) -> anyhow::Result<RetryPlan> {
    let events = match store.load_run(acc, run).await {
        Ok(e) => e,
        Err(StoreError::NotFound(_)) => {
            return Err(usage(format!("tâche inconnue : {run} (unknown run)")))
        }
        Err(e) => return Err(e.into()),
    };
    let Some(RunEvent::RunRequested {
        profile_id,
        action,
        input,
        ..
    }) = events.first().map(|e| &e.event)
    else {
        return Err(usage(format!("tâche illisible : {run}")));
    };
    if !events
        .iter()
        .any(|e| matches!(e.event, RunEvent::RunFinished { .. }))
    {
        return Err(usage(format!(
            "la tâche {run} n'est pas terminée : attendez sa fin avant de la relancer (run not finished)"
        )));
    }
    let failed: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::ItemFailed { item, .. } => Some(item.key.clone()),
            _ => None,
        })
        .collect();
    let items: BTreeSet<String> = match only {
        None => failed,
        Some(keys) => {
            let wanted: BTreeSet<String> = keys
                .iter()
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect();
            let not_failed: Vec<&str> = wanted
                .iter()
                .filter(|k| !failed.contains(*k))
                .map(String::as_str)
                .collect();
            if !not_failed.is_empty() {
                return Err(usage(format!(
                    "élément(s) sans échec dans la tâche {run} : {} (not failed in that run)",
                    not_failed.join(", ")
                )));
            }
            wanted
        }
    };
    if items.is_empty() {
        return Err(usage(format!(
            "aucun élément en échec dans la tâche {run} : rien à relancer (no failed item)"
        )));
    }
    let scope = RetryScope {
        of: run.to_string(),
        items: items.clone(),
    };
    Ok(RetryPlan {
        profile: profile_id.clone(),
        action: *action,
        input: scope.into_input(input.clone()),
        items,
    })
}

/// The runs that retried `run` (newest last), from their `RunRequested` input.
pub async fn retries_of(db: &Db, acc: &AccountId, run: RunId) -> anyhow::Result<Vec<String>> {
    // A cheap text pre-filter, then the exact check on the decoded input.
    let rows = db
        .fetch(
            "SELECT e.aggregate_id, e.payload::text FROM events e JOIN run_queue q ON q.run_id = e.aggregate_id \
             WHERE e.aggregate_type = 'SyncRun' AND e.sequence = 1 AND q.account_id = $1 \
               AND e.payload::text LIKE $2 ORDER BY e.position",
            &[
                Val::text(acc.as_str()),
                Val::text(format!("%{run}%")),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|r| {
            r[1].as_str()
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                .and_then(|v| RetryScope::from_input(v.get("RunRequested")?.get("input")?))
                .is_some_and(|s| s.of == run.to_string())
        })
        .filter_map(|r| r[0].as_str().map(str::to_string))
        .collect())
}
