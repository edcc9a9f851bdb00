//! Event encoding for the `events` table (the cqrs-es layout) and decoding with upcasters.

use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster, SerializedEvent};
use cqrs_es::DomainEvent;
use passerelle_domain::{EventMetadata, RunEvent};
use passerelle_workflows::engine::{RecordedEvent, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One stored row, before decoding.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// Aggregate type (`SyncRun`...).
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence in the aggregate.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// Stored payload version.
    pub event_version: String,
    /// Payload JSON text.
    pub payload: String,
    /// Metadata JSON text.
    pub metadata: String,
    /// Writing transaction (PostgreSQL) or 0.
    pub tx_id: i64,
    /// Global position.
    pub position: i64,
}

/// Payload and metadata of an event, as stored.
pub fn encode_event(
    event: &RunEvent,
    metadata: &EventMetadata,
) -> (String, String, String, String) {
    let payload = serde_json::to_string(event).unwrap_or_else(|_| "null".into());
    let meta = serde_json::to_string(&metadata.to_map()).unwrap_or_else(|_| "{}".into());
    (event.event_type(), event.event_version(), payload, meta)
}

/// The upcasters of every event whose payload changed shape. Applied on read only: stored
/// rows are never rewritten.
pub fn upcasters() -> &'static [Box<dyn EventUpcaster>] {
    static UP: OnceLock<Vec<Box<dyn EventUpcaster>>> = OnceLock::new();
    UP.get_or_init(|| {
        vec![Box::new(SemanticVersionEventUpcaster::new(
            "RunRequested",
            "2",
            // Version 1 had no trigger: every run was started by hand.
            Box::new(|mut payload: Value| {
                if let Some(inner) = payload
                    .get_mut("RunRequested")
                    .and_then(Value::as_object_mut)
                {
                    inner
                        .entry("trigger")
                        .or_insert_with(|| Value::String("manual".into()));
                }
                payload
            }),
        )) as Box<dyn EventUpcaster>]
    })
}

fn corrupt(raw: &RawEvent, reason: String) -> StoreError {
    StoreError::Corrupt {
        aggregate_type: raw.aggregate_type.clone(),
        aggregate_id: raw.aggregate_id.clone(),
        sequence: raw.sequence,
        reason,
    }
}

/// Decodes a `SyncRun` row: upcasts it, checks its type, parses payload and metadata. Any
/// problem names the aggregate id and sequence.
pub fn decode_run_event(raw: &RawEvent) -> Result<RecordedEvent, StoreError> {
    if raw.aggregate_type != "SyncRun" {
        return Err(corrupt(
            raw,
            format!("type d'agrégat inattendu {}", raw.aggregate_type),
        ));
    }
    let payload: Value = serde_json::from_str(&raw.payload)
        .map_err(|e| corrupt(raw, format!("charge utile JSON illisible : {e}")))?;
    let meta_map: HashMap<String, String> = serde_json::from_str(&raw.metadata)
        .map_err(|e| corrupt(raw, format!("métadonnées illisibles : {e}")))?;
    let mut ser = SerializedEvent::new(
        raw.aggregate_id.clone(),
        raw.sequence.max(0) as usize,
        raw.aggregate_type.clone(),
        raw.event_type.clone(),
        raw.event_version.clone(),
        payload,
        Value::Null,
    );
    for up in upcasters() {
        if up.can_upcast(&ser.event_type, &ser.event_version) {
            ser = up.upcast(ser);
        }
    }
    let known = RunEvent::current_version(&ser.event_type) == ser.event_version;
    let event: RunEvent = serde_json::from_value(ser.payload).map_err(|e| {
        if known {
            corrupt(
                raw,
                format!("charge utile invalide pour {} : {e}", raw.event_type),
            )
        } else {
            corrupt(
                raw,
                format!(
                    "type d'événement inconnu ou version non gérée {} v{} (unknown event type)",
                    raw.event_type, raw.event_version
                ),
            )
        }
    })?;
    if event.event_type() != raw.event_type {
        return Err(corrupt(
            raw,
            format!(
                "type d'événement inconnu {} (la charge utile est un {})",
                raw.event_type,
                event.event_type()
            ),
        ));
    }
    let metadata = EventMetadata::from_map(&meta_map).map_err(|e| corrupt(raw, e.to_string()))?;
    Ok(RecordedEvent {
        aggregate_id: raw.aggregate_id.clone(),
        sequence: raw.sequence,
        event,
        stored_version: raw.event_version.clone(),
        metadata,
        position: raw.position,
    })
}

pub(crate) fn raw_from_row(row: &[super::Val]) -> RawEvent {
    let s = |i: usize| {
        row.get(i)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let n = |i: usize| row.get(i).and_then(|v| v.as_i64()).unwrap_or(0);
    RawEvent {
        aggregate_type: s(0),
        aggregate_id: s(1),
        sequence: n(2),
        event_type: s(3),
        event_version: s(4),
        payload: s(5),
        metadata: s(6),
        tx_id: n(7),
        position: n(8),
    }
}

/// The select list matching [`raw_from_row`].
pub(crate) const RAW_COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text";

/// The columns the projection feed reads: step results are left out (`null` payload). No
/// projection reads them, and they are most of a long run's bytes (whole pages of orders),
/// so a catch-up over a 10,000-order run does not load them.
pub(crate) const FEED_COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, \
     CASE WHEN event_type = 'StepCompleted' THEN 'null' ELSE payload::text END, metadata::text";

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(event_type: &str, version: &str, payload: &str) -> RawEvent {
        RawEvent {
            aggregate_type: "SyncRun".into(),
            aggregate_id: "0190".into(),
            sequence: 7,
            event_type: event_type.into(),
            event_version: version.into(),
            payload: payload.into(),
            metadata: r#"{"account_id":"a","actor":"cli","correlation_id":"r","timestamp":"2024-09-09T17:06:45.000Z"}"#.into(),
            tx_id: 0,
            position: 1,
        }
    }

    #[test]
    fn version_1_run_requested_is_upcast() {
        let r = raw(
            "RunRequested",
            "1",
            r#"{"RunRequested":{"profile_id":"p","action":"import-orders","input":null}}"#,
        );
        let ev = decode_run_event(&r).expect("decodes");
        assert_eq!(ev.stored_version, "1");
        match ev.event {
            RunEvent::RunRequested { trigger, .. } => {
                assert_eq!(trigger, passerelle_domain::Trigger::Manual)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_and_corrupt_events_name_the_row() {
        let e = decode_run_event(&raw("Bogus", "1", r#"{"Bogus":{}}"#)).expect_err("unknown");
        let text = e.to_string();
        assert!(
            text.contains("0190") && text.contains("séquence 7") && text.contains("Bogus"),
            "{text}"
        );
        let e = decode_run_event(&raw("Noted", "1", "{not json")).expect_err("corrupt");
        assert!(e.to_string().contains("illisible"), "{e}");
    }
}
