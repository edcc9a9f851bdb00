//! When a scheduled task fires: the pure computation behind *tâches planifiées*.
//!
//! A [`ScheduleSpec`] is written in the account's **local wall-clock time** (default
//! Europe/Paris): "every day at 08:00", "every 2 weeks on Monday and Thursday at 09:00",
//! "on the last Friday of each month at 18:30, then every 15 min for 2 h". The scheduler
//! asks [`ScheduleSpec::next_after`] for the next instant and stores it in UTC. Nothing here
//! reads the clock or does IO: the caller passes the time zone and the instant to search
//! after, so every rule is testable and replayable.
//!
//! # How fire times are found
//!
//! 1. A *day* matches when the trigger says so, in local dates: daily every N days counted
//!    from the start date; weekly every N weeks counted from the (Monday-based) week of the
//!    start date, on the chosen weekdays; monthly in the chosen months, on the chosen day
//!    numbers (a number a month does not have — 31 in April, 30 in February — is skipped
//!    for that month), on its last day when `last` is set, or on the
//!    first/second/third/fourth/last chosen weekday of the month. Days before the start
//!    date never match.
//! 2. A matching day opens a *window*: it fires at the start's time of day and, when
//!    [`Repeat`] is set, every interval after it while the elapsed wall-clock time is
//!    strictly less than the duration. A window may cross midnight: its after-midnight
//!    fires belong to the day that opened it, even when the next day does not match.
//! 3. Each local fire time is mapped to UTC by the DST rule below; the answer is the
//!    earliest mapped instant strictly after `after` and not before the (mapped) start.
//!
//! # DST rule
//!
//! - **Gap (spring forward).** A local time that does not exist — e.g. 02:30 on the last
//!   Sunday of March in Europe/Paris, when clocks jump from 02:00 to 03:00 — fires at the
//!   first instant after the gap (03:00 local, 01:00 UTC), once.
//! - **Fold (fall back).** A local time that exists twice — e.g. 02:30 on the last Sunday
//!   of October in Europe/Paris — fires once, at its **first** occurrence (02:30 CEST,
//!   00:30 UTC); the second occurrence (02:30 CET, 01:30 UTC) does not fire.
//! - **Repeat windows** advance in local wall-clock steps (08:00, 08:30, 09:00, … as read
//!   on the wall), each step mapped with the same two rules. Several steps that map to the
//!   same UTC instant (every step inside a gap lands on the gap's end, as does the step
//!   exactly at the end of the gap) fire **once**: the result is a set of UTC instants,
//!   never two fires at the same instant. In a fold the window therefore fires through the
//!   first pass of the repeated hour and skips its second pass; in a gap the window loses
//!   the missing hour's steps except one at the gap's end.
//!
//! The mapping from local to UTC under these rules never goes backwards (a later local
//! time never maps to an earlier instant), which is what lets the search below stop at
//! the first instant it finds.
//!
//! # Cost
//!
//! The search walks **days**, not minutes, from the day before `after` (the earliest
//! whose window can still fire after it) for at most [`SEARCH_HORIZON_DAYS`] days,
//! jumping over months not chosen and over days or weeks off the every-N count; inside a
//! matching day's window it binary-searches the first step after `after`. A schedule with
//! no fire within the horizon (e.g. every 1,000 weeks) has no next instant.

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How far [`ScheduleSpec::next_after`] looks ahead, in days (eight years, leap days included).
pub const SEARCH_HORIZON_DAYS: u32 = 8 * 366;

/// Longest repeat window, in minutes (one day).
pub const MAX_REPEAT_MINUTES: u32 = 1440;

/// When a scheduled task fires, in the account's local wall-clock time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// First possible fire, in local wall-clock time of the account's time zone. Its time of
    /// day is the fire time of every matching day; its date is where day and week counts
    /// start and before which nothing fires.
    pub start: NaiveDateTime,
    /// Which days fire.
    pub trigger: Trigger,
    /// Optional repetition within a matching day (may run past midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
}

/// Which local days fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// Every `every_days` days, counted from the start date.
    Daily {
        /// Number of days between two fires (≥ 1).
        every_days: u32,
    },
    /// Every `every_weeks` weeks, counted from the Monday-based week holding the start
    /// date, on each chosen weekday.
    Weekly {
        /// Number of weeks between two fired weeks (≥ 1).
        every_weeks: u32,
        /// Weekdays that fire in a fired week (not empty).
        weekdays: Vec<Weekday>,
    },
    /// In the chosen months, on the days chosen by `on`.
    Monthly {
        /// Months that fire, 1 (January) to 12 (December); not empty.
        months: Vec<u32>,
        /// Which days of those months fire.
        on: MonthlyOn,
    },
}

/// Which days of a chosen month fire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonthlyOn {
    /// Day numbers, plus optionally the month's last day.
    Days {
        /// Day numbers 1 to 31; a number the month does not have is skipped for that month.
        days: Vec<u32>,
        /// Also fire on the month's last day (28, 29, 30 or 31).
        last: bool,
    },
    /// The n-th (or last) occurrence of each chosen weekday in the month.
    Weekday {
        /// Which occurrence.
        ordinal: Ordinal,
        /// Weekdays to fire on (not empty); each fires on its own n-th occurrence.
        weekdays: Vec<Weekday>,
    },
}

/// Which occurrence of a weekday in a month. There is no "fifth": it does not exist in
/// every month, and *last* covers the need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordinal {
    /// Days 1–7.
    First,
    /// Days 8–14.
    Second,
    /// Days 15–21.
    Third,
    /// Days 22–28.
    Fourth,
    /// The last seven days of the month.
    Last,
}

