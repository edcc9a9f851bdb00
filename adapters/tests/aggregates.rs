//! `AggregateStore::execute_many` — a page of commands in three statements — on both
//! databases: commands on the same stream in one batch are decided in order, a refusal
//! stops nothing else, sequences stay contiguous with earlier and later single commands,
//! and the folded state equals the events.
//!
//! PostgreSQL: `PASSERELLE_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

#![allow(clippy::unwrap_used, missing_docs)]

use passerelle_adapters::store::{AggregateStore, Db, Origin, Val};
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::shop_order::{ShopOrderCommand, ShopOrderRefusal, ShopOrderState};
use passerelle_domain::{AccountId, Actor};

async fn fresh(pg: bool) -> (Db, Option<tempfile::TempDir>) {
    if pg {
        let base = std::env::var("PASSERELLE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("pt_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        (Db::connect(&format!("{base}/{name}")).await.unwrap(), None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        (db, Some(dir))
    }
}

fn transfer(order: &str, doc: &str) -> (String, ShopOrderCommand) {
    (
        format!("p1:{order}"),
        ShopOrderCommand::RecordTransfer {
            profile_id: "p1".into(),
            order_id: order.into(),
            order_reference: format!("REF{order}"),
            document_number: doc.into(),
            kind: DocumentKind::Order,
            run_id: Some("run-1".into()),
        },
    )
}

fn origin() -> Origin {
    Origin {
        actor: Actor::Cli,
        correlation: "run-1".into(),
        at: chrono::Utc::now(),
    }
}

async fn batch_of_commands(pg: bool) {
    let (db, _dir) = fresh(pg).await;
    let store = AggregateStore::new(db.clone());
    let acc = AccountId::parse("acme").unwrap();
    // Order 1 already has an event: the batch must continue its stream at sequence 2.
    store
        .execute::<ShopOrderState>(&acc, "p1:1", transfer("1", "CO-1").1, &origin())
        .await
        .unwrap();
    let out = store
        .execute_many::<ShopOrderState>(
            &acc,
            vec![
                transfer("1", "CO-1"), // same document: nothing to record
                transfer("2", "CO-2"),
                (
                    "p1:3".into(),
                    ShopOrderCommand::Reset { reason: "x".into() },
                ), // not transferred
                transfer("3", "CO-3"),
                (
                    "p1:3".into(),
                    ShopOrderCommand::Reset {
                        reason: "erreur".into(),
                    },
                ), // now it is
                transfer("1", "CO-9"), // a new document for order 1
            ],
            &origin(),
        )
        .await
        .unwrap();
    let sizes: Vec<Result<usize, ShopOrderRefusal>> = out
        .into_iter()
        .map(|r| r.map(|events| events.len()))
        .collect();
    assert_eq!(
        sizes,
        vec![
            Ok(0),
            Ok(1),
            Err(ShopOrderRefusal::NotTransferred),
            Ok(1),
            Ok(1),
            Ok(1)
        ]
    );
    let rows = db
        .fetch(
            "SELECT aggregate_id, sequence, event_type FROM events WHERE aggregate_type = 'ShopOrder' ORDER BY position",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_i64().unwrap(),
                r[2].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let t = |id: &str, seq: i64, ty: &str| (format!("acme/p1:{id}"), seq, ty.to_string());
    assert_eq!(
        got,
        vec![
            t("1", 1, "OrderTransferred"),
            t("2", 1, "OrderTransferred"),
            t("3", 1, "OrderTransferred"),
            t("3", 2, "TransferReset"),
            t("1", 2, "OrderTransferred"),
        ],
        "events in command order, each stream's sequence contiguous"
    );
    // The folded state is the events' (and its sequence the optimistic lock of the next).
    let states = db
        .fetch(
            "SELECT aggregate_id, last_sequence, account_id FROM aggregate_state WHERE aggregate_type = 'ShopOrder' ORDER BY aggregate_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![
            vec![Val::text("acme/p1:1"), Val::int(2), Val::text("acme")],
            vec![Val::text("acme/p1:2"), Val::int(1), Val::text("acme")],
            vec![Val::text("acme/p1:3"), Val::int(2), Val::text("acme")],
        ]
    );
    let one = store
        .load::<ShopOrderState>(&acc, "p1:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.document_number.as_deref(), Some("CO-9"));
    let three = store
        .load::<ShopOrderState>(&acc, "p1:3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(three.document_number, None, "reset after its transfer");
    // A later single command continues the stream.
    store
        .execute::<ShopOrderState>(&acc, "p1:3", transfer("3", "CO-4").1, &origin())
        .await
        .unwrap();
    let seq = db
        .fetch(
            "SELECT MAX(sequence) FROM events WHERE aggregate_id = 'acme/p1:3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(seq[0][0].as_i64(), Some(3));
    // Another account's stream of the same id is another stream.
    let other = AccountId::parse("other").unwrap();
    store
        .execute_many::<ShopOrderState>(&other, vec![transfer("1", "X-1")], &origin())
        .await
        .unwrap();
    assert_eq!(
        store
            .load::<ShopOrderState>(&acc, "p1:1")
            .await
            .unwrap()
            .unwrap()
            .document_number
            .as_deref(),
        Some("CO-9")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_of_commands_sqlite() {
    batch_of_commands(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_of_commands_postgres() {
    batch_of_commands(true).await;
}
