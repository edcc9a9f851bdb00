//! `passerelle what-if PROFILE --settings NEW.toml --from D --to D [--json]` (issue 17.5):
//! the orders already transferred in the window, planned again with the settings of NEW.toml
//! (a file in the format of `passerelle profile export`), compared per order with what was
//! sent.
//!
//! No call to the shop or the ERP: every input of the plan comes from the transferring
//! run's journaled steps ([`crate::recorded`]) — the order as read, the ERP articles and
//! customers looked up, the day and the settings the run resolved. What was sent is that
//! run's plan computed again from the same inputs with its recorded settings (the import is
//! deterministic over its step results, which the replay tests hold it to); an order whose
//! recorded settings no longer give a document is listed under `not_replanned` instead of
//! being diffed against a guess.

use crate::app::App;
use crate::commands::{t, usage};
use crate::profiles::{ProfileFile, Profiles};
use crate::reconcile_cmd::parse_day;
use crate::recorded::RecordedImport;
use chrono::{Duration as ChronoDuration, NaiveDate};
use passerelle_domain::orders::whatif::{self, FieldChange, Planned, Recorded};
use passerelle_domain::orders::{DocumentKind, OrderSettings};
use passerelle_domain::{AccountId, ProfileId, SyncAction};
use passerelle_projections::orders::{transferred_orders, TransferredOrder};
use passerelle_workflows::ports::ShopOrderRead;
use serde::Serialize;
use std::collections::HashMap;
use std::process::ExitCode;

/// One order whose plan changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderDiff {
    /// Shop order id.
    pub order_id: String,
    /// Shop reference.
    pub reference: String,
    /// The ERP document it was sent as.
    pub document: String,
    /// The run that transferred it.
    pub run: String,
    /// The fields that change.
    pub changes: Vec<FieldChange>,
}

/// An order in the window that could not be planned again, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotReplanned {
    /// Shop order id.
    pub order_id: String,
    /// Why (French).
    pub reason: String,
}

/// The what-if result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIfReport {
    /// First day (order creation, UTC).
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Transferred orders of the window planned again.
    pub orders_replanned: usize,
    /// Orders whose plan changes.
    pub orders: Vec<OrderDiff>,
    /// Orders of the ledger that could not be planned again.
    pub not_replanned: Vec<NotReplanned>,
}

/// A run's settings as its plan used them (`import-quotes` keeps its quote statuses only).
fn as_run_planned(settings: &OrderSettings, action: SyncAction) -> OrderSettings {
    let mut s = settings.clone();
    if action == SyncAction::ImportQuotes {
        s.statuses.retain(|r| r.document == DocumentKind::Quote);
    }
    s
}

/// Plans every transferred order of the window again with `new` and diffs (pure: the
/// recorded runs and the ledger are given).
pub fn what_if(
    runs: &[RecordedImport],
    ledger: &[TransferredOrder],
    new: &OrderSettings,
    from: NaiveDate,
    to: NaiveDate,
) -> WhatIfReport {
    let by_run: HashMap<String, &RecordedImport> =
        runs.iter().map(|r| (r.run.to_string(), r)).collect();
    let start = from.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = (to + ChronoDuration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let mut report = WhatIfReport {
        from,
        to,
        orders_replanned: 0,
        orders: Vec::new(),
        not_replanned: Vec::new(),
    };
    let mut skip = |order_id: &str, reason: &str| {
        report.not_replanned.push(NotReplanned {
            order_id: order_id.to_string(),
            reason: reason.to_string(),
        })
    };
    let mut diffs = Vec::new();
    let mut replanned = 0;
    for link in ledger {
        let Some(number) = &link.document_number else {
            continue;
        };
        let Some(run) = by_run.get(&link.run_id) else {
            skip(&link.order_id, "tâche d'import introuvable dans le journal");
            continue;
        };
        let order = match run.order(&link.order_id) {
            Some(ShopOrderRead::Ok(o)) => o,
            _ => {
                skip(
                    &link.order_id,
                    "la commande lue n'est pas enregistrée dans la tâche qui l'a transférée",
                );
                continue;
            }
        };
        if order.created_at < start || order.created_at >= end {
            continue;
        }
        let Some(config) = &run.config else {
            skip(&link.order_id, "configuration de la tâche non enregistrée");
            continue;
        };
        let recorded = Recorded {
            items: &run.items,
            customers: &run.customers,
            today: config.today,
            send_customer_code: config.send_customer_code,
        };
        let before = whatif::plan_order(
            order,
            &as_run_planned(&config.settings, run.action),
            &recorded,
        );
        if !matches!(
            before,
            Planned::Document { .. } | Planned::DayDocument { .. }
        ) {
            skip(
                &link.order_id,
                "replanifiée avec ses réglages d'origine, elle ne donne plus le document envoyé (règles modifiées depuis)",
            );
            continue;
        }
        let after = whatif::plan_order(order, &as_run_planned(new, run.action), &recorded);
        replanned += 1;
        let changes = whatif::diff(&before, &after);
        if !changes.is_empty() {
            diffs.push(OrderDiff {
                order_id: order.id.clone(),
                reference: order.reference.clone(),
                document: number.clone(),
                run: link.run_id.clone(),
                changes,
            });
        }
    }
    report.orders_replanned = replanned;
    report.orders = diffs;
    report
}

/// The settings of a profile file (`profile export` format): its `[import.settings]`.
pub fn settings_of_file(path: &std::path::Path) -> anyhow::Result<OrderSettings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("fichier illisible {} : {e}", path.display())))?;
    let file: ProfileFile = toml::from_str(&text)
        .map_err(|e| usage(format!("profil invalide ({}) : {e}", path.display())))?;
    let import = file.import.ok_or_else(|| {
        usage(format!(
            "{} : section [import] absente (no import settings)",
            path.display()
        ))
    })?;
    Ok(import.settings)
}