/// Repetition inside a matching day: fire every `every` while less than
/// `for_duration_minutes` have elapsed since the day's start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    /// Interval between two fires of the window.
    pub every: RepeatEvery,
    /// Length of the window in minutes, 1 to 1440 and at least `every`. The window is
    /// half-open: every 5 min for 720 min from 08:00 fires 08:00 … 19:55, not 20:00.
    pub for_duration_minutes: u32,
}

/// The repeat intervals the product offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RepeatEvery {
    /// Every 5 minutes.
    #[serde(rename = "minutes_5")]
    Minutes5,
    /// Every 10 minutes.
    #[serde(rename = "minutes_10")]
    Minutes10,
    /// Every 15 minutes.
    #[serde(rename = "minutes_15")]
    Minutes15,
    /// Every 30 minutes.
    #[serde(rename = "minutes_30")]
    Minutes30,
    /// Every hour.
    #[serde(rename = "hours_1")]
    Hours1,
    /// Every 2 hours.
    #[serde(rename = "hours_2")]
    Hours2,
    /// Every 3 hours.
    #[serde(rename = "hours_3")]
    Hours3,
    /// Every 6 hours.
    #[serde(rename = "hours_6")]
    Hours6,
    /// Every 12 hours.
    #[serde(rename = "hours_12")]
    Hours12,
}

impl RepeatEvery {
    /// Every interval, shortest first (for pickers).
    pub const ALL: [RepeatEvery; 9] = [
        RepeatEvery::Minutes5,
        RepeatEvery::Minutes10,
        RepeatEvery::Minutes15,
        RepeatEvery::Minutes30,
        RepeatEvery::Hours1,
        RepeatEvery::Hours2,
        RepeatEvery::Hours3,
        RepeatEvery::Hours6,
        RepeatEvery::Hours12,
    ];

    /// The interval in minutes.
    pub fn minutes(self) -> u32 {
        match self {
            RepeatEvery::Minutes5 => 5,
            RepeatEvery::Minutes10 => 10,
            RepeatEvery::Minutes15 => 15,
            RepeatEvery::Minutes30 => 30,
            RepeatEvery::Hours1 => 60,
            RepeatEvery::Hours2 => 120,
            RepeatEvery::Hours3 => 180,
            RepeatEvery::Hours6 => 360,
            RepeatEvery::Hours12 => 720,
        }
    }

    /// The interval of that many minutes, if the product offers it.
    pub fn from_minutes(minutes: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.minutes() == minutes)
    }
}

/// Why a schedule or a time zone is refused. All are user input errors: refuse the
/// schedule (or setting) and show the message; retrying the same input cannot succeed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// "Every N days" with N = 0. Refuse; ask for at least 1.
    #[error("nombre de jours invalide : {0} (every N days must be at least 1)")]
    InvalidEveryDays(u32),
    /// "Every N weeks" with N = 0. Refuse; ask for at least 1.
    #[error("nombre de semaines invalide : {0} (every N weeks must be at least 1)")]
    InvalidEveryWeeks(u32),
    /// No weekday chosen for a weekly or n-th-weekday trigger. Refuse; ask for one.
    #[error("aucun jour de la semaine choisi (no weekday chosen)")]
    NoWeekday,
    /// No month chosen for a monthly trigger. Refuse; ask for one.
    #[error("aucun mois choisi (no month chosen)")]
    NoMonth,
    /// Neither a day number nor *last* chosen for a monthly trigger. Refuse; ask for one.
    #[error("aucun jour du mois choisi (no day of month chosen)")]
    NoDayOfMonth,
    /// A month outside 1–12. Refuse; the value is in the message.
    #[error("mois invalide : {0} (invalid month)")]
    InvalidMonth(u32),
    /// A day of month outside 1–31. Refuse; the value is in the message.
    #[error("jour du mois invalide : {0} (invalid day of month)")]
    InvalidDayOfMonth(u32),
    /// A repeat duration outside 1–1440 minutes. Refuse; the value is in the message.
    #[error("durée de répétition invalide : {0} min (repeat duration must be 1 to 1440 minutes)")]
    InvalidRepeatDuration(u32),
    /// A repeat duration shorter than its interval (it would never repeat). Refuse.
    #[error(
        "durée de répétition plus courte que l'intervalle : {duration_minutes} min < {every_minutes} min \
         (repeat duration shorter than the repeat interval)"
    )]
    RepeatShorterThanInterval {
        /// The requested duration, in minutes.
        duration_minutes: u32,
        /// The requested interval, in minutes.
        every_minutes: u32,
    },
    /// A time zone name the IANA database does not know. Refuse the setting.
    #[error("fuseau horaire inconnu : {0} (unknown time zone)")]
    UnknownTimeZone(String),
}

/// The time zone of an account that did not choose one.
pub fn default_time_zone() -> Tz {
    chrono_tz::Europe::Paris
}

/// Parses an IANA time zone name such as `Europe/Paris` (surrounding spaces ignored).
pub fn parse_time_zone(s: &str) -> Result<Tz, ScheduleError> {
    let name = s.trim();
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))
}

