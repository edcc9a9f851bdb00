//! The `SyncRun` aggregate: one run of one sync action on one profile.
//!
//! Its stream is the run's journal: the request, each claim by a worker, every step result
//! (so a resumed run returns recorded results instead of redoing IO), every item outcome and
//! the end. The durable engine (workflows/engine) is the single writer of a leased run; the
//! rules here decide what a command may add and fold events into the run's state.

use crate::{action::SyncAction, ids::ProfileId};
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a run was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Started by a person (console, CLI, demo).
    Manual,
    /// Started by a schedule.
    Scheduled,
}

impl Trigger {
    /// Stable name used in `journal --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Scheduled => "scheduled",
        }
    }
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Requested, waiting for a worker.
    #[default]
    Queued,
    /// A worker holds it.
    Running,
    /// Parked until a retry is due.
    Waiting,
    /// The workflow ran to its end (items may still have failed: see the counts).
    Succeeded,
    /// The run itself failed (a run-level step failed for good).
    Failed,
    /// Stopped on request between two items.
    Stopped,
}

impl RunStatus {
    /// Stable name used in `journal --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }

    /// The label in `lang`.
    pub fn label(self, lang: crate::Lang) -> &'static str {
        match lang {
            crate::Lang::Fr => self.label_fr(),
            crate::Lang::En => match self {
                RunStatus::Queued => "queued",
                RunStatus::Running => "running",
                RunStatus::Waiting => "retry scheduled",
                RunStatus::Succeeded => "finished",
                RunStatus::Failed => "failed",
                RunStatus::Stopped => "stopped",
            },
        }
    }

    /// The French label shown in the journal.
    pub fn label_fr(self) -> &'static str {
        match self {
            RunStatus::Queued => "en attente",
            RunStatus::Running => "en cours",
            RunStatus::Waiting => "nouvel essai programmé",
            RunStatus::Succeeded => "terminée",
            RunStatus::Failed => "en échec",
            RunStatus::Stopped => "arrêtée",
        }
    }

    /// True once nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Stopped
        )
    }

    /// Parses [`RunStatus::as_str`].
    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Waiting,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Stopped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Identifies one journaled step: its scope (`run` or an item key), its position among the
/// steps of that scope, and its name. Replay compares names position by position, so a
/// workflow that now takes another step at the same point is caught as non-deterministic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepKey {
    /// `run` for run-level steps, else the item key.
    pub scope: String,
    /// 0-based position of the step within its scope.
    pub index: u32,
    /// Step name (`read_orders`, `write_ebp_docs`...).
    pub name: String,
}

impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}#{}", self.scope, self.name, self.index)
    }
}

/// One item of a run (an order, an article...), numbered for progress lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    /// 1-based position in the run.
    pub index: u32,
    /// Number of items discovered when this one started.
    pub total: u32,
    /// Stable key (shop order id, article reference...).
    pub key: String,
    /// Short human label (`TAPI-Gris-Pla`).
    pub label: String,
}

impl ItemRef {
    /// `3/6 - TAPI-Gris-Pla`, the progress form of FEATURES §7.
    pub fn progress(&self) -> String {
        format!("{}/{} - {}", self.index, self.total, self.label)
    }
}

/// What became of one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum ItemOutcome {
    /// Done; optional message for the log.
    Succeeded(Option<String>),
    /// Failed with a reason the merchant can act on.
    Failed(String),
    /// Skipped on purpose (already transferred, quota exhausted...).
    Ignored(String),
}

/// Events of a run. Names are past tense and stable (`event_type`), each with a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RunEvent {
    /// A run was asked for. Version 2 added `trigger` (version 1 payloads are upcast).
    RunRequested {
        /// Profile the run works on.
        profile_id: ProfileId,
        /// The sync action.
        action: SyncAction,
        /// Manual or scheduled.
        trigger: Trigger,
        /// The action's input (options snapshot), given to the workflow.
        input: Value,
    },
    /// A worker claimed the run (first start or resume after a crash or a park).
    RunStarted {
        /// Worker id.
        worker: String,
        /// Lease epoch (fencing token) of this claim.
        lease_epoch: i64,
        /// True when earlier claims exist.
        resumed: bool,
    },
    /// Items to process were found (progress totals add up).
    ItemsDiscovered {
        /// How many.
        count: u32,
    },
    /// A step returned a result; on resume the result is returned without running the step.
    StepCompleted {
        /// Which step.
        key: StepKey,
        /// 1-based attempt that succeeded.
        attempt: u32,
        /// The step's serialized result.
        result: Value,
    },
    /// A step attempt failed; `retry_at` is set when another attempt is planned.
    StepFailed {
        /// Which step.
        key: StepKey,
        /// 1-based attempt that failed.
        attempt: u32,
        /// The classified error, for the log.
        error: String,
        /// Transient (retriable) or permanent.
        transient: bool,
        /// When the next attempt is due; the run is parked until then.
        retry_at: Option<DateTime<Utc>>,
    },
    /// An item was processed successfully.
    ItemSucceeded {
        /// The item.
        item: ItemRef,
        /// Optional log message.
        message: Option<String>,
    },
    /// An item failed; the run goes on.
    ItemFailed {
        /// The item.
        item: ItemRef,
        /// Why, for the merchant.
        reason: String,
    },
    /// An item was skipped on purpose.
    ItemIgnored {
        /// The item.
        item: ItemRef,
        /// Why.
        reason: String,
    },
    /// A free log line from the workflow.
    Noted {
        /// The line.
        text: String,
    },
    /// Someone asked the run to stop; honoured between items.
    CancelRequested {
        /// Who asked (actor text).
        by: String,
    },
    /// The run ended.
    RunFinished {
        /// Final status.
        status: RunStatus,
        /// Summary message for the journal.
        message: String,
    },
}