/// `passerelle what-if`.
pub async fn cli(
    app: &App,
    acc: &AccountId,
    profile: &str,
    settings_file: &std::path::Path,
    from: &str,
    to: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
    let (from, to) = (parse_day(from, "--from")?, parse_day(to, "--to")?);
    if from > to {
        return Err(usage(format!("période invalide : du {from} au {to}")));
    }
    let new = settings_of_file(settings_file)?;
    if Profiles::new(app.db.clone())
        .get(acc, &profile)
        .await?
        .is_none()
    {
        return Err(usage(format!("profil inconnu : {profile}")));
    }
    app.projector.catch_up().await?;
    let runs = crate::recorded::imports(&app.db, app.store.as_ref(), acc, &profile).await?;
    let ledger = transferred_orders(&app.db, acc.as_str(), profile.as_str()).await?;
    let started = std::time::Instant::now();
    let report = what_if(&runs, &ledger, &new, from, to);
    let took = started.elapsed();
    if json {
        let fields: usize = report.orders.iter().map(|o| o.changes.len()).sum();
        let out = serde_json::json!({
            "profile": profile.as_str(),
            "settings": settings_file.display().to_string(),
            "summary": {
                "from": report.from,
                "to": report.to,
                "orders_replanned": report.orders_replanned,
                "orders_changed": report.orders.len(),
                "fields_changed": fields,
                "not_replanned": report.not_replanned.len(),
            },
            "orders": report.orders,
            "not_replanned": report.not_replanned,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {profile} {} {} ({} {from} {} {to}) — {}",
        t("Simulation du profil", "What-if of profile"),
        t("avec", "with"),
        settings_file.display(),
        t("commandes transférées du", "transferred orders from"),
        t("au", "to"),
        t(
            "sans appel à la boutique ni à l'ERP",
            "no call to the shop or the ERP"
        )
    );
    println!(
        "  {} {} ; {} {} ({:.1} ms)",
        report.orders_replanned,
        t("commande(s) replanifiée(s)", "order(s) planned again"),
        report.orders.len(),
        t("modifiée(s)", "changed"),
        took.as_secs_f64() * 1000.0
    );
    if report.orders.is_empty() {
        println!(
            "  {}",
            t(
                "Aucune différence avec ce qui a été envoyé.",
                "No difference with what was sent."
            )
        );
    }
    for o in &report.orders {
        println!(
            "  - {} {} ({}) → {} {} :",
            t("commande", "order"),
            o.order_id,
            o.reference,
            t("document", "document"),
            o.document
        );
        for c in &o.changes {
            println!(
                "      {} : {} → {}",
                c.field,
                short(&c.before),
                short(&c.after)
            );
        }
    }
    for n in &report.not_replanned {
        println!(
            "  ! {} {} : {}",
            t("commande", "order"),
            n.order_id,
            n.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn short(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::Null => "(absent)".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s
    }
}
