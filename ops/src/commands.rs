//! The commands behind the CLI.

use crate::app::{fault_hook, App};
use crate::cli::{Cli, Command, NotificationsOp, ScheduleOp};
use crate::settings::Settings;
use anyhow::Context;
use passerelle_adapters::store::SqlScheduleStore;
use passerelle_domain::scheduling::ScheduleCommand;
use passerelle_domain::{
    AccountId, Actor, Lang, ProfileId, RunEvent, RunId, RunStatus, SyncAction, Trigger,
};
use passerelle_projections::journal::{self, JournalFilter, JournalRun};
use passerelle_projections::rebuild::rebuild;
use passerelle_projections::schedules;
use passerelle_simulators::demo_backend::{DemoSim, SimConfig};
use passerelle_workflows::engine::{CancelOutcome, EnqueueOutcome, NewRun, RunStore, Worker};
use passerelle_workflows::ports::SystemClock;
use serde_json::json;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

static LANG: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();

/// The language chosen with `--lang` / `PASSERELLE_LANG` (French by default).
pub fn lang() -> Lang {
    LANG.get().copied().unwrap_or_default()
}

/// Picks the text of the chosen language.
pub fn t(fr: &'static str, en: &'static str) -> &'static str {
    lang().pick(fr, en)
}

/// A usage or configuration error: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error (exit 2) with its one-line reason.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

fn account(settings: &Settings) -> anyhow::Result<AccountId> {
    AccountId::parse(&settings.account).map_err(|e| usage(e.to_string()))
}

/// A settings error as a usage error (exit 2).
pub fn usage_of(e: crate::settings::SettingsError) -> anyhow::Error {
    usage(e.to_string())
}

fn run_id(s: &str) -> anyhow::Result<RunId> {
    s.parse()
        .map_err(|_| usage(format!("identifiant de tâche invalide : {s}")))
}

