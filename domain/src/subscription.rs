//! The `Subscription` aggregate (id: the account): plans bought per counter and the units
//! they leave (FEATURES §1 "Subscriptions and quotas").
//!
//! - **Monthly** plan: N units from the purchase day to the day before the same day next
//!   month; the counter resets on that day (`PeriodReset`); tacit renewal. A month without
//!   that day (31st) resets on its last day.
//! - **Flex** (yearly) plan: N units valid one year or until used; a Flex bought before the
//!   previous one expires carries its unused units over, otherwise they are lost.
//! - A payment failure suspends the account: reservations are refused with the reason.
//!
//! Runs **reserve** a block of units before writing, **settle** what they consumed and
//! release the rest, so the limit is never overshot and one stream per account stays
//! uncontended. Monthly units are used before Flex units.

use crate::decider::Decider;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A quota counter (FEATURES §1: data units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaCounter {
    /// Orders, payments, new customers imported.
    Import,
    /// Articles, stock lines, prices, customers exported.
    Export,
}

impl QuotaCounter {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaCounter::Import => "import",
            QuotaCounter::Export => "export",
        }
    }
}

/// A plan kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanKind {
    /// Monthly, anniversary reset.
    Monthly,
    /// Yearly Flex with carry-over.
    Flex,
}

/// Events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubscriptionEvent {
    /// A plan was bought (or a monthly plan changed size).
    PlanPurchased {
        /// Counter.
        counter: QuotaCounter,
        /// Kind.
        plan: PlanKind,
        /// Units.
        units: u64,
        /// When.
        at: DateTime<Utc>,
        /// Flex units carried over from the previous Flex.
        carried_over: u64,
    },
    /// A payment failed: the service is suspended.
    PaymentFailed {
        /// Why.
        reason: String,
    },
    /// Payment settled again: the service resumes.
    PaymentRestored,
    /// A monthly period began (the counter is back to zero).
    PeriodReset {
        /// Counter.
        counter: QuotaCounter,
        /// First day of the period.
        period_start: NaiveDate,
    },
    /// A run reserved units.
    UnitsReserved {
        /// Run.
        run_id: String,
        /// Reservation key within the run.
        key: String,
        /// Counter.
        counter: QuotaCounter,
        /// Units asked.
        wanted: u64,
        /// Units granted.
        granted: u64,
    },
    /// A run consumed part of a reservation and released the rest.
    UnitsSettled {
        /// Run.
        run_id: String,
        /// Reservation key.
        key: String,
        /// Counter.
        counter: QuotaCounter,
        /// Profile (per-profile statistics).
        profile_id: String,
        /// Units consumed from the monthly plan.
        monthly: u64,
        /// Units consumed from the Flex plan.
        flex: u64,
        /// Units released.
        released: u64,
        /// The day of the consumption (statistics), UTC.
        day: NaiveDate,
    },
}

