//! Schedule commands, the scheduler loop and timing flags.

use crate::app::App;
use crate::commands::UsageError;
use chrono::{NaiveDateTime, Weekday};
use clap::Args;
use passerelle_adapters::store::SqlScheduleStore;
use passerelle_domain::schedule::{MonthlyOn, Ordinal, Repeat, RepeatEvery, ScheduleSpec, Trigger};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// When a schedule fires (local time of the account's time zone).
#[derive(Debug, Args, Clone)]
pub struct Timing {
    /// Start, local time: `2026-12-01 08:00`.
    #[arg(long)]
    pub start: String,
    /// Every N days.
    #[arg(long, value_name = "N")]
    pub daily: Option<u32>,
    /// Every N weeks (with --on).
    #[arg(long, value_name = "N")]
    pub weekly: Option<u32>,
    /// Weekdays for --weekly or --monthly-weekday: mon,tue,wed,thu,fri,sat,sun.
    #[arg(long, value_name = "DAYS")]
    pub on: Option<String>,
    /// Months for monthly triggers: 1,2,…,12 or `all`.
    #[arg(long, value_name = "MONTHS")]
    pub months: Option<String>,
    /// Days of month: 1,15,last.
    #[arg(long, value_name = "DAYS")]
    pub monthly_days: Option<String>,
    /// Ordinal weekday of the month: first|second|third|fourth|last (with --on).
    #[arg(long, value_name = "ORDINAL")]
    pub monthly_weekday: Option<String>,
    /// Repeat every 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h or 12h…
    #[arg(long, value_name = "EVERY")]
    pub repeat: Option<String>,
    /// …for this long (e.g. 12h, 90m; at most 24h).
    #[arg(long = "for", value_name = "DURATION")]
    pub for_duration: Option<String>,
    /// IANA time zone (default Europe/Paris).
    #[arg(long, default_value = "Europe/Paris")]
    pub time_zone: String,
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

fn minutes(s: &str) -> anyhow::Result<u32> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u32 = n
        .parse()
        .map_err(|_| usage(format!("durée invalide : {s}")))?;
    match unit {
        "m" | "min" => Ok(n),
        "h" => Ok(n * 60),
        _ => Err(usage(format!("durée invalide : {s} (ex. 5m, 2h)"))),
    }
}

fn weekdays(s: &str) -> anyhow::Result<Vec<Weekday>> {
    s.split(',')
        .map(|d| {
            d.trim()
                .parse::<Weekday>()
                .map_err(|_| usage(format!("jour de la semaine invalide : {d}")))
        })
        .collect()
}