/// Runs one parsed command with the settings built at start-up.
pub async fn dispatch(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let settings = &settings;
    let _ = LANG.set(settings.language());
    let acc = account(settings)?;
    match &cli.command {
        Command::Demo { shop } => {
            let platform: passerelle_domain::Platform = shop
                .parse()
                .map_err(|e: passerelle_domain::platform::UnknownPlatform| usage(e.to_string()))?;
            if !crate::simulate::has_shop_simulator(platform) {
                // The list of simulators without EBP's (the demo needs a shop).
                let shops: Vec<&str> = crate::simulate::SIMULATORS
                    .into_iter()
                    .filter(|s| *s != "ebp")
                    .collect();
                return Err(usage(format!(
                    "démo indisponible pour {} : plateforme pas encore prise en charge ({})",
                    platform.label(),
                    shops.join(", ")
                )));
            }
            crate::orders_cmd::demo(settings, &acc, platform).await
        }
        Command::Sim {
            platform,
            listen,
            seed,
            json,
        } => crate::simulate::sim_cmd(platform, listen, seed.as_deref(), *json).await,
        Command::Platforms { markdown } => {
            if *markdown {
                print!("{}", crate::platforms::matrix_markdown());
            } else {
                for p in passerelle_domain::Platform::ALL {
                    let caps = crate::platforms::capabilities(p);
                    let names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
                    println!(
                        "{:<12} {}",
                        p.as_str(),
                        if names.is_empty() {
                            t("(pas encore prise en charge)", "(not supported yet)").to_string()
                        } else {
                            names.join(", ")
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker {
            workers,
            demo_backend_url,
            drain,
            ..
        } => {
            let backend = demo_backend(settings, demo_backend_url);
            let side = (!*drain)
                .then(|| crate::metrics::side_listen(settings, &cli.command))
                .flatten();
            worker(settings, *workers, &backend, *drain, side).await
        }
        Command::Run {
            profile,
            action,
            enqueue_only,
            demo_backend_url,
            full,
        } => {
            let action: SyncAction = action
                .parse()
                .map_err(|e: passerelle_domain::action::UnknownAction| usage(e.to_string()))?;
            let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            if *full
                && !matches!(
                    action,
                    SyncAction::UpdateOrderStatuses | SyncAction::SendInvoices
                )
            {
                return Err(usage(
                    "--full ne s'applique qu'à update-order-statuses et send-invoices",
                ));
            }
            run_now(
                settings,
                &acc,
                profile,
                action,
                *enqueue_only,
                demo_backend_url
                    .clone()
                    .or_else(|| settings.test.demo_backend_url.clone()),
                *full,
            )
            .await
        }
        Command::LastTransfer { profile, set } => {
            crate::catalog_connectors::last_transfer_cmd(settings, &acc, profile, set).await
        }
        Command::Cancel { run } => {
            let app = App::open(settings).await?;
            let out = app
                .store
                .request_cancel(&acc, run_id(run)?, &Actor::Cli, chrono::Utc::now())
                .await?;
            println!(
                "{}",
                match out {
                    CancelOutcome::Stopped => t("Tâche arrêtée.", "Run stopped."),
                    CancelOutcome::Requested => t(
                        "Arrêt demandé : la tâche s'arrêtera après l'élément en cours.",
                        "Stop requested: the run stops after the current item."
                    ),
                    CancelOutcome::AlreadyFinished =>
                        t("La tâche est déjà terminée.", "The run has already ended."),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Journal {
            profile,
            manual,
            json,
        } => {
            let app = App::open(settings).await?;
            app.projector.catch_up().await?;
            let runs = journal::list(
                &app.db,
                acc.as_str(),
                &JournalFilter {
                    profile: profile.clone(),
                    manual_only: *manual,
                    limit: None,
                    offset: 0,
                },
            )
            .await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print_journal(&runs);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::RunDetail { run, json, file } => {
            let app = App::open(settings).await?;
            app.projector.catch_up().await?;
            run_detail(&app, &acc, run_id(run)?, *json, file.as_deref()).await
        }
        Command::Profile { op } => {
            use crate::cli::ProfileOp;
            use crate::orders_cmd as oc;
            let app = App::open(settings).await?;
            let pid = |s: &str| ProfileId::parse(s).map_err(|e| usage(e.to_string()));
            match op {
                ProfileOp::Import { file } => oc::profile_import(&app, &acc, file).await,
                ProfileOp::Export { id } => oc::profile_export(&app, &acc, &pid(id)?).await,
                ProfileOp::List => oc::profile_list(&app, &acc).await,
                ProfileOp::TestConnection { id } => {
                    oc::test_connection(&app, &acc, &pid(id)?).await
                }
                ProfileOp::RefreshConfig { id } => oc::refresh_config(&app, &acc, &pid(id)?).await,
                ProfileOp::EbpCheck { id } => {
                    crate::ebp_check::ebp_check(&app, &acc, &pid(id)?).await
                }
                ProfileOp::EbpLogin {
                    id,
                    code,
                    redirect_uri,
                } => oc::ebp_login(&app, &acc, &pid(id)?, code.as_deref(), redirect_uri).await,
            }
        }
        Command::Quota { json } => {
            let app = App::open(settings).await?;
            crate::orders_cmd::quota(&app, &acc, *json).await
        }
        Command::Subscription { op } => {
            use crate::cli::SubscriptionOp;
            use passerelle_domain::subscription::SubscriptionCommand;
            let cmd = match op {
                SubscriptionOp::Buy {
                    counter,
                    plan,
                    units,
                } => {
                    let (counter, plan) = crate::orders_cmd::plan_args(counter, plan)?;
                    SubscriptionCommand::Purchase {
                        counter,
                        plan,
                        units: *units,
                        now: chrono::Utc::now(),
                    }
                }
                SubscriptionOp::PaymentFailed { reason } => SubscriptionCommand::FailPayment {
                    reason: reason.clone(),
                },
                SubscriptionOp::PaymentRestored => SubscriptionCommand::RestorePayment,
            };
            let app = App::open(settings).await?;
            crate::orders_cmd::subscription(&app, &acc, cmd).await
        }
        Command::Transferred { profile, json } => {
            let app = App::open(settings).await?;
            let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            crate::orders_cmd::transferred(&app, &acc, &profile, *json).await
        }
        Command::ResetOrders {
            profile,
            ids,
            all,
            reason,
        } => {
            let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            let app = App::open(settings).await?;
            crate::orders_cmd::reset_orders(&app, &acc, &profile, ids.as_deref(), *all, reason)
                .await
        }
        Command::RepairKeys { profile } => {
            let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            let app = App::open(settings).await?;
            crate::orders_cmd::repair_keys(&app, &acc, &profile).await
        }
        Command::History {
            run,
            order: Some(order),
            json,
        } => {
            let app = App::open(settings).await?;
            let profile = ProfileId::parse(run).map_err(|e| usage(e.to_string()))?;
            crate::orders_cmd::order_history(&app, &acc, &profile, order, *json).await
        }
        Command::History { run, json, .. } => {
            let app = App::open(settings).await?;
            let events = app.store.load_run(&acc, run_id(run)?).await?;
            if *json {
                let out: Vec<_> = events
                    .iter()
                    .map(|e| {
                        json!({
                            "sequence": e.sequence,
                            "position": e.position,
                            "event_type": passerelle_domain_event_type(&e.event),
                            "stored_version": e.stored_version,
                            "payload": e.event,
                            "metadata": e.metadata.to_map(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let retries = crate::retry_cmd::retries_of(&app.db, &acc, run_id(run)?).await?;
                if !retries.is_empty() {
                    println!(
                        "{} : {}",
                        t("Relancée par", "Retried by"),
                        retries.join(", ")
                    );
                }
                for e in &events {
                    println!(
                        "#{:<4} {} {:<16} {}",
                        e.sequence,
                        e.metadata.timestamp.format("%Y-%m-%d %H:%M:%S%.3f"),
                        passerelle_domain_event_type(&e.event),
                        serde_json::to_string(&e.event)?
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedules { json } => {
            let app = App::open(settings).await?;
            app.projector.catch_up().await?;
            let rows = schedules::list(&app.db, acc.as_str()).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("{}", t("(aucune tâche planifiée)", "(no scheduled task)"));
            } else {
                println!(
                    "{:<36}  {:<16}  {:<24}  {:<20}  {:<20}  {:<20}  en cours",
                    "planification",
                    "profil",
                    "action",
                    "départ / intervalle",
                    "dernière",
                    "prochaine"
                );
                for r in &rows {
                    println!(
                        "{:<36}  {:<16}  {:<24}  {:<20}  {:<20}  {:<20}  {}",
                        r.id,
                        r.profile,
                        r.action,
                        describe(&r.spec),
                        r.last_run_at.as_deref().unwrap_or("-"),
                        if r.paused {
                            "(en pause)"
                        } else {
                            r.next_run_at.as_deref().unwrap_or("-")
                        },
                        if r.running { "oui" } else { "non" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule { op } => schedule_op(settings, &acc, op).await,
        Command::Notifications { op } => notifications_op(settings, &acc, op).await,
        Command::Scheduler { .. } => {
            crate::metrics::install();
            let app = Arc::new(App::open(settings).await?);
            let (side_stop, side) =
                side_endpoint(&app, crate::metrics::side_listen(settings, &cli.command)).await;
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s2 = stop.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                s2.store(true, Ordering::SeqCst);
            });
            eprintln!("Planificateur démarré ; Ctrl-C pour arrêter.");
            crate::scheduling::run_scheduler(&app, stop, Duration::from_secs(1)).await?;
            let _ = side_stop.send(());
            if let Some(h) = side {
                let _ = h.await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            workers,
            no_workers,
            demo_backend_url,
            tls_cert,
            tls_key,
            behind_proxy,
            allow_private_targets,
            rate_limit,
            demo,
            ..
        } => {
            let opts = crate::hosting::ServeOptions {
                listen: settings.http_listen.clone(),
                tls: tls_cert.clone().zip(tls_key.clone()),
                behind_proxy: *behind_proxy,
                allow_private_targets: *allow_private_targets || *demo,
                rate_limit: *rate_limit,
            };
            // Refused before anything opens: a public bind without TLS exits 2 at once.
            crate::hosting::check_listen(&opts)?;
            crate::serve::serve(
                settings,
                &acc,
                if *no_workers { 0 } else { *workers },
                &demo_backend(settings, demo_backend_url),
                worker_id,
                opts,
                *demo,
            )
            .await
        }
        Command::Account { op } => {
            crate::access_cmd::account(&settings.database_url, &acc, op).await
        }
        Command::User { op } => crate::access_cmd::user(&settings.database_url, &acc, op).await,
        Command::Token { op } => crate::access_cmd::token(&settings.database_url, &acc, op).await,
        Command::Config { op } => crate::config_cmd::config(settings, op),
        Command::Backup { to } => {
            if to.exists() {
                return Err(usage(format!(
                    "{} existe déjà (already exists)",
                    to.display()
                )));
            }
            let app = App::open(settings).await?;
            if !app.db.backup_sqlite_to(to).await? {
                return Err(usage(
                    "base PostgreSQL : sauvegardez avec pg_dump -Fc (docs/OPERATIONS.md)",
                ));
            }
            println!(
                "{} {}",
                t("Copie cohérente écrite dans", "Consistent copy written to"),
                to.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { op } => match op {
            crate::cli::KeysOp::Generate => Ok(crate::keys_cmd::generate()),
            crate::cli::KeysOp::Rotate { new_key_file } => {
                let app = App::open(settings).await?;
                crate::keys_cmd::rotate(&app, new_key_file.as_deref()).await
            }
        },
        Command::Retry {
            run,
            items,
            enqueue_only,
        } => {
            let app = App::open(settings).await?;
            let original = run_id(run)?;
            let plan =
                crate::retry_cmd::plan_retry(app.store.as_ref(), &acc, original, items.as_deref())
                    .await?;
            let keys: Vec<&str> = plan.items.iter().map(String::as_str).collect();
            println!(
                "{} {original} : {}",
                t(
                    "Relance des éléments en échec de la tâche",
                    "Retrying the failed items of run"
                ),
                keys.join(", ")
            );
            if *enqueue_only {
                let id = enqueue(&app, &acc, plan.profile, plan.action, plan.input).await?;
                println!("Tâche {id} ({}) en file.", plan.action.label_fr());
                return Ok(ExitCode::SUCCESS);
            }
            let backend = demo_backend(settings, &None);
            let (_, status) =
                run_action_with(&app, &acc, plan.profile, plan.action, plan.input, &backend)
                    .await?;
            println!("{} : {}", t("Résultat", "Result"), status.label(lang()));
            Ok(if status == RunStatus::Failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Audit { op } => audit_op(settings, cli.account.as_deref(), op).await,
        Command::Reconcile {
            profile,
            from,
            to,
            tolerance,
            requeue_missing,
            json,
        } => {
            crate::reconcile_cmd::cli(
                settings,
                &acc,
                profile,
                (from, to),
                tolerance.as_deref(),
                *requeue_missing,
                *json,
            )
            .await
        }
        Command::WhatIf {
            profile,
            settings: file,
            from,
            to,
            json,
        } => {
            let app = App::open(settings).await?;
            crate::whatif_cmd::cli(&app, &acc, profile, file, from, to, *json).await
        }
        Command::Replay { verify } => {
            let app = App::open(settings).await?;
            let report = rebuild(&app.projector, *verify).await?;
            println!(
                "{}",
                match lang() {
                    Lang::Fr => format!(
                        "Projections reconstruites : {} événement(s) rejoué(s) en {:.2} s, {} ligne(s) comparée(s).",
                        report.events, report.seconds, report.rows
                    ),
                    Lang::En => format!(
                        "Projections rebuilt: {} event(s) replayed in {:.2} s, {} row(s) compared.",
                        report.events, report.seconds, report.rows
                    ),
                }
            );
            if report.diffs.is_empty() {
                println!(
                    "{}",
                    t(
                        "Identiques aux projections en service.",
                        "Identical to the live projections."
                    )
                );
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "{} {}",
                    report.diffs.len(),
                    t("différence(s) :", "difference(s):")
                );
                for d in &report.diffs {
                    println!(
                        "  {} [{}]\n    {} : {}\n    {} : {}",
                        d.table,
                        d.key,
                        t("en service", "live"),
                        d.live.as_deref().unwrap_or(t("(absente)", "(missing)")),
                        t("reconstruit", "rebuilt"),
                        d.rebuilt.as_deref().unwrap_or(t("(absente)", "(missing)"))
                    );
                }
                if !*verify {
                    println!(
                        "{}",
                        t(
                            "Les projections en service ont été remplacées par la reconstruction.",
                            "The live projections were replaced by the rebuild."
                        )
                    );
                }
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// `passerelle audit …` (the account only when `--account` was given explicitly).
async fn audit_op(
    settings: &Settings,
    account: Option<&str>,
    op: &crate::cli::AuditOp,
) -> anyhow::Result<ExitCode> {
    use crate::audit_cmd;
    use crate::cli::AuditOp;
    let signing_key = || -> anyhow::Result<ed25519_dalek::SigningKey> {
        let text = settings.audit_signing_key.as_ref().ok_or_else(|| {
            usage(
                "audit.signing_key absente (PASSERELLE_AUDIT_SIGNING_KEY) : créez-en une avec passerelle audit keygen",
            )
        })?;
        audit_cmd::signing_key(text.expose())
    };
    let open_db = || async {
        passerelle_adapters::store::Db::connect_with(&settings.database_url, &settings.db_options())
            .await
            .with_context(|| {
                format!(
                    "connexion à la base impossible ({})",
                    passerelle_adapters::store::redact(&settings.database_url)
                )
            })
    };
    match op {
        AuditOp::Keygen => Ok(audit_cmd::keygen()),
        AuditOp::PublicKey => {
            println!("{}", audit_cmd::public_key_text(&signing_key()?));
            Ok(ExitCode::SUCCESS)
        }
        AuditOp::VerifyBundle { file, public_key } => {
            audit_cmd::verify_bundle_cmd(file, public_key)
        }
        AuditOp::Verify => audit_cmd::verify(&open_db().await?, account).await,
        AuditOp::Heads { json } => {
            let db = open_db().await?;
            let acc = settings.account.as_str();
            let recorded = passerelle_adapters::store::chain::recorded_heads(&db, acc).await?;
            let current = passerelle_adapters::store::chain::heads(&db, Some(acc)).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "recorded": recorded,
                        "current": current.first().map(|h| json!({"link_no": h.link_no, "hash": h.hash})),
                    }))?
                );
            } else {
                for h in &recorded {
                    println!(
                        "{}  {} {:>8}  {}",
                        h.day,
                        t("maillon", "link"),
                        h.link_no,
                        h.hash
                    );
                }
                if let Some(h) = current.first() {
                    println!(
                        "{}  {} {:>8}  {}",
                        t("actuelle", "current"),
                        t("maillon", "link"),
                        h.link_no,
                        h.hash
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditOp::Export { from, to, out } => {
            let key = signing_key()?;
            let (from, to) = (
                audit_cmd::window_bound(from, false)?,
                audit_cmd::window_bound(to, true)?,
            );
            if from >= to {
                return Err(usage("--from doit précéder --to"));
            }
            let db = open_db().await?;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(out)
                .map_err(|e| {
                    usage(format!(
                        "{} : {e} (le fichier ne doit pas exister)",
                        out.display()
                    ))
                })?;
            let mut w = std::io::BufWriter::new(file);
            let report = audit_cmd::export(&db, &key, account, from, to, &mut w).await?;
            println!(
                "{} {} : {} {}, {} {}",
                t("paquet d'audit écrit", "audit bundle written"),
                out.display(),
                report.segments,
                t("segment(s) signé(s)", "signed segment(s)"),
                report.links,
                t("maillon(s)", "link(s)")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn passerelle_domain_event_type(e: &RunEvent) -> String {
    cqrs_es::DomainEvent::event_type(e)
}

fn describe(spec: &serde_json::Value) -> String {
    let start = spec
        .get("start")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .replace('T', " ");
    let start: String = start.chars().take(16).collect();
    let kind = spec
        .pointer("/trigger/kind")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let every = match kind {
        "daily" => format!(
            "{}j",
            spec.pointer("/trigger/every_days")
                .and_then(|v| v.as_u64())
                .unwrap_or(1)
        ),
        "weekly" => format!(
            "{}sem",
            spec.pointer("/trigger/every_weeks")
                .and_then(|v| v.as_u64())
                .unwrap_or(1)
        ),
        _ => "mensuel".into(),
    };
    match spec.pointer("/repeat/every").and_then(|v| v.as_str()) {
        Some(r) => format!(
            "{start} {every} ↻{}",
            r.replace("minutes_", "").replace("hours_", "h")
        ),
        None => format!("{start} {every}"),
    }
}

async fn schedule_op(
    settings: &Settings,
    acc: &AccountId,
    op: &ScheduleOp,
) -> anyhow::Result<ExitCode> {
    let app = App::open(settings).await?;
    let store = SqlScheduleStore::new(app.db.clone());
    let now = chrono::Utc::now();
    let actor = Actor::Cli;
    let (id, cmd) = match op {
        ScheduleOp::Create {
            profile,
            action,
            timing,
        } => {
            let action: SyncAction = action
                .parse()
                .map_err(|e: passerelle_domain::action::UnknownAction| usage(e.to_string()))?;
            let profile_id = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            ensure_platform_can(&app, acc, &profile_id, action).await?;
            let id = uuid::Uuid::now_v7().to_string();
            (
                id,
                ScheduleCommand::Create {
                    profile_id,
                    action,
                    spec: timing.spec()?,
                    time_zone: timing.time_zone.clone(),
                    now,
                },
            )
        }
        ScheduleOp::Edit { id, timing } => (
            id.clone(),
            ScheduleCommand::Change {
                spec: timing.spec()?,
                time_zone: timing.time_zone.clone(),
                now,
            },
        ),
        ScheduleOp::Pause { id } => (id.clone(), ScheduleCommand::Pause),
        ScheduleOp::Resume { id } => (id.clone(), ScheduleCommand::Resume { now }),
        ScheduleOp::Delete { id } => (id.clone(), ScheduleCommand::Delete),
        ScheduleOp::History { id } => {
            for (seq, ty, payload) in store.history(acc, id).await? {
                println!("#{seq:<4} {ty:<16} {payload}");
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    match store.execute(acc, &id, cmd, actor, now).await {
        Ok(_) => {
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(passerelle_adapters::store::ScheduleStoreError::Refused(r)) => {
            Err(usage(r.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn notifications_op(
    settings: &Settings,
    acc: &AccountId,
    op: &NotificationsOp,
) -> anyhow::Result<ExitCode> {
    use passerelle_adapters::mail::{NotificationSettings, TlsMode};
    let app = App::open(settings).await?;
    match op {
        NotificationsOp::Set {
            profile,
            smtp_host,
            smtp_port,
            tls,
            smtp_user,
            from,
            recipients,
            subject,
            after_orders,
            after_quotes,
            on_success,
            on_failure,
            attach_log,
        } => {
            let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            let tls = match tls.as_str() {
                "none" => TlsMode::None,
                "starttls" => TlsMode::StartTls,
                "tls" => TlsMode::Tls,
                other => {
                    return Err(usage(format!(
                        "--tls invalide : {other} (none, starttls, tls)"
                    )))
                }
            };
            let settings = NotificationSettings {
                smtp_host: smtp_host.clone(),
                smtp_port: *smtp_port,
                smtp_user: smtp_user.clone(),
                smtp_password: None,
                tls,
                from: from.clone(),
                subject: subject.clone(),
                recipients: recipients.clone(),
                after_orders_created: *after_orders,
                after_quotes_created: *after_quotes,
                on_success: *on_success,
                on_failure: *on_failure,
                attach_log: *attach_log,
            };
            match crate::notify::save_settings(&app.db, acc, &profile, settings, "cli").await {
                Ok(()) => {
                    println!("Notifications enregistrées pour {profile}.");
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::notify::SaveError::Invalid(e)) => Err(usage(e.to_string())),
                Err(e) => Err(e.into()),
            }
        }
        NotificationsOp::Show { profile } => {
            let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
            match crate::notify::load_settings(&app.db, acc, &profile).await? {
                Some(s) => println!("{}", serde_json::to_string_pretty(&s)?),
                None => println!("(aucune notification pour {profile})"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A worker id unique on this host.
pub fn worker_id(n: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{host}-{}-{n}", std::process::id())
}

/// The demo-engine backend: the flag, else the test knob, else the default local address.
fn demo_backend(settings: &Settings, flag: &Option<String>) -> String {
    flag.clone()
        .or_else(|| settings.test.demo_backend_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8089".into())
}

async fn worker(
    settings: &Settings,
    workers: usize,
    backend: &str,
    drain: bool,
    metrics_listen: Option<String>,
) -> anyhow::Result<ExitCode> {
    if workers == 0 {
        return Err(usage("--workers doit être au moins 1"));
    }
    crate::metrics::install();
    let app = Arc::new(App::open(settings).await?);
    let (side_stop, side) = side_endpoint(&app, metrics_listen).await;
    let reg = Arc::new(app.registry(backend)?);
    let fault = fault_hook(&settings.test);
    let mut handles = Vec::new();
    let mut flags = Vec::new();
    for n in 0..workers {
        let mut w = Worker::new(
            worker_id(n),
            app.run_store(),
            reg.clone(),
            Arc::new(SystemClock),
            settings.worker_config(),
        )
        .with_notifier(app.notifier());
        if let Some(f) = &fault {
            w = w.with_fault(f.clone());
        }
        flags.push(w.shutdown_flag());
        handles.push(tokio::spawn(async move {
            if drain {
                w.drain().await.map(|_| ())
            } else {
                w.run_until_shutdown().await
            }
        }));
    }
    if !drain {
        eprintln!("{workers} worker(s) démarré(s) ; Ctrl-C pour arrêter.");
        tokio::signal::ctrl_c().await.context("signal")?;
        eprintln!("Arrêt demandé : fin de l'étape en cours…");
        for f in &flags {
            f.store(true, Ordering::SeqCst);
        }
    }
    for h in handles {
        h.await.context("worker")??;
    }
    let _ = side_stop.send(());
    if let Some(h) = side {
        let _ = h.await;
    }
    app.projector.catch_up().await?;
    Ok(ExitCode::SUCCESS)
}

/// `/metrics`, `/health`, `/ready` of `worker` / `scheduler` on `listen` (process metrics
/// only); the sender stops it gracefully.
async fn side_endpoint(
    app: &Arc<App>,
    listen: Option<String>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    Option<tokio::task::JoinHandle<()>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = match listen {
        Some(addr) => {
            let ops = crate::health::Ops::new(app.clone(), false);
            crate::health::serve_side(ops, &addr, async move {
                let _ = rx.await;
            })
            .await
        }
        None => None,
    };
    (tx, handle)
}

/// Executes `run` in this process until it ends, printing its log live.
async fn execute_live(
    app: &App,
    acc: &AccountId,
    run: RunId,
    worker: &Worker,
) -> anyhow::Result<RunStatus> {
    let store = app.store.clone();
    let acc2 = acc.clone();
    let printer = tokio::spawn(async move {
        // Only new events are read each time (step results left out), so a run of 10,000
        // orders prints its progress live without re-reading its whole stream.
        let mut last = 0i64;
        loop {
            if let Ok(events) = store.load_log_after(&acc2, run, last).await {
                for l in journal::render_log_in(&events, lang()) {
                    println!("  {l}");
                }
                if let Some(e) = events.last() {
                    last = e.sequence;
                }
                if events
                    .iter()
                    .any(|e| matches!(e.event, RunEvent::RunFinished { .. }))
                {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    loop {
        let _ = worker.drain().await?;
        // Only the end event is read: a long run's step results (whole pages of orders)
        // never need to be loaded here.
        let events = app.store.load_end(acc, run).await?;
        if let Some(status) = events.iter().rev().find_map(|e| match &e.event {
            RunEvent::RunFinished { status, .. } => Some(*status),
            _ => None,
        }) {
            let _ = printer.await;
            return Ok(status);
        }
        let wait = match app.store.next_due().await? {
            Some(due) => (due - chrono::Utc::now()).to_std().unwrap_or_default(),
            None => Duration::from_millis(100),
        };
        tokio::time::sleep(wait.clamp(Duration::from_millis(20), Duration::from_secs(5))).await;
    }
}

/// Refuses (exit 2, before anything is queued) an action the profile's shop platform
/// cannot do, with the French reason. A profile that does not exist is left to the caller's
/// own check.
pub async fn ensure_platform_can(
    app: &App,
    acc: &AccountId,
    profile: &ProfileId,
    action: SyncAction,
) -> anyhow::Result<()> {
    let Some(p) = crate::profiles::Profiles::new(app.db.clone())
        .get(acc, profile)
        .await?
    else {
        return Ok(());
    };
    let Some(shop) = p.shop else {
        return Ok(());
    };
    let caps = crate::platforms::capabilities(shop.platform);
    match passerelle_domain::platform::refusal(shop.platform, caps, action) {
        Some(why) => Err(usage(why)),
        None => Ok(()),
    }
}

async fn enqueue(
    app: &App,
    acc: &AccountId,
    profile: ProfileId,
    action: SyncAction,
    input: serde_json::Value,
) -> anyhow::Result<RunId> {
    ensure_platform_can(app, acc, &profile, action).await?;
    let id = RunId::from_uuid(uuid::Uuid::now_v7());
    let out = app
        .store
        .enqueue(NewRun {
            run_id: id,
            account_id: acc.clone(),
            profile_id: profile.clone(),
            action,
            trigger: Trigger::Manual,
            input,
            actor: Actor::Cli,
            requested_at: chrono::Utc::now(),
        })
        .await?;
    match out {
        EnqueueOutcome::Enqueued(id) => Ok(id),
        EnqueueOutcome::AlreadyActive(other) => {
            println!(
                "Une tâche {action} est déjà active pour {profile} : {other} ; elle est reprise."
            );
            Ok(other)
        }
    }
}

/// The actions this version can run (the others are refused with exit 2 / HTTP 400).
pub fn action_available(action: SyncAction) -> bool {
    matches!(
        action,
        SyncAction::DemoEngine
            | SyncAction::ImportOrders
            | SyncAction::ImportQuotes
            | SyncAction::UpdateOrderStatuses
            | SyncAction::SendInvoices
            | SyncAction::ReconcileOrders
    ) || crate::catalog_connectors::AVAILABLE.contains(&action)
        || crate::customer_connectors::AVAILABLE.contains(&action)
}

async fn run_now(
    settings: &Settings,
    acc: &AccountId,
    profile: ProfileId,
    action: SyncAction,
    enqueue_only: bool,
    backend: Option<String>,
    full: bool,
) -> anyhow::Result<ExitCode> {
    if !action_available(action) {
        return Err(usage(format!(
            "l'action {action} n'est pas encore disponible dans cette version (import-orders, import-quotes, update-order-statuses, send-invoices, export-articles, export-new-articles, update-prices, update-stock, activate-articles, export-customers, export-new-customers, deactivate-customers, export-customer-groups, import-prospects, demo-engine)"
        )));
    }
    let app = App::open(settings).await?;
    if action != SyncAction::DemoEngine
        && crate::profiles::Profiles::new(app.db.clone())
            .get(acc, &profile)
            .await?
            .is_none()
    {
        return Err(usage(format!(
            "profil inconnu : {profile} (passerelle profile import FICHIER.toml)"
        )));
    }
    let sim = match (&backend, action) {
        (None, SyncAction::DemoEngine) => Some(
            DemoSim::start(
                SimConfig {
                    items: DemoSim::seed_items(),
                    ..SimConfig::default()
                },
                0,
            )
            .await?,
        ),
        _ => None,
    };
    let url_b = backend.unwrap_or_else(|| sim.as_ref().map(DemoSim::url).unwrap_or_default());
    // Production runs keep their actions' retry policies; only the test knob shortens them.
    let input = settings.test.run_input(json!({"full": full}));
    if enqueue_only {
        let id = enqueue(&app, acc, profile, action, input).await?;
        println!("Tâche {id} ({}) en file.", action.label_fr());
        return Ok(ExitCode::SUCCESS);
    }
    let (_, status) = run_action_with(&app, acc, profile, action, input, &url_b).await?;
    println!("{} : {}", t("Résultat", "Result"), status.label(lang()));
    Ok(if status == RunStatus::Failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Queues a run and executes it in this process, its log printed live; returns its id and
/// final status once the projections caught up.
pub async fn run_action(
    app: &App,
    acc: &AccountId,
    profile: ProfileId,
    action: SyncAction,
    input: serde_json::Value,
) -> anyhow::Result<(RunId, RunStatus)> {
    run_action_with(app, acc, profile, action, input, "http://127.0.0.1:9").await
}

/// [`run_action`] printing nothing (for commands whose output is a `--json` contract):
/// queued, executed in this process, the end status returned.
pub async fn run_quiet(
    app: &App,
    acc: &AccountId,
    profile: ProfileId,
    action: SyncAction,
    input: serde_json::Value,
) -> anyhow::Result<(RunId, RunStatus)> {
    let id = enqueue(app, acc, profile, action, input).await?;
    let w = Worker::new(
        worker_id(0),
        app.run_store(),
        Arc::new(app.registry("http://127.0.0.1:9")?),
        Arc::new(SystemClock),
        app.settings.worker_config(),
    )
    .with_notifier(app.notifier());
    loop {
        let _ = w.drain().await?;
        let events = app.store.load_end(acc, id).await?;
        if let Some(status) = events.iter().rev().find_map(|e| match &e.event {
            RunEvent::RunFinished { status, .. } => Some(*status),
            _ => None,
        }) {
            app.projector.catch_up().await?;
            return Ok((id, status));
        }
        let wait = match app.store.next_due().await? {
            Some(due) => (due - chrono::Utc::now()).to_std().unwrap_or_default(),
            None => Duration::from_millis(100),
        };
        tokio::time::sleep(wait.clamp(Duration::from_millis(20), Duration::from_secs(5))).await;
    }
}

async fn run_action_with(
    app: &App,
    acc: &AccountId,
    profile: ProfileId,
    action: SyncAction,
    input: serde_json::Value,
    demo_backend: &str,
) -> anyhow::Result<(RunId, RunStatus)> {
    let id = enqueue(app, acc, profile, action, input).await?;
    println!(
        "{} {id} ({}) {}",
        t("Tâche", "Run"),
        journal::action_label_in(action.as_str(), lang()),
        t("en file ; exécution :", "queued; running:")
    );
    let mut w = Worker::new(
        worker_id(0),
        app.run_store(),
        Arc::new(app.registry(demo_backend)?),
        Arc::new(SystemClock),
        app.settings.worker_config(),
    )
    .with_notifier(app.notifier());
    if let Some(f) = fault_hook(&app.settings.test) {
        w = w.with_fault(f);
    }
    let status = execute_live(app, acc, id, &w).await?;
    app.projector.catch_up().await?;
    Ok((id, status))
}

/// Prints the account's journal, newest first.
pub async fn show_journal(app: &App, acc: &AccountId, limit: i64) -> anyhow::Result<()> {
    println!("\n{} {acc} :", t("Journal du compte", "Journal of account"));
    let runs = journal::list(
        &app.db,
        acc.as_str(),
        &JournalFilter {
            limit: Some(limit),
            ..Default::default()
        },
    )
    .await?;
    print_journal(&runs);
    Ok(())
}

fn print_journal(runs: &[JournalRun]) {
    if runs.is_empty() {
        println!("{}", t("(aucune tâche)", "(no run)"));
        return;
    }
    println!(
        "{:<36}  {:<18}  {:<37}  {:<19}  {:<19}  {:>5} {:>5} {:>5} {:>5}  {:<10}  message",
        t("tâche", "run"),
        t("profil", "profile"),
        "action",
        t("début", "start"),
        t("fin", "end"),
        "total",
        "ok",
        t("échec", "fail"),
        "ign.",
        t("statut", "status")
    );
    for r in runs {
        let short = |s: &Option<String>| {
            s.as_deref()
                .map(|t| t.replace('T', " ").chars().take(19).collect::<String>())
                .unwrap_or_default()
        };
        println!(
            "{:<36}  {:<18}  {:<37}  {:<19}  {:<19}  {:>5} {:>5} {:>5} {:>5}  {:<10}  {}",
            r.id,
            r.profile,
            journal::action_label_in(&r.action, lang()),
            short(&r.started_at),
            short(&r.finished_at),
            r.counts.total,
            r.counts.succeeded,
            r.counts.failed,
            r.counts.ignored,
            RunStatus::parse(&r.status).map_or(r.status.as_str(), |s| s.label(lang())),
            r.message
        );
    }
}

/// Prints the detail of a run (or one of its files with `file`).
pub async fn run_detail(
    app: &App,
    acc: &AccountId,
    id: RunId,
    json_out: bool,
    file: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let Some(run) = journal::get(&app.db, acc.as_str(), &id.to_string()).await? else {
        return Err(usage(format!(
            "tâche introuvable pour le compte {acc} : {id}"
        )));
    };
    let events = app.store.load_run(acc, id).await?;
    let files = crate::orders_cmd::run_files(&events);
    if let Some(name) = file {
        let Some((_, content)) = files.iter().find(|(n, _)| n == name) else {
            return Err(usage(format!(
                "fichier « {name} » absent de la tâche {id} ({})",
                files
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        print!("{content}");
        return Ok(ExitCode::SUCCESS);
    }
    let log = journal::render_log_in(&events, lang());
    let errors = journal::render_errors_in(&events, lang());
    let duration = match (&run.started_at, &run.finished_at) {
        (Some(s), Some(f)) => {
            let p = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
            match (p(s), p(f)) {
                (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
                _ => None,
            }
        }
        _ => None,
    };
    if json_out {
        let mut v = serde_json::to_value(&run)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("duration_seconds".into(), json!(duration));
            o.insert("progress".into(), json!(run.progress));
            o.insert("log".into(), json!(log));
            o.insert("errors".into(), json!(errors));
            o.insert(
                "files".into(),
                json!(files
                    .iter()
                    .map(|(n, c)| json!({"name": n, "bytes": c.len()}))
                    .collect::<Vec<_>>()),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {}", t("Détail de la tâche", "Run detail"), run.id);
    println!(
        "  {} : {}   action : {}   {} : {}",
        t("profil", "profile"),
        run.profile,
        journal::action_label_in(&run.action, lang()),
        t("déclenchement", "trigger"),
        run.trigger
    );
    println!(
        "  {} : {}   {} : {}   {} : {}   {} : {}",
        t("statut", "status"),
        RunStatus::parse(&run.status).map_or(run.status.as_str(), |s| s.label(lang())),
        t("début", "start"),
        run.started_at.as_deref().unwrap_or("-"),
        t("fin", "end"),
        run.finished_at.as_deref().unwrap_or("-"),
        t("durée", "duration"),
        duration.map_or("-".to_string(), |d| format!("{d:.2} s"))
    );
    match lang() {
        Lang::Fr => println!(
            "  éléments : {} au total, {} réussi(s), {} en échec, {} ignoré(s)",
            run.counts.total, run.counts.succeeded, run.counts.failed, run.counts.ignored
        ),
        Lang::En => println!(
            "  items: {} in all, {} succeeded, {} failed, {} ignored",
            run.counts.total, run.counts.succeeded, run.counts.failed, run.counts.ignored
        ),
    }
    println!("  message : {}", run.message);
    if !files.is_empty() {
        println!(
            "  {} : {}  ({})",
            t("fichiers", "files"),
            files
                .iter()
                .map(|(n, c)| format!("{n} ({} o)", c.len()))
                .collect::<Vec<_>>()
                .join(", "),
            t("run-detail TÂCHE --file NOM", "run-detail RUN --file NAME")
        );
    }
    println!("{}", t("Journal détaillé (UTC) :", "Detailed log (UTC):"));
    for l in &log {
        println!("  {l}");
    }
    if !errors.is_empty() {
        println!("{}", t("Erreurs :", "Errors:"));
        for l in &errors {
            println!("  {l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