impl DomainEvent for SubscriptionEvent {
    fn event_type(&self) -> String {
        match self {
            SubscriptionEvent::PlanPurchased { .. } => "PlanPurchased",
            SubscriptionEvent::PaymentFailed { .. } => "PaymentFailed",
            SubscriptionEvent::PaymentRestored => "PaymentRestored",
            SubscriptionEvent::PeriodReset { .. } => "PeriodReset",
            SubscriptionEvent::UnitsReserved { .. } => "UnitsReserved",
            SubscriptionEvent::UnitsSettled { .. } => "UnitsSettled",
        }
        .into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Commands (time always passed in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionCommand {
    /// Buy a plan.
    Purchase {
        /// Counter.
        counter: QuotaCounter,
        /// Kind.
        plan: PlanKind,
        /// Units (> 0).
        units: u64,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Record a payment failure.
    FailPayment {
        /// Why.
        reason: String,
    },
    /// Record the payment settled.
    RestorePayment,
    /// Reserve units for a run (idempotent per run and key).
    Reserve {
        /// Run.
        run_id: String,
        /// Key.
        key: String,
        /// Counter.
        counter: QuotaCounter,
        /// Units wanted.
        wanted: u64,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Settle a reservation (idempotent).
    Settle {
        /// Run.
        run_id: String,
        /// Key.
        key: String,
        /// Profile.
        profile_id: String,
        /// Units consumed (capped at the reservation).
        consumed: u64,
        /// Now.
        now: DateTime<Utc>,
    },
}

/// Refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionRefusal {
    /// The account is suspended.
    #[error("abonnement suspendu : {0} — tâches refusées (subscription suspended)")]
    Suspended(String),
    /// Zero units.
    #[error("un forfait doit compter au moins une unité (a plan needs units)")]
    NoUnits,
}

/// The plans and usage of one counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// Monthly plan: units and anniversary (purchase date).
    pub monthly: Option<(u64, NaiveDate)>,
    /// Start of the current monthly period.
    pub period_start: Option<NaiveDate>,
    /// Monthly units used in the current period.
    pub used_in_period: u64,
    /// Flex: units bought (with carry-over), units left, expiry.
    pub flex: Option<FlexState>,
    /// Units held by open reservations.
    pub reserved: u64,
}

/// A Flex plan's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlexState {
    /// Units bought, carry-over included.
    pub bought: u64,
    /// Units left.
    pub remaining: u64,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// What is left, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Units bought for the current period (monthly + valid Flex).
    pub bought: u64,
    /// Units used in the current period.
    pub used: u64,
    /// Units available now (reservations deducted).
    pub available: u64,
}

/// Folded state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Per counter.
    pub counters: BTreeMap<QuotaCounter, CounterState>,
    /// Suspension reason.
    pub suspended: Option<String>,
    /// Open reservations: (run, key) → (counter, units).
    pub reservations: BTreeMap<String, (QuotaCounter, u64)>,
    /// Answers already given to reservations (idempotency): (run, key) → granted.
    pub granted: BTreeMap<String, u64>,
}

fn res_key(run: &str, key: &str) -> String {
    format!("{run}/{key}")
}

/// The start of the monthly period containing `day` for a plan bought on `anchor`.
pub fn period_start(anchor: NaiveDate, day: NaiveDate) -> NaiveDate {
    // Walk whole months from the anchor; `checked_add_months` clamps the 31st to the last
    // day of shorter months, which is the reset day those months get.
    let mut months = (day.year() - anchor.year()) * 12 + day.month() as i32 - anchor.month() as i32;
    loop {
        let start = anchor
            .checked_add_months(Months::new(months.max(0) as u32))
            .unwrap_or(anchor);
        if start <= day || months <= 0 {
            return start;
        }
        months -= 1;
    }
}

impl Subscription {
    /// Availability of a counter at `now` (reservations deducted).
    pub fn availability(&self, counter: QuotaCounter, now: DateTime<Utc>) -> Availability {
        let Some(c) = self.counters.get(&counter) else {
            return Availability {
                bought: 0,
                used: 0,
                available: 0,
            };
        };
        let today = now.date_naive();
        let (m_bought, m_used) = match c.monthly {
            Some((units, anchor)) => {
                let current = period_start(anchor, today);
                let used = if c.period_start == Some(current) {
                    c.used_in_period
                } else {
                    0
                };
                (units, used)
            }
            None => (0, 0),
        };
        let (f_bought, f_left) = match &c.flex {
            Some(f) if now < f.expires_at => (f.bought, f.remaining),
            _ => (0, 0),
        };
        let bought = m_bought + f_bought;
        let used = m_used + (f_bought - f_left);
        let free = m_bought.saturating_sub(m_used) + f_left;
        Availability {
            bought,
            used,
            available: free.saturating_sub(c.reserved),
        }
    }
}

impl Decider for Subscription {
    type Command = SubscriptionCommand;
    type Event = SubscriptionEvent;
    type Refusal = SubscriptionRefusal;
    const TYPE: &'static str = "Subscription";