impl Timing {
    /// Builds and validates the spec.
    pub fn spec(&self) -> anyhow::Result<ScheduleSpec> {
        let start =
            NaiveDateTime::parse_from_str(self.start.trim(), "%Y-%m-%d %H:%M").map_err(|_| {
                usage(format!(
                    "--start invalide : {} (attendu AAAA-MM-JJ HH:MM)",
                    self.start
                ))
            })?;
        let months = || -> anyhow::Result<Vec<u32>> {
            match self.months.as_deref() {
                None | Some("all") => Ok((1..=12).collect()),
                Some(m) => m
                    .split(',')
                    .map(|x| {
                        x.trim()
                            .parse::<u32>()
                            .map_err(|_| usage(format!("mois invalide : {x}")))
                    })
                    .collect(),
            }
        };
        let trigger = match (self.daily, self.weekly, &self.monthly_days, &self.monthly_weekday) {
            (Some(n), None, None, None) => Trigger::Daily { every_days: n },
            (None, Some(n), None, None) => Trigger::Weekly {
                every_weeks: n,
                weekdays: weekdays(self.on.as_deref().ok_or_else(|| usage("--weekly demande --on"))?)?,
            },
            (None, None, Some(days), None) => {
                let mut list = Vec::new();
                let mut last = false;
                for d in days.split(',') {
                    match d.trim() {
                        "last" | "dernier" => last = true,
                        x => list.push(x.parse::<u32>().map_err(|_| usage(format!("jour du mois invalide : {x}")))?),
                    }
                }
                Trigger::Monthly { months: months()?, on: MonthlyOn::Days { days: list, last } }
            }
            (None, None, None, Some(ord)) => {
                let ordinal = match ord.as_str() {
                    "first" => Ordinal::First,
                    "second" => Ordinal::Second,
                    "third" => Ordinal::Third,
                    "fourth" => Ordinal::Fourth,
                    "last" => Ordinal::Last,
                    other => return Err(usage(format!("ordinal invalide : {other}"))),
                };
                Trigger::Monthly {
                    months: months()?,
                    on: MonthlyOn::Weekday {
                        ordinal,
                        weekdays: weekdays(self.on.as_deref().ok_or_else(|| usage("--monthly-weekday demande --on"))?)?,
                    },
                }
            }
            _ => return Err(usage("choisir un seul déclenchement : --daily, --weekly, --monthly-days ou --monthly-weekday")),
        };
        let repeat = match (&self.repeat, &self.for_duration) {
            (None, None) => None,
            (Some(r), Some(f)) => Some(Repeat {
                every: RepeatEvery::from_minutes(minutes(r)?).ok_or_else(|| {
                    usage(format!(
                        "--repeat invalide : {r} (5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h)"
                    ))
                })?,
                for_duration_minutes: minutes(f)?,
            }),
            _ => return Err(usage("--repeat et --for vont ensemble")),
        };
        let spec = ScheduleSpec {
            start,
            trigger,
            repeat,
        };
        spec.validate().map_err(|e| usage(e.to_string()))?;
        passerelle_domain::schedule::parse_time_zone(&self.time_zone)
            .map_err(|e| usage(e.to_string()))?;
        Ok(spec)
    }
}

/// Runs scheduler ticks until `stop` is set: fires due triggers, sleeps until the next one
/// (at most `poll`).
pub async fn run_scheduler(app: &App, stop: Arc<AtomicBool>, poll: Duration) -> anyhow::Result<()> {
    let store = SqlScheduleStore::new(app.db.clone());
    let mut heads_day: Option<chrono::NaiveDate> = None;
    while !stop.load(Ordering::SeqCst) {
        // Once per UTC day: every account's audit chain head recorded in its log
        // (docs/ARCHITECTURE.md, "Audit"). A failure is retried on the next turn.
        let today = chrono::Utc::now().date_naive();
        if heads_day != Some(today) {
            match passerelle_adapters::store::chain::record_daily_heads(
                &app.db,
                today,
                chrono::Utc::now(),
            )
            .await
            {
                Ok(recorded) => {
                    for (account, h) in recorded {
                        tracing::info!(account = %account, link = h.link_no, hash = %h.hash, "tête de la chaîne d'audit enregistrée");
                    }
                    heads_day = Some(today);
                }
                Err(e) => tracing::warn!(error = %e, "tête de la chaîne d'audit non enregistrée"),
            }
        }
        loop {
            let report = store.tick(chrono::Utc::now(), 200).await?;
            for (id, run, missed) in &report.fired {
                if *missed > 0 {
                    tracing::info!(schedule = %id, run = %run, missed, "rattrapage : une seule tâche pour {missed} déclenchement(s) manqué(s)");
                } else {
                    tracing::info!(schedule = %id, run = %run, "déclenchement");
                }
            }
            for (id, run) in &report.skipped {
                tracing::info!(schedule = %id, running = %run, "déclenchement ignoré : la tâche précédente est encore en cours");
            }
            if report.fired.is_empty() && report.skipped.is_empty() {
                break;
            }
        }
        let wait = match store.next_due().await? {
            Some(due) => (due - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(poll),
            None => poll,
        };
        tokio::time::sleep(wait.max(Duration::from_millis(20))).await;
    }
    Ok(())
}
