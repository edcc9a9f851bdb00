//! Prometheus metrics (`/metrics` of `serve`, `worker` and `scheduler`).
//!
//! Two sources, one text page:
//! * **Process metrics**, recorded where things happen through the `metrics` facade: step
//!   durations, retries and parks by cause, runs claimed and executed, lease renewals and
//!   losses (engine); EBP calls, gate waits and 429s per subscription, SMTP sends (adapters);
//!   and the process basics read from `/proc` at scrape time.
//! * **Fleet metrics**, read from the database at scrape time by `serve` only (so a fleet of
//!   workers does not report them N times): runs started and finished by action and status,
//!   items by outcome, the run queue, projector lag and each EBP subscription's calls today
//!   and budget left. They are the journal's own numbers, so they survive restarts and agree
//!   with `journal --json`.
//!
//! Labels stay bounded: actions, statuses, step names and causes come from the code; the
//! EBP subscription is a SHA-256 prefix of its key; no order id ever; the account only when
//! the operator sets `metrics.per_account_labels`.

use crate::app::App;
use crate::settings::Settings;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::BTreeMap;
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Histogram buckets (seconds): a step is a database write (ms) or a batch of remote calls
/// at EBP's 1 call/s (tens of seconds).
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Installs the process-wide recorder once (later calls return the same handle). `None`
/// when another recorder was installed first (a test harness), in which case `/metrics`
/// renders the fleet metrics only.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        "passerelle_step_duration_seconds",
        Unit::Seconds,
        "Duration of executed steps (recorded results replayed are not counted), by action and step."
    );
    describe_counter!(
        "passerelle_step_retries_total",
        "Transient step failures scheduled for a retry, by action, step and cause (rate_limited, transient)."
    );
    describe_counter!(
        "passerelle_runs_parked_total",
        "Runs parked until a retry is due, by action and cause."
    );
    describe_counter!(
        "passerelle_runs_claimed_total",
        "Runs claimed by this process's workers, by action."
    );
    describe_counter!(
        "passerelle_runs_executed_total",
        "Executions ended in this process, by action and status reached (waiting: parked)."
    );
    describe_counter!(
        "passerelle_lease_renewals_total",
        "Run leases renewed by a heartbeat."
    );
    describe_counter!(
        "passerelle_lease_losses_total",
        "Runs whose lease was lost to another worker."
    );
    describe_counter!(
        "passerelle_ebp_calls_total",
        "EBP API calls sent by this process, by subscription (SHA-256 prefix of its key)."
    );
    describe_counter!(
        "passerelle_ebp_rate_limited_total",
        "EBP answers HTTP 429, by subscription."
    );
    describe_histogram!(
        "passerelle_ebp_gate_wait_seconds",
        Unit::Seconds,
        "Time waited for the subscription's call slot (1 call/s shared by every worker)."
    );
    describe_counter!(
        "passerelle_smtp_sends_total",
        "Notification e-mails, by outcome (sent, failed)."
    );
    describe_counter!(
        "passerelle_runs_started_total",
        "Runs that started, from the journal (serve only), by action."
    );
    describe_counter!(
        "passerelle_runs_finished_total",
        "Runs that finished, from the journal (serve only), by action and status."
    );
    describe_counter!(
        "passerelle_items_total",
        "Items of finished and running runs, from the journal (serve only), by action and outcome."
    );
    describe_gauge!(
        "passerelle_queue_runs",
        "Active runs in the queue by state: due (waiting for a worker), waiting (parked until a retry), leased (running)."
    );
    describe_gauge!(
        "passerelle_queue_oldest_due_age_seconds",
        Unit::Seconds,
        "How long the oldest due run has waited for a worker (0 when none)."
    );
    describe_gauge!(
        "passerelle_projector_lag_events",
        "Events not yet projected by the slowest projection."
    );
    describe_gauge!(
        "passerelle_projector_lag_seconds",
        Unit::Seconds,
        "Age of the oldest event not yet projected."
    );
    describe_gauge!(
        "passerelle_ebp_calls_today",
        "EBP calls counted today (UTC) by the shared gate, by subscription."
    );
    describe_gauge!(
        "passerelle_ebp_daily_budget_remaining",
        "EBP calls left today, by subscription."
    );
    describe_gauge!(
        "passerelle_ebp_daily_budget",
        "EBP calls allowed per subscription and UTC day (setting ebp.daily_budget)."
    );
}

/// Renders the page: refreshes the fleet metrics from the store when `fleet`, the process
/// basics, then the whole registry.
pub async fn render(app: &App, fleet: bool) -> Result<String, passerelle_adapters::store::DbError> {
    let Some(handle) = install() else {
        return Ok(String::new());
    };
    process_basics();
    if fleet {
        refresh_fleet(app).await?;
    }
    handle.run_upkeep();
    Ok(handle.render())
}