    fn decide(
        &self,
        cmd: SubscriptionCommand,
    ) -> Result<Vec<SubscriptionEvent>, SubscriptionRefusal> {
        match cmd {
            SubscriptionCommand::Purchase {
                counter,
                plan,
                units,
                now,
            } => {
                if units == 0 {
                    return Err(SubscriptionRefusal::NoUnits);
                }
                let carried_over = match (
                    plan,
                    self.counters.get(&counter).and_then(|c| c.flex.as_ref()),
                ) {
                    (PlanKind::Flex, Some(f)) if now < f.expires_at => f.remaining,
                    _ => 0,
                };
                Ok(vec![SubscriptionEvent::PlanPurchased {
                    counter,
                    plan,
                    units,
                    at: now,
                    carried_over,
                }])
            }
            SubscriptionCommand::FailPayment { reason } => {
                Ok(vec![SubscriptionEvent::PaymentFailed { reason }])
            }
            SubscriptionCommand::RestorePayment => Ok(if self.suspended.is_some() {
                vec![SubscriptionEvent::PaymentRestored]
            } else {
                vec![]
            }),
            SubscriptionCommand::Reserve {
                run_id,
                key,
                counter,
                wanted,
                now,
            } => {
                if self.granted.contains_key(&res_key(&run_id, &key)) {
                    return Ok(vec![]);
                }
                if let Some(r) = &self.suspended {
                    return Err(SubscriptionRefusal::Suspended(r.clone()));
                }
                let mut events = Vec::new();
                if let Some(c) = self.counters.get(&counter) {
                    if let Some((_, anchor)) = c.monthly {
                        let current = period_start(anchor, now.date_naive());
                        if c.period_start != Some(current) {
                            events.push(SubscriptionEvent::PeriodReset {
                                counter,
                                period_start: current,
                            });
                        }
                    }
                }
                let granted = wanted.min(self.availability(counter, now).available);
                events.push(SubscriptionEvent::UnitsReserved {
                    run_id,
                    key,
                    counter,
                    wanted,
                    granted,
                });
                Ok(events)
            }
            SubscriptionCommand::Settle {
                run_id,
                key,
                profile_id,
                consumed,
                now,
            } => {
                let Some(&(counter, held)) = self.reservations.get(&res_key(&run_id, &key)) else {
                    return Ok(vec![]);
                };
                let consumed = consumed.min(held);
                let c = self.counters.get(&counter).cloned().unwrap_or_default();
                let monthly_free = match c.monthly {
                    Some((units, _)) => units.saturating_sub(c.used_in_period),
                    None => 0,
                };
                let monthly = consumed.min(monthly_free);
                Ok(vec![SubscriptionEvent::UnitsSettled {
                    run_id,
                    key,
                    counter,
                    profile_id,
                    monthly,
                    flex: consumed - monthly,
                    released: held - consumed,
                    day: now.date_naive(),
                }])
            }
        }
    }

