//! Commands around order imports: the demo, profiles, quotas and subscriptions, transferred
//! orders, support resets and key repair, and the files kept per run (FEATURES §4.1, §8).

use crate::app::App;
use crate::commands::{lang, t, usage};
use crate::demo::{ensure_import_plan, DemoWorld};
use crate::profiles::{ProfileFile, Profiles};
use anyhow::Context;
use passerelle_adapters::store::{AggregateError, AggregateStore, Origin, SqlQuotas};
use passerelle_domain::shop_order::{shop_order_id, ShopOrderCommand, ShopOrderState};
use passerelle_domain::subscription::{PlanKind, QuotaCounter, SubscriptionCommand};
use passerelle_domain::{AccountId, Actor, Lang, ProfileId, RunEvent, RunStatus, SyncAction};
use passerelle_projections::orders::{quota_view, transferred_orders};
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_workflows::actions::import_orders::ImportOutcome;
use passerelle_workflows::engine::RecordedEvent;
use passerelle_workflows::ports::{Erp, Ledger, OrdersPage, ShopOrderRead, Transferred};
use std::process::ExitCode;
use std::sync::Arc;

/// The files of a run, rendered from its recorded step results: the orders read from the
/// shop (`commandes-boutique.json`) and every file sent to the ERP (`Orders.txt`, …;
/// `-2`, `-3` suffixes for later pages).
pub fn run_files(events: &[RecordedEvent]) -> Vec<(String, String)> {
    let mut orders: Vec<serde_json::Value> = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut seen: std::collections::HashMap<String, u32> = Default::default();
    for e in events {
        let RunEvent::StepCompleted { key, result, .. } = &e.event else {
            continue;
        };
        match key.name.as_str() {
            "read_orders" => {
                if let Ok(page) = serde_json::from_value::<OrdersPage>(result.clone()) {
                    for o in page.orders {
                        orders.push(match o {
                            ShopOrderRead::Ok(o) => serde_json::to_value(o).unwrap_or_default(),
                            ShopOrderRead::Invalid { id, reason } => {
                                serde_json::json!({"id": id, "invalid": reason})
                            }
                        });
                    }
                }
            }
            "erp_import" => {
                if let Ok(out) = serde_json::from_value::<ImportOutcome>(result.clone()) {
                    for f in out.report.files {
                        let n = seen.entry(f.name.clone()).or_insert(0);
                        *n += 1;
                        let name = if *n == 1 {
                            f.name.clone()
                        } else {
                            match f.name.rsplit_once('.') {
                                Some((stem, ext)) => format!("{stem}-{n}.{ext}"),
                                None => format!("{}-{n}", f.name),
                            }
                        };
                        files.push((name, f.content));
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if !orders.is_empty() {
        out.push((
            "commandes-boutique.json".to_string(),
            serde_json::to_string_pretty(&orders).unwrap_or_default(),
        ));
    }
    out.extend(files);
    out
}

/// `passerelle demo`.
pub async fn demo(
    settings: &crate::settings::Settings,
    acc: &AccountId,
    platform: passerelle_domain::Platform,
) -> anyhow::Result<ExitCode> {
    if platform != passerelle_domain::Platform::PrestaShop {
        return shop_demo(settings, acc, platform).await;
    }
    let url = &settings.database_url;
    println!(
        "{} ({} : {})",
        t(
            "Passerelle — démonstration : import des commandes PrestaShop vers EBP",
            "Passerelle — demo: importing PrestaShop orders into EBP"
        ),
        t("base", "database"),
        passerelle_adapters::store::redact(url)
    );
    let app = App::open(settings).await?;
    // The simulated EBP keeps its real limit: 1 call per second.
    let world = DemoWorld::start(60, EbpSimConfig::default()).await?;
    announce_worlds(
        t("Boutique PrestaShop simulée :", "Simulated PrestaShop:"),
        &world.shop.url(),
        &world.ebp.url(),
    );
    let profile = world.install(&app, acc).await?;
    buy_demo_plan(&app, acc).await?;
    crate::export_demo::run_exports(&app, acc, &profile, &world).await?;
    let started = std::time::Instant::now();
    let (id, status) = crate::commands::run_action(
        &app,
        acc,
        profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 300}),
    )
    .await?;
    let docs = world.ebp.documents();
    match lang() {
        Lang::Fr => println!(
            "\nEBP simulé : {} document(s) au total, {} appel(s) d'API reçus, au plus {} par seconde ; durée {:.1} s.",
            docs.len(),
            world.ebp.calls().len(),
            world.ebp.max_calls_per_second(),
            started.elapsed().as_secs_f64()
        ),
        Lang::En => println!(
            "\nSimulated EBP: {} document(s) in all, {} API call(s) received, at most {} per second; took {:.1} s.",
            docs.len(),
            world.ebp.calls().len(),
            world.ebp.max_calls_per_second(),
            started.elapsed().as_secs_f64()
        ),
    }
    if let Some(d) = docs.first() {
        println!(
            "  {} {} : {} — {} {} ({})",
            t("ex.", "e.g."),
            d.number,
            d.document.reference,
            d.document.lines.len(),
            t("ligne(s)", "line(s)"),
            d.document.customer_code
        );
    }
    // Back to the shop: the ERP user moves a few documents along the chain.
    let moved = demo_move_documents(&world);
    if !moved.is_empty() {
        println!(
            "\n{}",
            t(
                "Dans EBP simulé, l'utilisateur transforme des documents :",
                "In the simulated EBP, the user transforms documents:"
            )
        );
        for m in &moved {
            println!("  {m}");
        }
    }
    let (update_id, update_status) = crate::commands::run_action(
        &app,
        acc,
        profile.clone(),
        SyncAction::UpdateOrderStatuses,
        serde_json::json!({"retry_initial_ms": 300}),
    )
    .await?;
    let (_, invoices_status) = crate::commands::run_action(
        &app,
        acc,
        profile.clone(),
        SyncAction::SendInvoices,
        serde_json::json!({"retry_initial_ms": 300}),
    )
    .await?;
    crate::commands::show_journal(&app, acc, 10).await?;
    println!();
    crate::commands::run_detail(&app, acc, id, false, None).await?;
    println!();
    crate::commands::run_detail(&app, acc, update_id, false, None).await?;
    println!();
    quota(&app, acc, false).await?;
    let status = [status, update_status, invoices_status]
        .into_iter()
        .find(|s| *s == RunStatus::Failed)
        .unwrap_or(status);
    println!(
        "\n{} : {} — {}",
        t("Résultat", "Result"),
        status.label(lang()),
        t(
            "relancez `passerelle demo` : les commandes déjà transférées sont ignorées.",
            "run `passerelle demo` again: orders already transferred are ignored."
        )
    );
    Ok(if status == RunStatus::Failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `passerelle demo --shop PLATFORM` on a platform other than PrestaShop: the same seed
/// and ERP, the platform's demo profile, an import of orders, the journal and the run.
async fn shop_demo(
    settings: &crate::settings::Settings,
    acc: &AccountId,
    platform: passerelle_domain::Platform,
) -> anyhow::Result<ExitCode> {
    println!(
        "{} {} {} ({} : {})",
        t(
            "Passerelle — démonstration : import des commandes",
            "Passerelle — demo: importing orders from"
        ),
        platform.label(),
        t("vers EBP", "into EBP"),
        t("base", "database"),
        passerelle_adapters::store::redact(&settings.database_url)
    );
    let app = App::open(settings).await?;
    let world = crate::demo::ShopDemoWorld::start(platform, 60, EbpSimConfig::default()).await?;
    announce_worlds(
        &format!(
            "{} {} :",
            t("Boutique simulée", "Simulated shop"),
            platform.label()
        ),
        &world.shop.url,
        &world.ebp.url(),
    );
    let profile = world.install(&app, acc).await?;
    buy_demo_plan(&app, acc).await?;
    let started = std::time::Instant::now();
    let (id, status) = crate::commands::run_action(
        &app,
        acc,
        profile.clone(),
        SyncAction::ImportOrders,
        serde_json::json!({"retry_initial_ms": 300}),
    )
    .await?;
    let docs = world.ebp.documents();
    println!(
        "\n{} {} document(s), {} {} ; {:.1} s.",
        t("EBP simulé :", "Simulated EBP:"),
        docs.len(),
        world.ebp.calls().len(),
        t("appel(s) d'API reçus", "API call(s) received"),
        started.elapsed().as_secs_f64()
    );
    crate::commands::show_journal(&app, acc, 10).await?;
    println!();
    crate::commands::run_detail(&app, acc, id, false, None).await?;
    println!();
    quota(&app, acc, false).await?;
    println!(
        "\n{} : {} — {}",
        t("Résultat", "Result"),
        status.label(lang()),
        t(
            "relancez la démo : les commandes déjà transférées sont ignorées.",
            "run the demo again: orders already transferred are ignored."
        )
    );
    Ok(if status == RunStatus::Failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The demo's first line: where the simulated shop (its 62 seeded orders) and EBP listen.
fn announce_worlds(shop_label: &str, shop_url: &str, ebp_url: &str) {
    println!(
        "{shop_label} {shop_url} (62 {}) ; {} {ebp_url} ({})",
        t("commandes", "orders"),
        t("EBP simulé :", "simulated EBP:"),
        t(
            "1 appel/s, comme en production",
            "1 call/s, as in production"
        )
    );
}

/// Buys the demo account's monthly import plan of 1000 units when it has none, and says so.
async fn buy_demo_plan(app: &App, acc: &AccountId) -> anyhow::Result<()> {
    if ensure_import_plan(app, acc, 1000).await? {
        println!(
            "{}",
            t(
                "Forfait mensuel import de 1000 unités souscrit pour le compte.",
                "Monthly import plan of 1000 units bought for the account."
            )
        );
    }
    Ok(())
}

/// The demo's ERP user at work: the first imported order becomes a delivery note with two
/// parcels, the second a delivery note then an invoice, the third an invoice directly.
/// Returns what was done, one line each.
fn demo_move_documents(world: &DemoWorld) -> Vec<String> {
    use passerelle_domain::orders::DocumentKind;
    use passerelle_simulators::ebp::TRACKING_COLUMN;
    let orders: Vec<_> = world
        .ebp
        .documents()
        .into_iter()
        .filter(|d| d.document.kind == DocumentKind::Order && d.atoosync_order.is_some())
        .take(3)
        .collect();
    let today = chrono::Utc::now().date_naive();
    let mut out = Vec::new();
    for (i, d) in orders.iter().enumerate() {
        let web = d.atoosync_order.clone().unwrap_or_default();
        let parcels = format!("6A{:011}; 6A{:011}", 18_000_000 + i, 18_000_100 + i);
        let line = match i {
            0 => world
                .ebp
                .transform(
                    &d.number,
                    DocumentKind::DeliveryNote,
                    &[(TRACKING_COLUMN, &parcels)],
                    Some(today + chrono::Duration::days(2)),
                )
                .map(|bl| format!("{} → {bl} (commande web {web}, colis {parcels})", d.number)),
            1 => world
                .ebp
                .transform(
                    &d.number,
                    DocumentKind::DeliveryNote,
                    &[(TRACKING_COLUMN, &parcels)],
                    Some(today + chrono::Duration::days(1)),
                )
                .and_then(|bl| {
                    world
                        .ebp
                        .transform(&bl, DocumentKind::Invoice, &[], None)
                        .map(|fa| format!("{} → {bl} → {fa} (commande web {web})", d.number))
                }),
            _ => world
                .ebp
                .transform(&d.number, DocumentKind::Invoice, &[], None)
                .map(|fa| format!("{} → {fa} (commande web {web})", d.number)),
        };
        out.extend(line);
    }
    out
}

/// `passerelle quota [--json]`.
pub async fn quota(app: &App, acc: &AccountId, json_out: bool) -> anyhow::Result<ExitCode> {
    app.projector.catch_up().await?;
    let (counters, suspended, daily) =
        quota_view(&app.db, acc.as_str(), chrono::Utc::now()).await?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "account": acc.as_str(),
                "suspended": suspended,
                "counters": counters,
                "daily": daily,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {acc} :", t("Quotas du compte", "Quotas of account"));
    if let Some(why) = &suspended {
        println!("  {} : {why}", t("SUSPENDU", "SUSPENDED"));
    }
    for c in &counters {
        let name = match (c.counter.as_str(), lang()) {
            ("import", Lang::Fr) => "import (commandes, règlements, nouveaux clients)",
            ("import", Lang::En) => "import (orders, payments, new customers)",
            (_, Lang::Fr) => "export (articles, stocks, prix, clients)",
            (_, Lang::En) => "export (articles, stock, prices, customers)",
        };
        println!(
            "  {name} : {} {} / {} {} / {} {}{}",
            c.bought,
            t("achetées", "bought"),
            c.used,
            t("utilisées", "used"),
            c.available,
            t("disponibles", "available"),
            c.period_start
                .as_ref()
                .map(|p| format!(" ({} {p})", t("période depuis le", "period since")))
                .unwrap_or_default()
        );
    }
    if !daily.is_empty() {
        println!(
            "  {}",
            t("Par jour et par profil :", "Per day and profile:")
        );
        for d in &daily {
            println!("    {}  {}  {}  {}", d.day, d.profile, d.counter, d.units);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle subscription buy|payment-failed|payment-restored`.
pub async fn subscription(
    app: &App,
    acc: &AccountId,
    cmd: SubscriptionCommand,
) -> anyhow::Result<ExitCode> {
    SqlQuotas::new(
        app.db.clone(),
        Arc::new(passerelle_workflows::ports::SystemClock),
    )
    .execute(acc, cmd, Actor::Cli)
    .await
    .map_err(|e| match e {
        AggregateError::Refused(r) => usage(r.to_string()),
        other => anyhow::anyhow!("{other}"),
    })?;
    quota(app, acc, false).await
}

/// Parses `--counter` / `--plan` values.
pub fn plan_args(counter: &str, plan: &str) -> anyhow::Result<(QuotaCounter, PlanKind)> {
    let c = match counter {
        "import" => QuotaCounter::Import,
        "export" => QuotaCounter::Export,
        other => {
            return Err(usage(format!(
                "compteur inconnu « {other} » (import, export)"
            )))
        }
    };
    let p = match plan {
        "monthly" | "mensuel" => PlanKind::Monthly,
        "flex" => PlanKind::Flex,
        other => {
            return Err(usage(format!(
                "forfait inconnu « {other} » (monthly, flex)"
            )))
        }
    };
    Ok((c, p))
}

/// `passerelle transferred PROFILE [--json]`.
pub async fn transferred(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    app.projector.catch_up().await?;
    let rows = transferred_orders(&app.db, acc.as_str(), profile.as_str()).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {profile} : {}",
        t("Commandes connues du profil", "Orders known for profile"),
        rows.len()
    );
    for r in rows {
        println!(
            "  {:>8}  {:<12} {:<14} {}{}",
            r.order_id,
            r.order_reference,
            r.document_number
                .as_deref()
                .unwrap_or(t("(réinitialisée)", "(reset)")),
            r.transferred_at,
            r.last_reset
                .map(|(why, by, at)| format!(
                    "  [{} {at} {} {by} : {why}]",
                    t("réinit.", "reset"),
                    t("par", "by")
                ))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle reset-orders PROFILE --ids 124,3,48 | --all --reason TEXT`.
pub async fn reset_orders(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    ids: Option<&str>,
    all: bool,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    if reason.trim().is_empty() {
        return Err(usage("--reason est obligatoire (who and why are recorded)"));
    }
    app.projector.catch_up().await?;
    let targets: Vec<String> = match (ids, all) {
        (Some(_), true) | (None, false) => {
            return Err(usage("indiquez soit --ids 124,3,48 soit --all"));
        }
        (Some(list), false) => {
            let v: Vec<String> = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if v.is_empty()
                || v.iter()
                    .any(|s| !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            {
                return Err(usage(format!("liste d'identifiants invalide : « {list} »")));
            }
            v
        }
        (None, true) => transferred_orders(&app.db, acc.as_str(), profile.as_str())
            .await?
            .into_iter()
            .filter(|o| o.document_number.is_some())
            .map(|o| o.order_id)
            .collect(),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let origin = Origin {
        actor: Actor::User(user),
        correlation: format!("reset-orders:{}", uuid::Uuid::now_v7()),
        at: chrono::Utc::now(),
    };
    let cmds = targets
        .iter()
        .map(|o| {
            (
                shop_order_id(profile.as_str(), o),
                ShopOrderCommand::Reset {
                    reason: reason.to_string(),
                },
            )
        })
        .collect();
    let out = AggregateStore::new(app.db.clone())
        .execute_many::<ShopOrderState>(acc, cmds, &origin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut done = 0;
    for (id, r) in targets.iter().zip(out) {
        match r {
            Ok(ev) if !ev.is_empty() => done += 1,
            Ok(_) => {}
            Err(why) => println!("  {id} : {why}"),
        }
    }
    app.projector.catch_up().await?;
    println!(
        "{done} {} ({} : {reason}) ; {}",
        t("commande(s) réinitialisée(s)", "order(s) reset"),
        t("raison", "reason"),
        t(
            "le prochain import les reprendra.",
            "the next import takes them again."
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// `passerelle repair-keys PROFILE`: rebuilds the order ↔ document links from the ERP's
/// `xx_atoosync_order` field, for every order of the shop in the profile's statuses and
/// every order the ledger knows.
pub async fn repair_keys(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
) -> anyhow::Result<ExitCode> {
    let (cfg, shop, erp) = app.connectors()?.clients(acc, profile).await?;
    let mut query = cfg.query.clone();
    query.from = None;
    query.to = None;
    let mut ids: std::collections::BTreeMap<String, String> = Default::default();
    let mut after: Option<String> = None;
    loop {
        let page = shop
            .orders_page(&query, after.as_deref(), 100)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        after = page.orders.last().map(|o| o.id().to_string());
        for o in &page.orders {
            let reference = match o {
                ShopOrderRead::Ok(x) => x.reference.clone(),
                ShopOrderRead::Invalid { id, .. } => id.clone(),
            };
            ids.insert(o.id().to_string(), reference);
        }
        if !page.has_more || after.is_none() {
            break;
        }
    }
    app.projector.catch_up().await?;
    let known = transferred_orders(&app.db, acc.as_str(), profile.as_str()).await?;
    for o in &known {
        ids.entry(o.order_id.clone())
            .or_insert_with(|| o.order_reference.clone());
    }
    let list: Vec<String> = ids.keys().cloned().collect();
    let found = erp
        .documents_for_web_orders(&list)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ledger = passerelle_adapters::store::SqlLedger::new(
        app.db.clone(),
        Arc::new(passerelle_workflows::ports::SystemClock),
    );
    let before: std::collections::HashMap<String, Option<String>> = known
        .iter()
        .map(|o| (o.order_id.clone(), o.document_number.clone()))
        .collect();
    let links: Vec<Transferred> = found
        .iter()
        .map(|d| Transferred {
            order_id: d.atoosync_order.clone(),
            order_reference: ids.get(&d.atoosync_order).cloned().unwrap_or_default(),
            document_number: d.number.clone(),
            kind: d.kind,
        })
        .collect();
    let repaired = links
        .iter()
        .filter(|l| {
            before.get(&l.order_id).cloned().flatten().as_deref()
                != Some(l.document_number.as_str())
        })
        .count();
    let run = passerelle_domain::RunId::from_uuid(uuid::Uuid::now_v7());
    ledger
        .record_transferred(acc, profile, run, &links)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let found_ids: std::collections::HashSet<&str> =
        found.iter().map(|d| d.atoosync_order.as_str()).collect();
    let missing: Vec<&str> = known
        .iter()
        .filter(|o| o.document_number.is_some() && !found_ids.contains(o.order_id.as_str()))
        .map(|o| o.order_id.as_str())
        .collect();
    app.projector.catch_up().await?;
    println!(
        "{} {} ; {} {} ; {} {}",
        ids.len(),
        t("commande(s) examinée(s)", "order(s) examined"),
        found.len(),
        t(
            "document(s) trouvé(s) dans l'ERP",
            "document(s) found in the ERP"
        ),
        repaired,
        t("lien(s) rétabli(s)", "link(s) repaired")
    );
    if !missing.is_empty() {
        println!(
            "{} {} — {}",
            t(
                "Transférées sans document dans l'ERP :",
                "Transferred without a document in the ERP:"
            ),
            missing.join(","),
            t(
                "vérifiez puis `reset-orders --ids …` pour les réimporter.",
                "check, then `reset-orders --ids …` to import them again."
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle profile import FILE`.
pub async fn profile_import(app: &App, acc: &AccountId, path: &str) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("fichier illisible {path} : {e}")))?;
    let file: ProfileFile =
        toml::from_str(&text).map_err(|e| usage(format!("profil invalide ({path}) : {e}")))?;
    let id = file.id.clone();
    let events = Profiles::new(app.db.clone())
        .import(acc, file, app.secrets()?.as_ref(), Actor::Cli)
        .await
        .map_err(|e| usage(e.to_string()))?;
    if events.is_empty() {
        println!(
            "{} {id} : {}",
            t("Profil", "Profile"),
            t("inchangé", "unchanged")
        );
    } else {
        println!("{} {id} : {}", t("Profil", "Profile"), events.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle profile export ID`.
pub async fn profile_export(
    app: &App,
    acc: &AccountId,
    id: &ProfileId,
) -> anyhow::Result<ExitCode> {
    let f = Profiles::new(app.db.clone())
        .export(acc, id)
        .await
        .map_err(|e| usage(e.to_string()))?;
    println!(
        "# {}",
        t(
            "identifiants non exportés (chiffrés en base)",
            "credentials not exported (encrypted in the database)"
        )
    );
    print!("{}", toml::to_string_pretty(&f).context("TOML")?);
    Ok(ExitCode::SUCCESS)
}

/// `passerelle profile list`.
pub async fn profile_list(app: &App, acc: &AccountId) -> anyhow::Result<ExitCode> {
    for (id, p) in Profiles::new(app.db.clone()).list(acc).await? {
        println!(
            "{id}  {}  {}  {}",
            p.name,
            p.shop.map(|s| s.url).unwrap_or_default(),
            p.erp
                .map(|e| format!("EBP dossier {}", e.folder_id))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle profile test-connection ID`.
pub async fn test_connection(
    app: &App,
    acc: &AccountId,
    id: &ProfileId,
) -> anyhow::Result<ExitCode> {
    let conn = app.connectors()?;
    let mut ok = true;
    // A configuration error (missing site id, unsupported shop setup) exits 2: the
    // profile must change, retrying cannot help.
    let mut misconfigured = false;
    match conn
        .shop_connection(acc, id)
        .await
        .and_then(|c| c.configuration())
    {
        Ok(c) => match c.test_connection().await {
            Ok(()) => println!("{} : OK", t("Boutique", "Shop")),
            Err(e) => {
                ok = false;
                misconfigured = e.is_configuration();
                println!("{} : {e}", t("Boutique", "Shop"));
            }
        },
        Err(e) => {
            ok = false;
            misconfigured = e.is_configuration();
            println!("{} : {e}", t("Boutique", "Shop"));
        }
    }
    match conn.ebp_client(acc, id).await {
        Ok(c) => match c.test_connection().await {
            Ok(f) => {
                println!(
                    "EBP : OK ({} {} — {})",
                    t("dossier", "folder"),
                    f.id,
                    f.name
                );
                // The import models the profile names, read from the folder: a missing
                // one or one of another category fails the test, naming both.
                match c.model_checks().await {
                    Ok(checks) => {
                        ok &= checks.iter().all(|c| c.outcome.is_ok());
                        println!("{}", t("Modèles d'import EBP :", "EBP import models:"));
                        for l in crate::ebp_check::model_lines(&checks) {
                            println!("{l}");
                        }
                    }
                    Err(e) => {
                        ok = false;
                        println!("{} : {e}", t("Modèles d'import EBP", "EBP import models"));
                    }
                }
            }
            Err(e) => {
                ok = false;
                println!("EBP : {e}");
            }
        },
        Err(e) => {
            ok = false;
            println!("EBP : {e}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else if misconfigured {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    })
}

/// `passerelle profile refresh-config ID`: what the shop and the ERP offer for the mappings.
pub async fn refresh_config(
    app: &App,
    acc: &AccountId,
    id: &ProfileId,
) -> anyhow::Result<ExitCode> {
    let conn = app.connectors()?;
    let shop = conn
        .shop_connection(acc, id)
        .await
        .and_then(|c| c.configuration())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let erp = conn
        .ebp_client(acc, id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let s = shop
        .read_configuration()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let e = erp
        .read_configuration()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The import models as the folder has them, checked against the profile.
    let models: Vec<serde_json::Value> = erp
        .model_checks()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .iter()
        .map(|c| match &c.outcome {
            Ok(spec) => serde_json::json!({"file": c.file, "model": c.wanted,
                "category": c.category, "format": spec.format.describe()}),
            Err(e) => serde_json::json!({"file": c.file, "model": c.wanted,
                "category": c.category, "error": e}),
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(
            &serde_json::json!({"shop": s, "erp": e, "erp_import_models": models})
        )?
    );
    Ok(ExitCode::SUCCESS)
}

/// `passerelle profile ebp-login ID [--code CODE]`: prints the authorization URL, or
/// exchanges the code for the token pair (stored encrypted).
pub async fn ebp_login(
    app: &App,
    acc: &AccountId,
    id: &ProfileId,
    code: Option<&str>,
    redirect_uri: &str,
) -> anyhow::Result<ExitCode> {
    let c = app
        .connectors()?
        .ebp_client(acc, id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match code {
        None => {
            println!(
                "{}\n{}",
                t(
                    "Ouvrez cette adresse, connectez-vous à EBP puis relancez avec --code :",
                    "Open this address, log in to EBP, then run again with --code:"
                ),
                c.authorize_url(redirect_uri, &uuid::Uuid::new_v4().to_string())
            );
        }
        Some(code) => {
            c.exchange_code(code, redirect_uri)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                t(
                    "Connexion EBP enregistrée (jetons chiffrés).",
                    "EBP login stored (tokens encrypted)."
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle history PROFILE --order ID`: every event of one shop order (transfers,
/// resets), in order, with who did it — the audit trail of support actions.
pub async fn order_history(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    order: &str,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let id = passerelle_adapters::store::scoped_id(acc, &shop_order_id(profile.as_str(), order));
    let rows = app
        .db
        .fetch(
            "SELECT sequence, event_type, payload::text, metadata::text FROM events \
             WHERE aggregate_type = 'ShopOrder' AND aggregate_id = $1 ORDER BY sequence",
            &[passerelle_adapters::store::Val::text(id)],
        )
        .await?;
    if rows.is_empty() {
        return Err(usage(format!(
            "commande {order} inconnue pour le profil {profile} (no history)"
        )));
    }
    let events: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let parse = |i: usize| -> serde_json::Value {
                serde_json::from_str(r[i].as_str().unwrap_or("null")).unwrap_or_default()
            };
            serde_json::json!({
                "sequence": r[0].as_i64(),
                "event_type": r[1].as_str(),
                "payload": parse(2),
                "metadata": parse(3),
            })
        })
        .collect();
    if json_out {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(ExitCode::SUCCESS);
    }
    for e in &events {
        let m = &e["metadata"];
        let p = e["payload"]
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        let what = match e["event_type"].as_str() {
            Some("OrderTransferred") => format!(
                "{} {}",
                t("transférée → document", "transferred → document"),
                p["document_number"].as_str().unwrap_or("?")
            ),
            Some("TransferReset") => format!(
                "{} ({} {}) : {}",
                t("réinitialisée", "reset"),
                t("document", "document"),
                p["document_number"].as_str().unwrap_or("?"),
                p["reason"].as_str().unwrap_or("")
            ),
            other => other.unwrap_or("?").to_string(),
        };
        println!(
            "#{:<3} {}  {:<24} {what}",
            e["sequence"],
            m["timestamp"].as_str().unwrap_or(""),
            m["actor"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