impl ScheduleSpec {
    /// Checks the spec can be saved: every N ≥ 1, non-empty weekday/month/day choices,
    /// days 1–31, months 1–12, repeat duration 1–1440 minutes and at least the interval.
    /// Returns the first problem found.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match &self.trigger {
            Trigger::Daily { every_days } => {
                if *every_days == 0 {
                    return Err(ScheduleError::InvalidEveryDays(*every_days));
                }
            }
            Trigger::Weekly {
                every_weeks,
                weekdays,
            } => {
                if *every_weeks == 0 {
                    return Err(ScheduleError::InvalidEveryWeeks(*every_weeks));
                }
                if weekdays.is_empty() {
                    return Err(ScheduleError::NoWeekday);
                }
            }
            Trigger::Monthly { months, on } => {
                if months.is_empty() {
                    return Err(ScheduleError::NoMonth);
                }
                if let Some(&bad) = months.iter().find(|m| !(1..=12).contains(*m)) {
                    return Err(ScheduleError::InvalidMonth(bad));
                }
                match on {
                    MonthlyOn::Days { days, last } => {
                        if days.is_empty() && !last {
                            return Err(ScheduleError::NoDayOfMonth);
                        }
                        if let Some(&bad) = days.iter().find(|d| !(1..=31).contains(*d)) {
                            return Err(ScheduleError::InvalidDayOfMonth(bad));
                        }
                    }
                    MonthlyOn::Weekday { weekdays, .. } => {
                        if weekdays.is_empty() {
                            return Err(ScheduleError::NoWeekday);
                        }
                    }
                }
            }
        }
        if let Some(repeat) = &self.repeat {
            let duration = repeat.for_duration_minutes;
            if !(1..=MAX_REPEAT_MINUTES).contains(&duration) {
                return Err(ScheduleError::InvalidRepeatDuration(duration));
            }
            let every = repeat.every.minutes();
            if duration < every {
                return Err(ScheduleError::RepeatShorterThanInterval {
                    duration_minutes: duration,
                    every_minutes: every,
                });
            }
        }
        Ok(())
    }

    /// The first fire instant strictly after `after` and not before `start`, with local
    /// times read in `tz` under the module's DST rule.
    ///
    /// `None` when the spec is invalid (see [`ScheduleSpec::validate`]; callers validate on
    /// save) or when nothing fires within [`SEARCH_HORIZON_DAYS`] days of the search start.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.validate().is_err() {
            return None;
        }
        let start_utc = local_to_utc(tz, self.start)?;
        let start_date = self.start.date();
        let (step_minutes, steps) = match &self.repeat {
            Some(r) => {
                let every = r.every.minutes();
                (every, r.for_duration_minutes.div_ceil(every))
            }
            None => (0, 1),
        };
        let after_date = after.with_timezone(&tz).date_naive();
        // A window lasts at most 1440 minutes from a time of day before 24:00, so the day
        // before `after`'s local date is the earliest whose window can still fire after
        // it: any fire of an earlier day is at a local time before `after`'s local date,
        // hence (the mapping being monotone) at or before `after`.
        let mut day = after_date.pred_opt().unwrap_or(after_date).max(start_date);
        let horizon = day.checked_add_days(Days::new(u64::from(SEARCH_HORIZON_DAYS)))?;
        let is_due = |at: DateTime<Utc>| at > after && at >= start_utc;
        loop {
            day = self.trigger.skip_to_candidate(start_date, day)?;
            if day >= horizon {
                return None;
            }
            if self.trigger.matches(start_date, day) {
                let window_start = day.and_time(self.start.time());
                if let Some(at) = first_due_in_window(tz, window_start, step_minutes, steps, is_due)
                {
                    return Some(at);
                }
            }
            day = day.succ_opt()?;
        }
    }
}

impl Trigger {
    /// The first day from `day` (not before `start_date`) that can match, skipping whole
    /// stretches that cannot: days off the every-N-days count, weeks off the every-N-weeks
    /// count, months not chosen. Keeps sparse schedules (one month a year, every 4 weeks)
    /// as cheap as daily ones. `None` past the end of the calendar.
    fn skip_to_candidate(&self, start_date: NaiveDate, day: NaiveDate) -> Option<NaiveDate> {
        match self {
            Trigger::Daily { every_days } => {
                let every = i64::from((*every_days).max(1));
                let late = (day - start_date).num_days().rem_euclid(every);
                if late == 0 {
                    Some(day)
                } else {
                    day.checked_add_days(Days::new(u64::try_from(every - late).ok()?))
                }
            }
            Trigger::Weekly { every_weeks, .. } => {
                let every = i64::from((*every_weeks).max(1));
                let monday = monday_of(day);
                let late = ((monday - monday_of(start_date)).num_days() / 7).rem_euclid(every);
                if late == 0 {
                    Some(day)
                } else {
                    monday.checked_add_days(Days::new(u64::try_from((every - late) * 7).ok()?))
                }
            }
            Trigger::Monthly { months, .. } => {
                let mut candidate = day;
                // At most 12 steps: validation guarantees a chosen month exists.
                for _ in 0..12 {
                    if months.contains(&candidate.month()) {
                        return Some(candidate);
                    }
                    candidate = first_of_next_month(candidate)?;
                }
                None
            }
        }
    }

    /// Whether local date `day` (not before `start_date`) opens a window.
    fn matches(&self, start_date: NaiveDate, day: NaiveDate) -> bool {
        if day < start_date {
            return false;
        }
        match self {
            Trigger::Daily { every_days } => {
                let elapsed = (day - start_date).num_days();
                elapsed % i64::from((*every_days).max(1)) == 0
            }
            Trigger::Weekly {
                every_weeks,
                weekdays,
            } => {
                let weeks = (monday_of(day) - monday_of(start_date)).num_days() / 7;
                weeks % i64::from((*every_weeks).max(1)) == 0 && weekdays.contains(&day.weekday())
            }
            Trigger::Monthly { months, on } => months.contains(&day.month()) && on.matches(day),
        }
    }
}

impl MonthlyOn {
    /// Whether `day` is one of the chosen days of its month.
    fn matches(&self, day: NaiveDate) -> bool {
        let last_day = last_day_of_month(day);
        match self {
            MonthlyOn::Days { days, last } => {
                days.contains(&day.day()) || (*last && day.day() == last_day)
            }
            MonthlyOn::Weekday { ordinal, weekdays } => {
                weekdays.contains(&day.weekday())
                    && match ordinal {
                        Ordinal::First => day.day() <= 7,
                        Ordinal::Second => (8..=14).contains(&day.day()),
                        Ordinal::Third => (15..=21).contains(&day.day()),
                        Ordinal::Fourth => (22..=28).contains(&day.day()),
                        Ordinal::Last => day.day() + 7 > last_day,
                    }
            }
        }
    }
}

