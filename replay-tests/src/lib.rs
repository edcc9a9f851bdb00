//! Recorded event histories (in `fixtures/`) replayed into projections and workflows.
//!
//! `demo_engine_run_v1_request.json` is a real demo-engine run (a 503 on the first read, a
//! 503 on the first effect, one invalid item) whose `RunRequested` is stored in its old
//! version 1 shape (no `trigger`), so the upcaster stays tested.

use passerelle_adapters::store::{Db, Val};
use serde::Deserialize;

/// One stored event of a fixture.
#[derive(Debug, Deserialize)]
pub struct FixtureEvent {
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// Stored version.
    pub event_version: String,
    /// Payload.
    pub payload: serde_json::Value,
    /// Metadata.
    pub metadata: serde_json::Value,
}

/// Reads a fixture from `fixtures/`.
pub fn load(name: &str) -> anyhow::Result<Vec<FixtureEvent>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// Writes fixture events into the `events` table as stored rows (unchanged versions).
pub async fn store(db: &Db, events: &[FixtureEvent]) -> anyhow::Result<()> {
    for e in events {
        db.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6::json, $7::json)",
            &[
                Val::text(&e.aggregate_type),
                Val::text(&e.aggregate_id),
                Val::int(e.sequence),
                Val::text(&e.event_type),
                Val::text(&e.event_version),
                Val::text(e.payload.to_string()),
                Val::text(e.metadata.to_string()),
            ],
        )
        .await?;
    }
    Ok(())
}
