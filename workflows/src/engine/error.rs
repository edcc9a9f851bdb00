//! Errors of steps and runs, classified once so the engine knows how to react.

use chrono::{DateTime, Utc};
use passerelle_domain::StepKey;
use std::time::Duration;

/// What a step's IO returned when it did not succeed. Adapters classify their failures
/// into one of these, once (STYLE §7).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// Worth retrying later (timeout, 5xx, 429, connection reset). `retry_after` is the
    /// server's Retry-After when it gave one: the next attempt is never earlier.
    #[error("erreur temporaire : {message}")]
    Transient {
        /// What happened, for the log (never a secret).
        message: String,
        /// Server-imposed wait.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (validation, 4xx other than 429): fail the item at once.
    #[error("{0}")]
    Permanent(String),
}

impl StepError {
    /// A transient error without Retry-After.
    pub fn transient(message: impl Into<String>) -> Self {
        StepError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        StepError::Permanent(message.into())
    }
    /// A permanent error that is the profile's configuration's fault (credentials, site
    /// id, an unsupported shop setup): `profile test-connection` exits 2 on it.
    pub fn configuration(message: impl Into<String>) -> Self {
        StepError::Permanent(format!("{CONFIGURATION_PREFIX}{}", message.into()))
    }
    /// True for an error made by [`StepError::configuration`].
    pub fn is_configuration(&self) -> bool {
        matches!(self, StepError::Permanent(m) if m.starts_with(CONFIGURATION_PREFIX))
    }
}

/// How a configuration error reads (French first): the message after it says what to fix.
const CONFIGURATION_PREFIX: &str = "configuration invalide : ";

/// Why a workflow (or one of its items) stopped before its end.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// A step failed for good (permanent error, or retries exhausted). Inside an item this
    /// fails the item only; at run level it fails the run.
    #[error("{reason}")]
    Failed {
        /// The step, when the failure came from one.
        step: Option<StepKey>,
        /// Reason for the merchant.
        reason: String,
    },
    /// A retry is due later: the run is parked until then and any worker resumes it.
    #[error("nouvel essai programmé à {until}")]
    Parked {
        /// When.
        until: DateTime<Utc>,
    },
    /// A stop was asked and honoured between items.
    #[error("arrêt demandé")]
    Cancelled,
    /// This worker no longer holds the run's lease: it must stop writing at once.
    #[error("bail perdu : un autre worker a repris la tâche (lease lost)")]
    LeaseLost,
    /// The worker is shutting down: the run is released after its current step.
    #[error("arrêt du worker (worker shutting down)")]
    Interrupted,
    /// The workflow took a step that does not match the recorded history (code error
    /// `NONDETERMINISM`): the run is failed rather than guessed at.
    #[error("[NONDETERMINISM] {0}")]
    Nondeterminism(String),
    /// Replay reached the end of an unfinished run's history.
    #[error("fin de l'historique enregistré (end of recorded history)")]
    HistoryExhausted,
    /// The store failed (database down...). The run is left to be reclaimed.
    #[error("stockage : {0}")]
    Store(String),
}

impl RunError {
    /// Fails the current item (or run) with a reason, outside any step (pure validation).
    pub fn failed(reason: impl Into<String>) -> Self {
        RunError::Failed {
            step: None,
            reason: reason.into(),
        }
    }

    /// Stable machine code, for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            RunError::Failed { .. } => "FAILED",
            RunError::Parked { .. } => "PARKED",
            RunError::Cancelled => "CANCELLED",
            RunError::LeaseLost => "LEASE_LOST",
            RunError::Interrupted => "INTERRUPTED",
            RunError::Nondeterminism(_) => "NONDETERMINISM",
            RunError::HistoryExhausted => "HISTORY_EXHAUSTED",
            RunError::Store(_) => "STORE",
        }
    }
}