/// The Monday opening `day`'s week.
fn monday_of(day: NaiveDate) -> NaiveDate {
    day - TimeDelta::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The 1st of the month after `day`'s.
fn first_of_next_month(day: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// 28, 29, 30 or 31.
fn last_day_of_month(day: NaiveDate) -> u32 {
    first_of_next_month(day)
        .and_then(|first_of_next| first_of_next.pred_opt())
        .map_or(31, |last| last.day())
}

/// The first step of the window opened at `window_start` whose instant satisfies
/// `is_due`, found by binary search: `is_due` is monotone along the window because the
/// local-to-UTC mapping never goes backwards.
fn first_due_in_window(
    tz: Tz,
    window_start: NaiveDateTime,
    step_minutes: u32,
    steps: u32,
    is_due: impl Fn(DateTime<Utc>) -> bool,
) -> Option<DateTime<Utc>> {
    let fire = |k: u32| {
        let local = window_start + TimeDelta::minutes(i64::from(step_minutes) * i64::from(k));
        local_to_utc(tz, local)
    };
    let mut hi = steps.checked_sub(1)?;
    if !is_due(fire(hi)?) {
        return None;
    }
    let mut lo = 0;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if is_due(fire(mid)?) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    fire(lo)
}

/// Maps a local wall-clock time to UTC by the module's DST rule: the earlier of two
/// occurrences in a fold, the first instant after the gap for a time inside a gap.
fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local).earliest() {
        Some(at) => Some(at.with_timezone(&Utc)),
        None => end_of_gap(tz, local),
    }
}