    fn apply_event(&mut self, e: &SubscriptionEvent) {
        match e {
            SubscriptionEvent::PlanPurchased {
                counter,
                plan,
                units,
                at,
                carried_over,
            } => {
                let c = self.counters.entry(*counter).or_default();
                match plan {
                    PlanKind::Monthly => {
                        let anchor = at.date_naive();
                        c.monthly = Some((*units, anchor));
                        c.period_start = Some(anchor);
                        c.used_in_period = 0;
                    }
                    PlanKind::Flex => {
                        let expires_at = at.checked_add_months(Months::new(12)).unwrap_or(*at);
                        c.flex = Some(FlexState {
                            bought: units + carried_over,
                            remaining: units + carried_over,
                            expires_at,
                        });
                    }
                }
            }
            SubscriptionEvent::PaymentFailed { reason } => self.suspended = Some(reason.clone()),
            SubscriptionEvent::PaymentRestored => self.suspended = None,
            SubscriptionEvent::PeriodReset {
                counter,
                period_start,
            } => {
                let c = self.counters.entry(*counter).or_default();
                c.period_start = Some(*period_start);
                c.used_in_period = 0;
            }
            SubscriptionEvent::UnitsReserved {
                run_id,
                key,
                counter,
                granted,
                ..
            } => {
                let k = res_key(run_id, key);
                self.granted.insert(k.clone(), *granted);
                self.reservations.insert(k, (*counter, *granted));
                self.counters.entry(*counter).or_default().reserved += granted;
            }
            SubscriptionEvent::UnitsSettled {
                run_id,
                key,
                counter,
                monthly,
                flex,
                released,
                ..
            } => {
                self.reservations.remove(&res_key(run_id, key));
                let c = self.counters.entry(*counter).or_default();
                c.reserved = c.reserved.saturating_sub(monthly + flex + released);
                c.used_in_period += monthly;
                if let Some(f) = c.flex.as_mut() {
                    f.remaining = f.remaining.saturating_sub(*flex);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 10, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn run(s: &mut Subscription, cmd: SubscriptionCommand) -> Vec<SubscriptionEvent> {
        let ev = s.decide(cmd).unwrap_or_default();
        for e in &ev {
            s.apply_event(e);
        }
        ev
    }

    fn buy(s: &mut Subscription, plan: PlanKind, units: u64, now: DateTime<Utc>) {
        run(
            s,
            SubscriptionCommand::Purchase {
                counter: QuotaCounter::Import,
                plan,
                units,
                now,
            },
        );
    }

    fn reserve(s: &mut Subscription, key: &str, wanted: u64, now: DateTime<Utc>) -> u64 {
        run(
            s,
            SubscriptionCommand::Reserve {
                run_id: "r".into(),
                key: key.into(),
                counter: QuotaCounter::Import,
                wanted,
                now,
            },
        );
        s.granted.get(&res_key("r", key)).copied().unwrap_or(0)
    }

    fn settle(s: &mut Subscription, key: &str, consumed: u64, now: DateTime<Utc>) {
        run(
            s,
            SubscriptionCommand::Settle {
                run_id: "r".into(),
                key: key.into(),
                profile_id: "p".into(),
                consumed,
                now,
            },
        );
    }

    #[test]
    fn monthly_plan_grants_up_to_its_units_and_resets_on_the_anniversary() {
        let mut s = Subscription::default();
        buy(&mut s, PlanKind::Monthly, 10, at(2026, 1, 31));
        assert_eq!(reserve(&mut s, "a", 25, at(2026, 2, 10)), 10);
        settle(&mut s, "a", 10, at(2026, 2, 10));
        assert_eq!(reserve(&mut s, "b", 5, at(2026, 2, 27)), 0);
        // February has no 31st: the period turns on its last day.
        assert_eq!(
            period_start(at(2026, 1, 31).date_naive(), at(2026, 2, 28).date_naive()),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap_or_default()
        );
        assert_eq!(reserve(&mut s, "c", 5, at(2026, 2, 28)), 5);
        let a = s.availability(QuotaCounter::Import, at(2026, 2, 28));
        assert_eq!((a.bought, a.used, a.available), (10, 0, 5));
    }

    #[test]
    fn settle_releases_what_was_not_consumed_and_is_idempotent() {
        let mut s = Subscription::default();
        buy(&mut s, PlanKind::Monthly, 10, at(2026, 3, 1));
        assert_eq!(reserve(&mut s, "a", 8, at(2026, 3, 2)), 8);
        assert_eq!(
            s.availability(QuotaCounter::Import, at(2026, 3, 2))
                .available,
            2
        );
        settle(&mut s, "a", 3, at(2026, 3, 2));
        settle(&mut s, "a", 3, at(2026, 3, 2));
        assert_eq!(
            reserve(&mut s, "a", 8, at(2026, 3, 2)),
            8,
            "same answer for the same key"
        );
        let a = s.availability(QuotaCounter::Import, at(2026, 3, 2));
        assert_eq!((a.used, a.available), (3, 7));
    }

    #[test]
    fn flex_carries_over_when_renewed_before_expiry_and_is_lost_after() {
        let mut s = Subscription::default();
        buy(&mut s, PlanKind::Flex, 100, at(2026, 1, 1));
        reserve(&mut s, "a", 40, at(2026, 2, 1));
        settle(&mut s, "a", 40, at(2026, 2, 1));
        buy(&mut s, PlanKind::Flex, 100, at(2026, 12, 1));
        assert_eq!(
            s.availability(QuotaCounter::Import, at(2026, 12, 2))
                .available,
            160
        );
        let mut late = Subscription::default();
        buy(&mut late, PlanKind::Flex, 100, at(2025, 1, 1));
        assert_eq!(
            late.availability(QuotaCounter::Import, at(2026, 1, 2))
                .available,
            0
        );
        buy(&mut late, PlanKind::Flex, 50, at(2026, 1, 2));
        assert_eq!(
            late.availability(QuotaCounter::Import, at(2026, 1, 3))
                .available,
            50
        );
    }

    #[test]
    fn payment_failure_refuses_reservations_with_the_reason() {
        let mut s = Subscription::default();
        buy(&mut s, PlanKind::Monthly, 10, at(2026, 3, 1));
        run(
            &mut s,
            SubscriptionCommand::FailPayment {
                reason: "carte expirée".into(),
            },
        );
        let r = s.decide(SubscriptionCommand::Reserve {
            run_id: "r".into(),
            key: "k".into(),
            counter: QuotaCounter::Import,
            wanted: 1,
            now: at(2026, 3, 2),
        });
        assert!(
            matches!(r, Err(SubscriptionRefusal::Suspended(ref why)) if why == "carte expirée")
        );
        run(&mut s, SubscriptionCommand::RestorePayment);
        assert_eq!(reserve(&mut s, "k", 1, at(2026, 3, 2)), 1);
    }

    #[test]
    fn monthly_units_are_used_before_flex_units() {
        let mut s = Subscription::default();
        buy(&mut s, PlanKind::Monthly, 5, at(2026, 3, 1));
        buy(&mut s, PlanKind::Flex, 20, at(2026, 3, 1));
        assert_eq!(reserve(&mut s, "a", 8, at(2026, 3, 2)), 8);
        settle(&mut s, "a", 8, at(2026, 3, 2));
        let c = &s.counters[&QuotaCounter::Import];
        assert_eq!(c.used_in_period, 5);
        assert_eq!(c.flex.as_ref().map(|f| f.remaining), Some(17));
    }
}
