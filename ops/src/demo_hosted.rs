//! `passerelle serve --demo`: the simulators (PrestaShop and EBP, in process), the demo
//! account with its profile, plans and an admin user whose password is printed once, and a
//! first import and export queued for the workers — a newcomer opens the console and finds
//! a populated account.

use crate::app::App;
use crate::auth::{random_token, Access};
use crate::demo::{ensure_import_plan, DemoWorld};
use passerelle_domain::access::Role;
use passerelle_domain::{AccountId, Actor, RunId, SyncAction, Trigger};
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_workflows::engine::{NewRun, RunStore};

/// The demo admin's login.
pub const DEMO_ADMIN: &str = "admin@demo.passerelle.local";

/// Prepares the demo account; the returned world must live as long as the server.
pub async fn prepare(app: &App, acc: &AccountId) -> anyhow::Result<DemoWorld> {
    let world = DemoWorld::start(60, EbpSimConfig::default()).await?;
    crate::export_demo::seed_articles(&world.ebp);
    let access = Access::new(app.db.clone());
    if access.account(acc).await?.is_none() {
        access
            .create_account(acc, "Démonstration", "Europe/Paris", &Actor::Cli)
            .await?;
    }
    let password = random_token(15);
    let known = access
        .account(acc)
        .await?
        .is_some_and(|s| s.users.contains_key(DEMO_ADMIN));
    if known {
        access
            .set_password(acc, DEMO_ADMIN, &password, &Actor::Cli)
            .await?;
    } else {
        access
            .add_user(acc, DEMO_ADMIN, vec![Role::Admin], &password, &Actor::Cli)
            .await?;
    }
    let profile = world.install(app, acc).await?;
    ensure_import_plan(app, acc, 1000).await?;
    crate::export_demo::ensure_export_plan(app, acc, 5000).await?;
    for action in [SyncAction::ExportArticles, SyncAction::ImportOrders] {
        let _ = app
            .store
            .enqueue(NewRun {
                run_id: RunId::from_uuid(uuid::Uuid::now_v7()),
                account_id: acc.clone(),
                profile_id: profile.clone(),
                action,
                trigger: Trigger::Manual,
                input: serde_json::json!({"retry_initial_ms": 300}),
                actor: Actor::Cli,
                requested_at: chrono::Utc::now(),
            })
            .await?;
    }
    eprintln!(
        "Démo : boutique PrestaShop simulée {} ; EBP simulé {}",
        world.shop.url(),
        world.ebp.url()
    );
    eprintln!(
        "Démo : compte « {acc} », utilisateur {DEMO_ADMIN}, mot de passe {password} (affiché une seule fois)"
    );
    Ok(world)
}