/// The first instant whose local time is after `local`, which lies in a gap: the instant
/// the clocks jumped. Binary search over whole seconds (transitions fall on whole seconds)
/// between two bounds no UTC offset can cross (±26 h); about 17 steps, and gaps are rare.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const MARGIN_SECONDS: i64 = 26 * 3600;
    let local_after = |seconds: i64| {
        DateTime::<Utc>::from_timestamp(seconds, 0)
            .map(|at| at.with_timezone(&tz).naive_local() > local)
    };
    let pivot = local.and_utc().timestamp();
    // Invariant: the local time at `lo` is not after `local`, the one at `hi` is.
    let (mut lo, mut hi) = (pivot - MARGIN_SECONDS, pivot + MARGIN_SECONDS);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_after(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::<Utc>::from_timestamp(hi, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Weekday::*};

    const PARIS: Tz = chrono_tz::Europe::Paris;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, min, 0))
            .expect("valid local date-time")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("RFC 3339 instant")
            .with_timezone(&Utc)
    }

    fn spec(start: NaiveDateTime, trigger: Trigger) -> ScheduleSpec {
        ScheduleSpec {
            start,
            trigger,
            repeat: None,
        }
    }

    fn every_month() -> Vec<u32> {
        (1..=12).collect()
    }

    /// The next `n` fires after `after`, each searched from the previous one.
    fn fires(spec: &ScheduleSpec, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = after;
        while out.len() < n {
            let next = spec.next_after(tz, cursor).expect("a next fire");
            out.push(next);
            cursor = next;
        }
        out
    }

    fn instants(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|s| utc(s)).collect()
    }

    #[test]
    fn daily_every_day_fires_at_the_start_time_each_day() {
        // given: every day at 07:30 Paris (CET, UTC+1) from Monday 2026-01-05
        let s = spec(local(2026, 1, 5, 7, 30), Trigger::Daily { every_days: 1 });
        // when / then: from before the start
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-01T00:00:00Z"), 3),
            instants(&[
                "2026-01-05T06:30:00Z",
                "2026-01-06T06:30:00Z",
                "2026-01-07T06:30:00Z",
            ])
        );
        // and from the middle of a day
        assert_eq!(
            s.next_after(PARIS, utc("2026-01-06T10:00:00Z")),
            Some(utc("2026-01-07T06:30:00Z"))
        );
    }

    #[test]
    fn daily_every_three_days_counts_from_the_start_date() {
        // given: every 3 days at 06:15 from 2026-01-30
        let s = spec(local(2026, 1, 30, 6, 15), Trigger::Daily { every_days: 3 });
        // when / then: 30 Jan, 2 Feb, 5 Feb, 8 Feb (across the month end)
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-01T00:00:00Z"), 4),
            instants(&[
                "2026-01-30T05:15:00Z",
                "2026-02-02T05:15:00Z",
                "2026-02-05T05:15:00Z",
                "2026-02-08T05:15:00Z",
            ])
        );
        // and a day between two fires does not fire
        assert_eq!(
            s.next_after(PARIS, utc("2026-02-03T00:00:00Z")),
            Some(utc("2026-02-05T05:15:00Z"))
        );
    }

    #[test]
    fn weekly_every_two_weeks_on_monday_and_thursday() {
        // given: start Wednesday 2026-01-07 09:00; its week begins Monday 2026-01-05
        let s = spec(
            local(2026, 1, 7, 9, 0),
            Trigger::Weekly {
                every_weeks: 2,
                weekdays: vec![Mon, Thu],
            },
        );
        // when / then: Mon 5 Jan is before the start; week of 12 Jan is skipped
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-01T00:00:00Z"), 5),
            instants(&[
                "2026-01-08T08:00:00Z",
                "2026-01-19T08:00:00Z",
                "2026-01-22T08:00:00Z",
                "2026-02-02T08:00:00Z",
                "2026-02-05T08:00:00Z",
            ])
        );
    }

    #[test]
    fn sparse_schedules_are_found_from_a_day_that_cannot_fire() {
        // given: every 2 weeks on Monday from Wednesday 2026-01-07 (week of 5 Jan counts)
        let weekly = spec(
            local(2026, 1, 7, 9, 0),
            Trigger::Weekly {
                every_weeks: 2,
                weekdays: vec![Mon],
            },
        );
        // when / then: from inside the skipped week of 12 Jan, the week of 19 Jan
        assert_eq!(
            weekly.next_after(PARIS, utc("2026-01-13T00:00:00Z")),
            Some(utc("2026-01-19T08:00:00Z"))
        );

        // given: last Friday of February only, at 09:00
        let february = spec(
            local(2026, 1, 1, 9, 0),
            Trigger::Monthly {
                months: vec![2],
                on: MonthlyOn::Weekday {
                    ordinal: Ordinal::Last,
                    weekdays: vec![Fri],
                },
            },
        );
        // when / then: from mid-March, next year's 26 Feb (28 Feb 2027 is a Sunday)
        assert_eq!(
            february.next_after(PARIS, utc("2026-03-15T12:00:00Z")),
            Some(utc("2027-02-26T08:00:00Z"))
        );
    }

    #[test]
    fn monthly_on_the_31st_skips_30_day_months_and_february() {
        // given: on the 31st of every month at 10:00 from 2026-01-01
        let s = spec(
            local(2026, 1, 1, 10, 0),
            Trigger::Monthly {
                months: every_month(),
                on: MonthlyOn::Days {
                    days: vec![31],
                    last: false,
                },
            },
        );
        // when / then: no February, April, June, September, November; CEST from 29 March
        // to 25 October
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-01T00:00:00Z"), 8),
            instants(&[
                "2026-01-31T09:00:00Z",
                "2026-03-31T08:00:00Z",
                "2026-05-31T08:00:00Z",
                "2026-07-31T08:00:00Z",
                "2026-08-31T08:00:00Z",
                "2026-10-31T09:00:00Z",
                "2026-12-31T09:00:00Z",
                "2027-01-31T09:00:00Z",
            ])
        );
    }

    #[test]
    fn monthly_on_the_last_day_of_february_in_leap_and_non_leap_years() {
        // given: in February on the 28th and on the last day, at 12:00
        let s = spec(
            local(2027, 1, 1, 12, 0),
            Trigger::Monthly {
                months: vec![2],
                on: MonthlyOn::Days {
                    days: vec![28],
                    last: true,
                },
            },
        );
        // when / then: 2027-02-28 is both the 28th and the last day and fires once;
        // 2028 is a leap year
        assert_eq!(
            fires(&s, PARIS, utc("2027-01-01T00:00:00Z"), 4),
            instants(&[
                "2027-02-28T11:00:00Z",
                "2028-02-28T11:00:00Z",
                "2028-02-29T11:00:00Z",
                "2029-02-28T11:00:00Z",
            ])
        );

        // given: only the last day of February
        let last_only = spec(
            local(2027, 1, 1, 12, 0),
            Trigger::Monthly {
                months: vec![2],
                on: MonthlyOn::Days {
                    days: vec![],
                    last: true,
                },
            },
        );
        // when / then
        assert_eq!(
            fires(&last_only, PARIS, utc("2027-01-01T00:00:00Z"), 2),
            instants(&["2027-02-28T11:00:00Z", "2028-02-29T11:00:00Z"])
        );
    }

    #[test]
    fn monthly_on_the_first_monday() {
        // given: first Monday of every month at 09:00
        let s = spec(
            local(2026, 1, 1, 9, 0),
            Trigger::Monthly {
                months: every_month(),
                on: MonthlyOn::Weekday {
                    ordinal: Ordinal::First,
                    weekdays: vec![Mon],
                },
            },
        );
        // when / then: 5 Jan, 2 Feb, 2 Mar, 6 Apr (CEST)
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-01T00:00:00Z"), 4),
            instants(&[
                "2026-01-05T08:00:00Z",
                "2026-02-02T08:00:00Z",
                "2026-03-02T08:00:00Z",
                "2026-04-06T07:00:00Z",
            ])
        );
    }

    #[test]
    fn fourth_and_last_weekday_differ_only_in_months_with_a_fifth_one() {
        // given: the fourth Friday, and the last Friday, of every month at 09:00
        let on = |ordinal| {
            spec(
                local(2026, 1, 1, 9, 0),
                Trigger::Monthly {
                    months: every_month(),
                    on: MonthlyOn::Weekday {
                        ordinal,
                        weekdays: vec![Fri],
                    },
                },
            )
        };
        // when / then: January 2026 has five Fridays (2 … 30), February four (6 … 27):
        // no "fifth Friday" is ever asked for, so a month without one is no special case.
        assert_eq!(
            fires(&on(Ordinal::Fourth), PARIS, utc("2026-01-01T00:00:00Z"), 2),
            instants(&["2026-01-23T08:00:00Z", "2026-02-27T08:00:00Z"])
        );
        assert_eq!(
            fires(&on(Ordinal::Last), PARIS, utc("2026-01-01T00:00:00Z"), 2),
            instants(&["2026-01-30T08:00:00Z", "2026-02-27T08:00:00Z"])
        );
    }

    #[test]
    fn monthly_on_the_last_friday() {
        // given: last Friday of every month at 09:00
        let s = spec(
            local(2026, 1, 1, 9, 0),
            Trigger::Monthly {
                months: every_month(),
                on: MonthlyOn::Weekday {
                    ordinal: Ordinal::Last,
                    weekdays: vec![Fri],
                },
            },
        );
        // when / then: 30 Jan (31 is a Saturday), 27 Feb, 27 Mar, 24 Apr (CEST)
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-01T00:00:00Z"), 4),
            instants(&[
                "2026-01-30T08:00:00Z",
                "2026-02-27T08:00:00Z",
                "2026-03-27T08:00:00Z",
                "2026-04-24T07:00:00Z",
            ])
        );
    }

    #[test]
    fn repeat_every_5_minutes_for_12_hours_from_08_00() {
        // given: daily from 08:00 (07:00 UTC in winter), every 5 min for 720 min
        let s = ScheduleSpec {
            repeat: Some(Repeat {
                every: RepeatEvery::Minutes5,
                for_duration_minutes: 720,
            }),
            ..spec(local(2026, 1, 5, 8, 0), Trigger::Daily { every_days: 1 })
        };
        // when: every fire of the first day, and the one after it
        let day = fires(&s, PARIS, utc("2026-01-05T00:00:00Z"), 145);
        // then: 08:00, 08:05, …, 19:55 (144 fires, 20:00 excluded), then next day 08:00
        let expected: Vec<DateTime<Utc>> = (0..144)
            .map(|k| utc("2026-01-05T07:00:00Z") + TimeDelta::minutes(5 * k))
            .chain([utc("2026-01-06T07:00:00Z")])
            .collect();
        assert_eq!(day, expected);
        assert_eq!(day[1], utc("2026-01-05T07:05:00Z"));
        assert_eq!(day[143], utc("2026-01-05T18:55:00Z"));
        // and from mid-window the next 5-minute step is found directly
        assert_eq!(
            s.next_after(PARIS, utc("2026-01-05T12:02:00Z")),
            Some(utc("2026-01-05T12:05:00Z"))
        );
    }

    #[test]
    fn repeat_window_crossing_midnight_belongs_to_the_day_that_opened_it() {
        // given: Mondays only, from 20:00 every 2 h for 12 h
        let s = ScheduleSpec {
            repeat: Some(Repeat {
                every: RepeatEvery::Hours2,
                for_duration_minutes: 720,
            }),
            ..spec(
                local(2026, 1, 5, 20, 0),
                Trigger::Weekly {
                    every_weeks: 1,
                    weekdays: vec![Mon],
                },
            )
        };
        // when / then: Mon 20:00, 22:00, Tue 00:00, 02:00, 04:00, 06:00 (Tuesday does not
        // match, the fires belong to Monday's window), then next Monday 20:00
        assert_eq!(
            fires(&s, PARIS, utc("2026-01-05T00:00:00Z"), 7),
            instants(&[
                "2026-01-05T19:00:00Z",
                "2026-01-05T21:00:00Z",
                "2026-01-05T23:00:00Z",
                "2026-01-06T01:00:00Z",
                "2026-01-06T03:00:00Z",
                "2026-01-06T05:00:00Z",
                "2026-01-12T19:00:00Z",
            ])
        );
        // and searching from Tuesday morning still finds Monday's window
        assert_eq!(
            s.next_after(PARIS, utc("2026-01-06T02:00:00Z")),
            Some(utc("2026-01-06T03:00:00Z"))
        );
    }

    #[test]
    fn dst_spring_forward_a_missing_local_time_fires_once_at_the_end_of_the_gap() {
        // given: daily at 02:30 Paris; on 2026-03-29 clocks jump from 02:00 to 03:00
        let s = spec(local(2026, 3, 27, 2, 30), Trigger::Daily { every_days: 1 });
        // when / then: 28 Mar 02:30 CET, 29 Mar 03:00 CEST (= 01:00 UTC), 30 Mar 02:30 CEST
        assert_eq!(
            fires(&s, PARIS, utc("2026-03-28T00:00:00Z"), 3),
            instants(&[
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
            ])
        );
        // and only once: right after the gap fire comes the next day
        assert_eq!(
            s.next_after(PARIS, utc("2026-03-29T01:00:00Z")),
            Some(utc("2026-03-30T00:30:00Z"))
        );
    }

    #[test]
    fn dst_fall_back_a_repeated_local_time_fires_once_at_its_first_occurrence() {
        // given: daily at 02:30 Paris; on 2026-10-25 02:00–03:00 happens twice
        let s = spec(local(2026, 10, 24, 2, 30), Trigger::Daily { every_days: 1 });
        // when / then: 25 Oct 02:30 CEST (= 00:30 UTC), then 26 Oct 02:30 CET
        assert_eq!(
            fires(&s, PARIS, utc("2026-10-24T12:00:00Z"), 2),
            instants(&["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        );
        // and the second occurrence (02:30 CET = 01:30 UTC) does not fire
        assert_eq!(
            s.next_after(PARIS, utc("2026-10-25T01:00:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn repeat_every_30_minutes_across_both_dst_switches_never_fires_twice() {
        // given: daily from 01:00, every 30 min for 3 h (01:00 … 03:30 local)
        let s = ScheduleSpec {
            repeat: Some(Repeat {
                every: RepeatEvery::Minutes30,
                for_duration_minutes: 180,
            }),
            ..spec(local(2026, 3, 28, 1, 0), Trigger::Daily { every_days: 1 })
        };

        // when: the spring-forward night; then 02:00 and 02:30 (missing) and 03:00 all
        // map to 01:00 UTC and fire once
        assert_eq!(
            fires(&s, PARIS, utc("2026-03-28T23:00:00Z"), 5),
            instants(&[
                "2026-03-29T00:00:00Z", // 01:00 CET
                "2026-03-29T00:30:00Z", // 01:30 CET
                "2026-03-29T01:00:00Z", // 02:00, 02:30 (gap) and 03:00 CEST
                "2026-03-29T01:30:00Z", // 03:30 CEST
                "2026-03-29T23:00:00Z", // 30 Mar 01:00 CEST
            ])
        );

        // when: the fall-back night; then the repeated hour fires on its first pass only
        assert_eq!(
            fires(&s, PARIS, utc("2026-10-24T22:00:00Z"), 7),
            instants(&[
                "2026-10-24T23:00:00Z", // 01:00 CEST
                "2026-10-24T23:30:00Z", // 01:30 CEST
                "2026-10-25T00:00:00Z", // 02:00 CEST (first occurrence)
                "2026-10-25T00:30:00Z", // 02:30 CEST (first occurrence)
                "2026-10-25T02:00:00Z", // 03:00 CET
                "2026-10-25T02:30:00Z", // 03:30 CET
                "2026-10-26T00:00:00Z", // 26 Oct 01:00 CET
            ])
        );

        // when: walking every fire from 28 March to 31 October
        let mut all = Vec::new();
        let mut cursor = utc("2026-03-27T00:00:00Z");
        while let Some(next) = s.next_after(PARIS, cursor) {
            if next >= utc("2026-11-01T00:00:00Z") {
                break;
            }
            all.push(next);
            cursor = next;
        }
        // then: strictly increasing (no duplicate instant), 6 fires a day for 218 days
        // minus the 2 swallowed by the gap
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(all.len(), 218 * 6 - 2);
        assert_eq!(all.first(), Some(&utc("2026-03-28T00:00:00Z")));
        assert_eq!(all.last(), Some(&utc("2026-10-31T02:30:00Z")));
    }

    #[test]
    fn after_exactly_on_a_fire_time_returns_the_next_one() {
        // given: daily at 07:30 and a 15-minute repeat for 1 h
        let daily = spec(local(2026, 1, 5, 7, 30), Trigger::Daily { every_days: 1 });
        let repeated = ScheduleSpec {
            repeat: Some(Repeat {
                every: RepeatEvery::Minutes15,
                for_duration_minutes: 60,
            }),
            ..daily.clone()
        };
        // when / then
        assert_eq!(
            daily.next_after(PARIS, utc("2026-01-05T06:30:00Z")),
            Some(utc("2026-01-06T06:30:00Z"))
        );
        assert_eq!(
            repeated.next_after(PARIS, utc("2026-01-05T06:45:00Z")),
            Some(utc("2026-01-05T07:00:00Z"))
        );
        assert_eq!(
            repeated.next_after(PARIS, utc("2026-01-05T07:15:00Z")),
            Some(utc("2026-01-06T06:30:00Z"))
        );
    }

    #[test]
    fn nothing_fires_before_the_start() {
        // given: daily at 09:00, starting 2026-01-05 at 09:00, with a window to 11:00
        let s = ScheduleSpec {
            repeat: Some(Repeat {
                every: RepeatEvery::Hours1,
                for_duration_minutes: 120,
            }),
            ..spec(local(2026, 1, 5, 9, 0), Trigger::Daily { every_days: 1 })
        };
        // when / then: a search long before the start lands on the start itself
        assert_eq!(
            s.next_after(PARIS, utc("2020-01-01T00:00:00Z")),
            Some(utc("2026-01-05T08:00:00Z"))
        );
    }

    #[test]
    fn a_schedule_beyond_the_search_horizon_has_no_next_fire() {
        // given: every 1,000 weeks (about 19 years) on Mondays
        let s = spec(
            local(2026, 1, 5, 9, 0),
            Trigger::Weekly {
                every_weeks: 1000,
                weekdays: vec![Mon],
            },
        );
        // when / then: the start week fires, the next is past the 8-year horizon
        assert_eq!(
            s.next_after(PARIS, utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-05T08:00:00Z"))
        );
        assert_eq!(s.next_after(PARIS, utc("2026-01-05T08:00:00Z")), None);
    }

    #[test]
    fn the_time_zone_decides_the_instant() {
        // given: daily at 08:00 from 2026-07-01
        let s = spec(local(2026, 7, 1, 8, 0), Trigger::Daily { every_days: 1 });
        let after = utc("2026-06-30T00:00:00Z");
        // when / then
        let montreal = parse_time_zone("America/Montreal").expect("known zone");
        assert_eq!(
            s.next_after(montreal, after),
            Some(utc("2026-07-01T12:00:00Z"))
        );
        assert_eq!(
            s.next_after(chrono_tz::UTC, after),
            Some(utc("2026-07-01T08:00:00Z"))
        );
    }

    #[test]
    fn validation_errors_name_the_bad_value() {
        let at = local(2026, 1, 1, 8, 0);
        let monthly_days = |months: Vec<u32>, days: Vec<u32>, last: bool| {
            spec(
                at,
                Trigger::Monthly {
                    months,
                    on: MonthlyOn::Days { days, last },
                },
            )
        };
        let with_repeat = |every, for_duration_minutes| ScheduleSpec {
            repeat: Some(Repeat {
                every,
                for_duration_minutes,
            }),
            ..spec(at, Trigger::Daily { every_days: 1 })
        };
        let cases: Vec<(ScheduleSpec, ScheduleError, &str)> = vec![
            (
                spec(at, Trigger::Daily { every_days: 0 }),
                ScheduleError::InvalidEveryDays(0),
                "nombre de jours invalide : 0 (every N days must be at least 1)",
            ),
            (
                spec(
                    at,
                    Trigger::Weekly {
                        every_weeks: 0,
                        weekdays: vec![Mon],
                    },
                ),
                ScheduleError::InvalidEveryWeeks(0),
                "nombre de semaines invalide : 0 (every N weeks must be at least 1)",
            ),
            (
                spec(
                    at,
                    Trigger::Weekly {
                        every_weeks: 1,
                        weekdays: vec![],
                    },
                ),
                ScheduleError::NoWeekday,
                "aucun jour de la semaine choisi (no weekday chosen)",
            ),
            (
                monthly_days(vec![], vec![1], false),
                ScheduleError::NoMonth,
                "aucun mois choisi (no month chosen)",
            ),
            (
                monthly_days(vec![1, 13], vec![1], false),
                ScheduleError::InvalidMonth(13),
                "mois invalide : 13 (invalid month)",
            ),
            (
                monthly_days(vec![0], vec![1], false),
                ScheduleError::InvalidMonth(0),
                "mois invalide : 0 (invalid month)",
            ),
            (
                monthly_days(vec![1], vec![], false),
                ScheduleError::NoDayOfMonth,
                "aucun jour du mois choisi (no day of month chosen)",
            ),
            (
                monthly_days(vec![1], vec![15, 32], false),
                ScheduleError::InvalidDayOfMonth(32),
                "jour du mois invalide : 32 (invalid day of month)",
            ),
            (
                monthly_days(vec![1], vec![0], true),
                ScheduleError::InvalidDayOfMonth(0),
                "jour du mois invalide : 0 (invalid day of month)",
            ),
            (
                spec(
                    at,
                    Trigger::Monthly {
                        months: vec![1],
                        on: MonthlyOn::Weekday {
                            ordinal: Ordinal::Second,
                            weekdays: vec![],
                        },
                    },
                ),
                ScheduleError::NoWeekday,
                "aucun jour de la semaine choisi (no weekday chosen)",
            ),
            (
                with_repeat(RepeatEvery::Minutes5, 0),
                ScheduleError::InvalidRepeatDuration(0),
                "durée de répétition invalide : 0 min (repeat duration must be 1 to 1440 minutes)",
            ),
            (
                with_repeat(RepeatEvery::Minutes5, 1441),
                ScheduleError::InvalidRepeatDuration(1441),
                "durée de répétition invalide : 1441 min (repeat duration must be 1 to 1440 minutes)",
            ),
            (
                with_repeat(RepeatEvery::Minutes30, 20),
                ScheduleError::RepeatShorterThanInterval {
                    duration_minutes: 20,
                    every_minutes: 30,
                },
                "durée de répétition plus courte que l'intervalle : 20 min < 30 min \
                 (repeat duration shorter than the repeat interval)",
            ),
        ];
        for (given, error, message) in cases {
            // when
            let result = given.validate();
            // then
            assert_eq!(result, Err(error.clone()), "{given:?}");
            assert_eq!(error.to_string(), message);
            assert_eq!(given.next_after(PARIS, utc("2026-01-01T00:00:00Z")), None);
        }
        // and the boundaries are accepted
        assert_eq!(with_repeat(RepeatEvery::Hours12, 1440).validate(), Ok(()));
        assert_eq!(with_repeat(RepeatEvery::Minutes5, 5).validate(), Ok(()));
        assert_eq!(monthly_days(vec![12], vec![31], false).validate(), Ok(()));
        assert_eq!(monthly_days(vec![1], vec![], true).validate(), Ok(()));
    }

    #[test]
    fn time_zones_default_to_paris_and_unknown_names_are_refused() {
        assert_eq!(default_time_zone(), chrono_tz::Europe::Paris);
        assert_eq!(
            parse_time_zone(" Europe/Paris "),
            Ok(chrono_tz::Europe::Paris)
        );
        let error = parse_time_zone("Europe/Lutece").expect_err("unknown zone");
        assert_eq!(
            error,
            ScheduleError::UnknownTimeZone("Europe/Lutece".into())
        );
        assert_eq!(
            error.to_string(),
            "fuseau horaire inconnu : Europe/Lutece (unknown time zone)"
        );
    }

    #[test]
    fn repeat_intervals_are_the_offered_ones() {
        let minutes: Vec<u32> = RepeatEvery::ALL.iter().map(|e| e.minutes()).collect();
        assert_eq!(minutes, vec![5, 10, 15, 30, 60, 120, 180, 360, 720]);
        assert_eq!(RepeatEvery::from_minutes(120), Some(RepeatEvery::Hours2));
        assert_eq!(RepeatEvery::from_minutes(20), None);
    }

    #[test]
    fn a_spec_round_trips_through_json_with_snake_case_tags() {
        // given
        let s = ScheduleSpec {
            start: local(2026, 1, 1, 8, 0),
            trigger: Trigger::Monthly {
                months: vec![1, 7],
                on: MonthlyOn::Weekday {
                    ordinal: Ordinal::Last,
                    weekdays: vec![Fri],
                },
            },
            repeat: Some(Repeat {
                every: RepeatEvery::Minutes15,
                for_duration_minutes: 120,
            }),
        };
        // when
        let json = serde_json::to_value(&s).expect("serialize");
        // then
        assert_eq!(
            json,
            serde_json::json!({
                "start": "2026-01-01T08:00:00",
                "trigger": {
                    "kind": "monthly",
                    "months": [1, 7],
                    "on": { "kind": "weekday", "ordinal": "last", "weekdays": ["Fri"] }
                },
                "repeat": { "every": "minutes_15", "for_duration_minutes": 120 }
            })
        );
        let back: ScheduleSpec = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, s);
        let daily: ScheduleSpec = serde_json::from_value(serde_json::json!({
            "start": "2026-01-01T08:00:00",
            "trigger": { "kind": "daily", "every_days": 2 }
        }))
        .expect("deserialize without repeat");
        assert_eq!(
            daily,
            spec(local(2026, 1, 1, 8, 0), Trigger::Daily { every_days: 2 })
        );
    }
}
