//! The `SyncCursor` aggregate (id `cursor:<profile>:<flow>`): the ERP-side watermark an
//! incremental flow resumes from (the largest `sysModifiedDate` it has handled). An event,
//! not a setting: audited, replayed, and moved only forward.

use crate::decider::Decider;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// Events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncCursorEvent {
    /// The flow handled everything up to `value`.
    CursorAdvanced {
        /// Profile.
        profile_id: String,
        /// Flow (`update-order-statuses`, `send-invoices`).
        flow: String,
        /// Watermark (ERP clock, ISO `YYYY-MM-DDTHH:MM:SS`).
        value: String,
        /// Run.
        run_id: Option<String>,
    },
}

impl DomainEvent for SyncCursorEvent {
    fn event_type(&self) -> String {
        "CursorAdvanced".into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncCursorCommand {
    /// Move the watermark (ignored when not further).
    Advance {
        /// Profile.
        profile_id: String,
        /// Flow.
        flow: String,
        /// New watermark.
        value: String,
        /// Run.
        run_id: Option<String>,
    },
}

/// Never refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("curseur refusé")]
pub struct SyncCursorRefusal;

/// Folded state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    /// Current watermark.
    pub value: Option<String>,
}

impl Decider for SyncCursor {
    type Command = SyncCursorCommand;
    type Event = SyncCursorEvent;
    type Refusal = SyncCursorRefusal;
    const TYPE: &'static str = "SyncCursor";

    fn decide(&self, cmd: SyncCursorCommand) -> Result<Vec<SyncCursorEvent>, SyncCursorRefusal> {
        let SyncCursorCommand::Advance {
            profile_id,
            flow,
            value,
            run_id,
        } = cmd;
        // ISO timestamps of one format compare as strings.
        if self.value.as_ref().is_some_and(|v| *v >= value) {
            return Ok(vec![]);
        }
        Ok(vec![SyncCursorEvent::CursorAdvanced {
            profile_id,
            flow,
            value,
            run_id,
        }])
    }

    fn apply_event(&mut self, e: &SyncCursorEvent) {
        let SyncCursorEvent::CursorAdvanced { value, .. } = e;
        self.value = Some(value.clone());
    }
}

/// The aggregate id of a flow's cursor.
pub fn cursor_id(profile_id: &str, flow: &str) -> String {
    format!("cursor:{profile_id}:{flow}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(v: &str) -> SyncCursorCommand {
        SyncCursorCommand::Advance {
            profile_id: "p".into(),
            flow: "f".into(),
            value: v.into(),
            run_id: None,
        }
    }

    #[test]
    fn the_cursor_only_moves_forward() {
        let mut c = SyncCursor::default();
        let ev = c.decide(adv("2026-11-02T10:00:00")).unwrap_or_default();
        assert_eq!(ev.len(), 1);
        c.apply_event(&ev[0]);
        assert!(c
            .decide(adv("2026-11-01T10:00:00"))
            .unwrap_or_default()
            .is_empty());
        assert!(c
            .decide(adv("2026-11-02T10:00:00"))
            .unwrap_or_default()
            .is_empty());
        assert_eq!(
            c.decide(adv("2026-11-03T00:00:00"))
                .unwrap_or_default()
                .len(),
            1
        );
    }
}
