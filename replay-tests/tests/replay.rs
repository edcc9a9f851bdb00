//! Golden replays of recorded histories.
#![allow(clippy::unwrap_used, missing_docs)]

use async_trait::async_trait;
use passerelle_adapters::store::{decode_run_event, Db, RawEvent};
use passerelle_domain::{RunEvent, Trigger};
use passerelle_projections::{journal, Projector};
use passerelle_workflows::actions::demo_engine::{DemoBackend, DemoEngine, DemoItem, Receipt};
use passerelle_workflows::engine::replay::replay_run;
use passerelle_workflows::engine::{RecordedEvent, StepError};

struct NoIo;
#[async_trait]
impl DemoBackend for NoIo {
    async fn list_items(&self) -> Result<Vec<DemoItem>, StepError> {
        panic!("replay must not call the backend")
    }
    async fn apply(&self, _: &str, _: &DemoItem) -> Result<Receipt, StepError> {
        panic!("replay must not call the backend")
    }
}

async fn fixture_db() -> (tempfile::TempDir, Db, Vec<RecordedEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/r.db", dir.path().display()))
        .await
        .unwrap();
    let fx = passerelle_replay_tests::load("demo_engine_run_v1_request.json").unwrap();
    passerelle_replay_tests::store(&db, &fx).await.unwrap();
    // The events as stored (the projection feed leaves step results out; replay needs them).
    let events = fx
        .iter()
        .enumerate()
        .map(|(i, e)| {
            decode_run_event(&RawEvent {
                aggregate_type: e.aggregate_type.clone(),
                aggregate_id: e.aggregate_id.clone(),
                sequence: e.sequence,
                event_type: e.event_type.clone(),
                event_version: e.event_version.clone(),
                payload: e.payload.to_string(),
                metadata: e.metadata.to_string(),
                tx_id: 0,
                position: i as i64 + 1,
            })
            .unwrap()
        })
        .collect();
    (dir, db, events)
}

#[tokio::test]
async fn old_request_version_is_upcast_on_read() {
    let (_d, _db, events) = fixture_db().await;
    assert_eq!(events[0].stored_version, "1");
    assert!(matches!(
        events[0].event,
        RunEvent::RunRequested {
            trigger: Trigger::Manual,
            ..
        }
    ));
}

#[tokio::test]
async fn recorded_run_projects_to_the_golden_journal_row() {
    let (_d, db, _events) = fixture_db().await;
    let p = Projector::new(db.clone(), passerelle_projections::all())
        .await
        .unwrap();
    p.catch_up().await.unwrap();
    let runs = journal::list(&db, "demo", &journal::JournalFilter::default())
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let json = serde_json::to_value(&runs[0]).unwrap();
    assert_eq!(json["action"], "demo-engine");
    assert_eq!(json["trigger"], "manual");
    assert_eq!(json["status"], "succeeded");
    assert_eq!(
        json["counts"],
        serde_json::json!({"total": 6, "succeeded": 5, "failed": 1, "ignored": 0})
    );
    assert_eq!(
        json["message"],
        "Tâche terminée : 5 réussi(s), 1 en échec, 0 ignoré(s) sur 6"
    );
}

#[tokio::test]
async fn recorded_run_replays_without_io() {
    let (_d, _db, events) = fixture_db().await;
    let report = replay_run(&DemoEngine::new(std::sync::Arc::new(NoIo)), &events)
        .await
        .unwrap();
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    // read_items, then validate + apply_effect for 5 items and validate for the invalid one.
    assert_eq!(report.recorded.len(), 1 + 5 * 2 + 1);
    for k in &report.recorded {
        assert!(report.reached.contains(k), "{k} not reached");
    }
}