impl RunEvent {
    /// The current version of each event type's payload.
    pub fn current_version(event_type: &str) -> &'static str {
        match event_type {
            "RunRequested" => "2",
            _ => "1",
        }
    }
}

impl DomainEvent for RunEvent {
    fn event_type(&self) -> String {
        match self {
            RunEvent::RunRequested { .. } => "RunRequested",
            RunEvent::RunStarted { .. } => "RunStarted",
            RunEvent::ItemsDiscovered { .. } => "ItemsDiscovered",
            RunEvent::StepCompleted { .. } => "StepCompleted",
            RunEvent::StepFailed { .. } => "StepFailed",
            RunEvent::ItemSucceeded { .. } => "ItemSucceeded",
            RunEvent::ItemFailed { .. } => "ItemFailed",
            RunEvent::ItemIgnored { .. } => "ItemIgnored",
            RunEvent::Noted { .. } => "Noted",
            RunEvent::CancelRequested { .. } => "CancelRequested",
            RunEvent::RunFinished { .. } => "RunFinished",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        RunEvent::current_version(&self.event_type()).to_string()
    }
}

/// Commands a caller outside the engine may send to a run.
#[derive(Clone, Debug, PartialEq)]
pub enum RunCommand {
    /// Ask for a new run.
    Request {
        /// Profile.
        profile_id: ProfileId,
        /// Action.
        action: SyncAction,
        /// Trigger.
        trigger: Trigger,
        /// Input.
        input: Value,
    },
    /// A worker claims the run.
    Start {
        /// Worker id.
        worker: String,
        /// Fencing token.
        lease_epoch: i64,
    },
    /// Ask the run to stop between items.
    RequestCancel {
        /// Actor text.
        by: String,
    },
    /// End the run.
    Finish {
        /// Final status.
        status: RunStatus,
        /// Summary.
        message: String,
    },
}

/// Refusals of run commands. Callers report them; none is worth retrying as is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    /// The run already exists: report the existing run.
    #[error("la tâche existe déjà (run already requested)")]
    AlreadyRequested,
    /// The run was never requested: the id is wrong.
    #[error("tâche inconnue (unknown run)")]
    Unknown,
    /// The run is over: nothing more can happen to it.
    #[error("la tâche est déjà terminée : {0} (run already finished)")]
    AlreadyFinished(&'static str),
    /// A final status was expected.
    #[error("statut final attendu (a final status is required)")]
    NotFinal,
}

/// Folded state of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    /// Whether `RunRequested` was seen.
    pub requested: bool,
    /// Profile.
    pub profile_id: Option<ProfileId>,
    /// Action.
    pub action: Option<SyncAction>,
    /// Status.
    pub status: RunStatus,
    /// Number of claims seen.
    pub claims: u32,
    /// Items discovered.
    pub total: u32,
    /// Items succeeded.
    pub succeeded: u32,
    /// Items failed.
    pub failed: u32,
    /// Items ignored.
    pub ignored: u32,
    /// A stop was asked.
    pub cancel_requested: bool,
}

impl SyncRun {
    /// Decides which events a command produces (pure).
    pub fn decide(&self, cmd: RunCommand) -> Result<Vec<RunEvent>, RunError> {
        match cmd {
            RunCommand::Request {
                profile_id,
                action,
                trigger,
                input,
            } => {
                if self.requested {
                    return Err(RunError::AlreadyRequested);
                }
                Ok(vec![RunEvent::RunRequested {
                    profile_id,
                    action,
                    trigger,
                    input,
                }])
            }
            RunCommand::Start {
                worker,
                lease_epoch,
            } => {
                self.require_open()?;
                Ok(vec![RunEvent::RunStarted {
                    worker,
                    lease_epoch,
                    resumed: self.claims > 0,
                }])
            }
            RunCommand::RequestCancel { by } => {
                self.require_open()?;
                if self.cancel_requested {
                    return Ok(vec![]);
                }
                Ok(vec![RunEvent::CancelRequested { by }])
            }
            RunCommand::Finish { status, message } => {
                self.require_open()?;
                if !status.is_final() {
                    return Err(RunError::NotFinal);
                }
                Ok(vec![RunEvent::RunFinished { status, message }])
            }
        }
    }