async fn refresh_fleet(app: &App) -> Result<(), passerelle_adapters::store::DbError> {
    let per_account = app.settings.per_account_labels;
    let label = |account: &str, mut labels: Vec<(&'static str, String)>| {
        if per_account {
            labels.push(("account", account.to_string()));
        }
        labels
    };
    // Sum the journal's groups into the label sets exported (the account dropped unless
    // asked), then set each counter to its absolute value.
    let mut started: BTreeMap<Vec<(&'static str, String)>, u64> = BTreeMap::new();
    let mut finished = started.clone();
    let mut items = started.clone();
    for t in passerelle_projections::journal::totals(&app.db).await? {
        let action = || ("action", t.action.clone());
        *started
            .entry(label(&t.account, vec![action()]))
            .or_default() += count(t.started);
        if t.finished > 0 {
            *finished
                .entry(label(
                    &t.account,
                    vec![action(), ("status", t.status.clone())],
                ))
                .or_default() += count(t.finished);
        }
        for (outcome, n) in ["succeeded", "failed", "ignored"].iter().zip(t.items) {
            *items
                .entry(label(
                    &t.account,
                    vec![action(), ("outcome", outcome.to_string())],
                ))
                .or_default() += count(n);
        }
    }
    for (name, values) in [
        ("passerelle_runs_started_total", started),
        ("passerelle_runs_finished_total", finished),
        ("passerelle_items_total", items),
    ] {
        for (labels, v) in values {
            metrics::counter!(name, to_labels(&labels)).absolute(v);
        }
    }

    let now = chrono::Utc::now();
    let mut depth: BTreeMap<Vec<(&'static str, String)>, f64> = BTreeMap::new();
    let mut oldest_due: BTreeMap<Vec<(&'static str, String)>, f64> = BTreeMap::new();
    for state in ["due", "waiting", "leased"] {
        depth.insert(label("", vec![("state", state.to_string())]), 0.0);
    }
    if !per_account {
        oldest_due.insert(Vec::new(), 0.0);
    }
    for g in app.db.queue_groups(now.timestamp_millis()).await? {
        *depth
            .entry(label(&g.account, vec![("state", g.state.to_string())]))
            .or_default() += g.runs as f64;
        if g.state == "due" {
            let age = g
                .oldest_due_ms
                .map_or(0.0, |d| (now.timestamp_millis() - d).max(0) as f64 / 1000.0);
            let e = oldest_due.entry(label(&g.account, Vec::new())).or_default();
            *e = e.max(age);
        }
    }
    for (labels, v) in depth {
        metrics::gauge!("passerelle_queue_runs", to_labels(&labels)).set(v);
    }
    for (labels, v) in oldest_due {
        metrics::gauge!(
            "passerelle_queue_oldest_due_age_seconds",
            to_labels(&labels)
        )
        .set(v);
    }

    let names: Vec<&str> = app
        .projector
        .projections()
        .iter()
        .map(|p| p.name())
        .collect();
    let lag = app.db.projector_lag(&names).await?;
    metrics::gauge!("passerelle_projector_lag_events").set(lag.events as f64);
    metrics::gauge!("passerelle_projector_lag_seconds").set(lag.seconds as f64);

    let budget = app.settings.ebp_daily_budget;
    metrics::gauge!("passerelle_ebp_daily_budget").set(budget as f64);
    let today = now.format("%Y-%m-%d").to_string();
    for g in app.db.gate_usage().await? {
        // The gate resets a subscription's count on its first call of a new day: a row
        // from an earlier day means no call yet today.
        let calls = if g.day == today { count(g.calls) } else { 0 };
        let sub = [("subscription", g.subscription.clone())];
        metrics::gauge!("passerelle_ebp_calls_today", &sub).set(calls as f64);
        metrics::gauge!("passerelle_ebp_daily_budget_remaining", &sub)
            .set(budget.saturating_sub(calls) as f64);
    }
    Ok(())
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_labels(labels: &[(&'static str, String)]) -> Vec<metrics::Label> {
    labels
        .iter()
        .map(|(k, v)| metrics::Label::new(*k, v.clone()))
        .collect()
}

/// CPU time, resident memory, open and allowed file descriptors, threads and start time,
/// from `/proc/self` (Linux; absent elsewhere). Names follow Prometheus's process
/// collector so the usual dashboards work.
fn process_basics() {
    #[cfg(target_os = "linux")]
    {
        // USER_HZ is 100 on every Linux ABI the binary is built for.
        const TICKS: f64 = 100.0;
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name (which may hold spaces) start at field 3.
            if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                // utime = field 14, stime = 15, threads = 20, starttime = 22 (1-based).
                let cpu = (num(11) + num(12)) / TICKS;
                // A gauge: the facade's counters are integers and CPU time is not.
                metrics::gauge!("process_cpu_seconds_total").set(cpu);
                metrics::gauge!("process_threads").set(num(17));
                if let Some(boot) = boot_time() {
                    metrics::gauge!("process_start_time_seconds").set(boot + num(19) / TICKS);
                }
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
            {
                metrics::gauge!("process_resident_memory_bytes").set(kb * 1024.0);
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            metrics::gauge!("process_open_fds").set(dir.count() as f64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            if let Some(max) = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
            {
                metrics::gauge!("process_max_fds").set(max);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether this process exports the fleet metrics: `serve` does; `worker` and `scheduler`
/// export their own process metrics only.
pub fn fleet_for(command: &crate::cli::Command) -> bool {
    matches!(command, crate::cli::Command::Serve { .. })
}

/// The listen address of the metrics endpoint of `worker` / `scheduler`, `None` when off.
pub fn side_listen(settings: &Settings, command: &crate::cli::Command) -> Option<String> {
    let addr = match command {
        crate::cli::Command::Worker { .. } => &settings.worker_metrics_listen,
        crate::cli::Command::Scheduler { .. } => &settings.scheduler_metrics_listen,
        _ => return None,
    };
    Settings::listen_or_off(addr).map(str::to_string)
}
