//! EBP import models read from the folder (issue 19 parts 1 and 6), end to end on SQLite
//! and PostgreSQL with the demo world: a model renamed in the folder makes
//! `profile test-connection` and the next import run name it (nothing uploaded), and
//! `profile ebp-check` lists every assumption with the value observed on the simulator.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::{ensure_import_plan, DemoWorld};
use passerelle_domain::{AccountId, ProfileId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_simulators::ebp::EbpSimConfig;
use std::time::Duration;

const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn env() {
    std::env::set_var("PASSERELLE_MASTER_KEY", KEY);
    std::env::set_var("PASSERELLE_EBP_MIN_INTERVAL_MS", "50");
    std::env::set_var("PASSERELLE_EBP_DAILY_BUDGET", "10000");
}

struct Setup {
    _db: TestDb,
    url: String,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

async fn setup(kind: Kind, orders: usize) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let ebp = EbpSimConfig {
        min_interval: Duration::from_millis(40),
        ..EbpSimConfig::default()
    };
    let world = DemoWorld::start(orders, ebp).await.unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    ensure_import_plan(&app, &acc, 1000).await.unwrap();
    Setup {
        url: db.url.clone(),
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

async fn import(s: &Setup) -> (RunStatus, journal::JournalRun) {
    let (id, status) = passerelle::commands::run_action(
        &s.app,
        &s.acc,
        s.profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 50}),
    )
    .await
    .unwrap();
    let run = journal::get(&s.app.db, s.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap();
    (status, run)
}

/// `passerelle profile <op> ID` in a child process: (exit code, stdout).
fn cli(s: &Setup, op: &str) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["profile", op, s.profile.as_str()])
        .env("DATABASE_URL", &s.url)
        .env("PASSERELLE_ACCOUNT", s.acc.as_str())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

async fn renamed_model(kind: Kind) {
    let s = setup(kind, 4).await;
    let (code, out) = cli(&s, "test-connection");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("modèle « Passerelle - Commandes »"), "{out}");

    assert!(s
        .world
        .ebp
        .rename_import_model("Passerelle - Commandes", "Commandes web"));
    let (code, out) = cli(&s, "test-connection");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("« Passerelle - Commandes » introuvable") && out.contains("Orders.txt"),
        "{out}"
    );

    let (status, run) = import(&s).await;
    assert_eq!(status, RunStatus::Failed, "{run:?}");
    assert!(
        run.message.contains("Passerelle - Commandes"),
        "the run names the missing model: {}",
        run.message
    );
    assert!(s.world.ebp.imports().is_empty(), "nothing uploaded");
    assert!(s.world.ebp.documents().is_empty());

    // Renamed back, the next run imports.
    assert!(s
        .world
        .ebp
        .rename_import_model("Commandes web", "Passerelle - Commandes"));
    let (status, run) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded, "{run:?}");
    assert!(!s.world.ebp.documents().is_empty());
}
both!(
    a_renamed_model_fails_test_connection_and_the_next_run,
    renamed_model
);

async fn ebp_check(kind: Kind) {
    let s = setup(kind, 3).await;
    let (status, _) = import(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    s.world.ebp.calls_reset();
    let imports_before = s.world.ebp.imports().len();
    let (lines, reached) = passerelle::ebp_check::report(&s.app, &s.acc, &s.profile).await;
    let text = lines.join("\n");
    assert!(reached, "{text}");
    // Every assumption with its observed value.
    for expected in [
        "Dossier EBP : 298324 — SIM PASSERELLE",
        "Modèles d'import (EbpSysGenericImportSettings) : 7 modèles",
        "modèle « Passerelle - Commandes » (commandes, Orders.txt, catégorie SaleOrders) : présent",
        "format : lu dans la définition du modèle",
        "UTF-8 avec BOM",
        "catégorie 9a0e5d3c-51f2-4e0b-a1c4-0c7d3e2b5a01 non vérifiable",
        "Champ personnalisé xx_atoosync_order : présent",
        "CM… → 4",
        "numérotation du paramètre de l'API",
        "Colonne image des articles ItemImage : lisible",
        "Catégories comptables : liste intégrée à EBP",
        "Intracommunautaire",
        "Essai à blanc (rien n'est envoyé) : commande",
        "Orders.txt (modèle « Passerelle - Commandes »",
    ] {
        assert!(
            text.contains(expected),
            "missing « {expected} » in:\n{text}"
        );
    }
    assert!(lines.len() >= 5);
    assert_eq!(
        s.world.ebp.imports().len(),
        imports_before,
        "read-only: nothing uploaded"
    );
    assert!(
        s.world.ebp.calls().iter().all(|c| c.method == "GET"),
        "{:?}",
        s.world.ebp.calls()
    );

    // A model missing in the folder is a line of the report, not a failure.
    s.world
        .ebp
        .rename_import_model("Passerelle - Factures", "Factures 2");
    let (lines, reached) = passerelle::ebp_check::report(&s.app, &s.acc, &s.profile).await;
    assert!(reached);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ERREUR factures") && l.contains("« Passerelle - Factures »")),
        "{lines:?}"
    );
}
both!(ebp_check_lists_every_assumption_observed, ebp_check);