    fn require_open(&self) -> Result<(), RunError> {
        if !self.requested {
            return Err(RunError::Unknown);
        }
        if self.status.is_final() {
            return Err(RunError::AlreadyFinished(self.status.as_str()));
        }
        Ok(())
    }

    /// Folds one event into the state (never fails: events are facts).
    pub fn apply_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunRequested {
                profile_id, action, ..
            } => {
                self.requested = true;
                self.profile_id = Some(profile_id.clone());
                self.action = Some(*action);
                self.status = RunStatus::Queued;
            }
            RunEvent::RunStarted { .. } => {
                self.claims += 1;
                self.status = RunStatus::Running;
            }
            RunEvent::ItemsDiscovered { count } => self.total += count,
            RunEvent::StepFailed { retry_at, .. } => {
                if retry_at.is_some() {
                    self.status = RunStatus::Waiting;
                }
            }
            RunEvent::ItemSucceeded { .. } => self.succeeded += 1,
            RunEvent::ItemFailed { .. } => self.failed += 1,
            RunEvent::ItemIgnored { .. } => self.ignored += 1,
            RunEvent::CancelRequested { .. } => self.cancel_requested = true,
            RunEvent::RunFinished { status, .. } => self.status = *status,
            RunEvent::StepCompleted { .. } | RunEvent::Noted { .. } => {}
        }
    }
}

impl Aggregate for SyncRun {
    const TYPE: &'static str = "SyncRun";
    type Command = RunCommand;
    type Event = RunEvent;
    type Error = RunError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.apply_event(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn requested() -> RunEvent {
        RunEvent::RunRequested {
            profile_id: ProfileId::parse("p1").expect("id"),
            action: SyncAction::ImportOrders,
            trigger: Trigger::Manual,
            input: Value::Null,
        }
    }

    #[test]
    fn a_run_is_requested_once() {
        TestFramework::<SyncRun>::with(())
            .given(vec![requested()])
            .when(RunCommand::Request {
                profile_id: ProfileId::parse("p1").expect("id"),
                action: SyncAction::ImportOrders,
                trigger: Trigger::Manual,
                input: Value::Null,
            })
            .then_expect_error(RunError::AlreadyRequested);
    }

    #[test]
    fn a_second_start_is_a_resume() {
        TestFramework::<SyncRun>::with(())
            .given(vec![
                requested(),
                RunEvent::RunStarted {
                    worker: "w1".into(),
                    lease_epoch: 1,
                    resumed: false,
                },
            ])
            .when(RunCommand::Start {
                worker: "w2".into(),
                lease_epoch: 2,
            })
            .then_expect_events(vec![RunEvent::RunStarted {
                worker: "w2".into(),
                lease_epoch: 2,
                resumed: true,
            }]);
    }

    #[test]
    fn cancel_is_refused_on_a_finished_run_and_recorded_once() {
        let finished = RunEvent::RunFinished {
            status: RunStatus::Succeeded,
            message: "ok".into(),
        };
        TestFramework::<SyncRun>::with(())
            .given(vec![requested(), finished])
            .when(RunCommand::RequestCancel { by: "cli".into() })
            .then_expect_error(RunError::AlreadyFinished("succeeded"));
        TestFramework::<SyncRun>::with(())
            .given(vec![
                requested(),
                RunEvent::CancelRequested { by: "cli".into() },
            ])
            .when(RunCommand::RequestCancel { by: "cli".into() })
            .then_expect_events(vec![]);
    }

    #[test]
    fn finish_needs_a_final_status_and_counts_fold() {
        TestFramework::<SyncRun>::with(())
            .given(vec![requested()])
            .when(RunCommand::Finish {
                status: RunStatus::Running,
                message: String::new(),
            })
            .then_expect_error(RunError::NotFinal);
        let item = ItemRef {
            index: 1,
            total: 2,
            key: "k".into(),
            label: "REF".into(),
        };
        let mut run = SyncRun::default();
        for e in [
            requested(),
            RunEvent::ItemsDiscovered { count: 2 },
            RunEvent::ItemSucceeded {
                item: item.clone(),
                message: None,
            },
            RunEvent::ItemFailed {
                item,
                reason: "x".into(),
            },
        ] {
            run.apply_event(&e);
        }
        assert_eq!((run.total, run.succeeded, run.failed), (2, 1, 1));
        assert_eq!(
            ItemRef {
                index: 3,
                total: 6,
                key: "k".into(),
                label: "TAPI-Gris-Pla".into()
            }
            .progress(),
            "3/6 - TAPI-Gris-Pla"
        );
    }
}
