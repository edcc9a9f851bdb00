//! The `Schedule` aggregate: a scheduled task (profile, action, when) and its triggers.
//!
//! Firing is decided here, purely: given the schedule's state, the current instant and
//! whether the previous run of the same (profile, action) is still active, a trigger fires
//! (`TriggerFired`) or is skipped (`TriggerSkipped`). The next trigger is always computed
//! from the wall clock after the decision, so a run longer than the period makes the
//! effective period `max(period, run time)`, and after downtime the missed triggers are
//! not replayed as a burst: at most one catch-up run, which records how many were missed.

use crate::action::SyncAction;
use crate::ids::{ProfileId, RunId};
use crate::schedule::{parse_time_zone, ScheduleError, ScheduleSpec};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// Events of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScheduleEvent {
    /// A schedule was created.
    ScheduleCreated {
        /// Profile.
        profile_id: ProfileId,
        /// Action.
        action: SyncAction,
        /// When it fires.
        spec: ScheduleSpec,
        /// IANA time zone of the account (`Europe/Paris`).
        time_zone: String,
        /// Creation instant: triggers are searched after it.
        created_at: DateTime<Utc>,
    },
    /// The timing was edited (no need to delete and recreate).
    ScheduleChanged {
        /// New timing.
        spec: ScheduleSpec,
        /// Time zone.
        time_zone: String,
        /// Edit instant: the next trigger is searched after it.
        changed_at: DateTime<Utc>,
    },
    /// Triggers stop until resumed.
    SchedulePaused,
    /// Triggers start again (from the resume instant: nothing missed is replayed).
    ScheduleResumed {
        /// Resume instant.
        resumed_at: DateTime<Utc>,
    },
    /// The schedule is gone.
    ScheduleDeleted,
    /// A trigger queued a run.
    TriggerFired {
        /// The trigger instant that fired (the latest one due).
        due_at: DateTime<Utc>,
        /// When the scheduler acted.
        fired_at: DateTime<Utc>,
        /// The queued run.
        run_id: RunId,
        /// Trigger instants missed before this one (downtime): not replayed.
        missed: u32,
    },
    /// A trigger found the previous run still active and was skipped.
    TriggerSkipped {
        /// The trigger instant skipped.
        due_at: DateTime<Utc>,
        /// When the scheduler acted.
        skipped_at: DateTime<Utc>,
        /// The run still active.
        running_run: RunId,
    },
}

impl DomainEvent for ScheduleEvent {
    fn event_type(&self) -> String {
        match self {
            ScheduleEvent::ScheduleCreated { .. } => "ScheduleCreated",
            ScheduleEvent::ScheduleChanged { .. } => "ScheduleChanged",
            ScheduleEvent::SchedulePaused => "SchedulePaused",
            ScheduleEvent::ScheduleResumed { .. } => "ScheduleResumed",
            ScheduleEvent::ScheduleDeleted => "ScheduleDeleted",
            ScheduleEvent::TriggerFired { .. } => "TriggerFired",
            ScheduleEvent::TriggerSkipped { .. } => "TriggerSkipped",
        }
        .into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Refusals of schedule commands.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleRefusal {
    /// The timing is invalid: show the message to the user.
    #[error(transparent)]
    Invalid(#[from] ScheduleError),
    /// Create on an existing schedule.
    #[error("la planification existe déjà (schedule already exists)")]
    AlreadyExists,
    /// Any command on a missing or deleted schedule.
    #[error("planification inconnue ou supprimée (unknown or deleted schedule)")]
    Unknown,
}

/// Commands.
#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleCommand {
    /// Create.
    Create {
        /// Profile.
        profile_id: ProfileId,
        /// Action.
        action: SyncAction,
        /// Timing.
        spec: ScheduleSpec,
        /// Time zone name.
        time_zone: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Edit the timing.
    Change {
        /// Timing.
        spec: ScheduleSpec,
        /// Time zone name.
        time_zone: String,
        /// Now.
        now: DateTime<Utc>,
    },
    /// Pause.
    Pause,
    /// Resume.
    Resume {
        /// Now.
        now: DateTime<Utc>,
    },
    /// Delete.
    Delete,
    /// The scheduler's tick: fire or skip the due trigger, if any.
    Tick {
        /// Now.
        now: DateTime<Utc>,
        /// Id for the run to queue.
        new_run: RunId,
        /// The previous run of this (profile, action), if still active.
        active_run: Option<RunId>,
    },
}

/// Folded state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Profile.
    pub profile_id: Option<ProfileId>,
    /// Action.
    pub action: Option<SyncAction>,
    /// Timing.
    pub spec: Option<ScheduleSpec>,
    /// Time zone.
    pub time_zone: String,
    /// Paused.
    pub paused: bool,
    /// Deleted.
    pub deleted: bool,
    /// Triggers are searched strictly after this instant.
    pub cursor: Option<DateTime<Utc>>,
    /// Last run queued.
    pub last_run: Option<RunId>,
    /// When the last trigger fired.
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// At most this many missed triggers are counted after a downtime.
const MAX_MISSED_COUNT: u32 = 10_000;

impl Schedule {
    /// The next trigger instant, if the schedule is live.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        if self.paused || self.deleted {
            return None;
        }
        let spec = self.spec.as_ref()?;
        let tz = parse_time_zone(&self.time_zone).ok()?;
        spec.next_after(tz, self.cursor?)
    }

    /// Decides (pure).
    pub fn decide(&self, cmd: ScheduleCommand) -> Result<Vec<ScheduleEvent>, ScheduleRefusal> {
        let exists = self.spec.is_some() && !self.deleted;
        match cmd {
            ScheduleCommand::Create {
                profile_id,
                action,
                spec,
                time_zone,
                now,
            } => {
                if self.spec.is_some() {
                    return Err(ScheduleRefusal::AlreadyExists);
                }
                spec.validate()?;
                parse_time_zone(&time_zone)?;
                Ok(vec![ScheduleEvent::ScheduleCreated {
                    profile_id,
                    action,
                    spec,
                    time_zone,
                    created_at: now,
                }])
            }
            _ if !exists => Err(ScheduleRefusal::Unknown),
            ScheduleCommand::Change {
                spec,
                time_zone,
                now,
            } => {
                spec.validate()?;
                parse_time_zone(&time_zone)?;
                Ok(vec![ScheduleEvent::ScheduleChanged {
                    spec,
                    time_zone,
                    changed_at: now,
                }])
            }
            ScheduleCommand::Pause if self.paused => Ok(vec![]),
            ScheduleCommand::Pause => Ok(vec![ScheduleEvent::SchedulePaused]),
            ScheduleCommand::Resume { .. } if !self.paused => Ok(vec![]),
            ScheduleCommand::Resume { now } => {
                Ok(vec![ScheduleEvent::ScheduleResumed { resumed_at: now }])
            }
            ScheduleCommand::Delete => Ok(vec![ScheduleEvent::ScheduleDeleted]),
            ScheduleCommand::Tick {
                now,
                new_run,
                active_run,
            } => {
                let Some(first) = self.next_due().filter(|d| *d <= now) else {
                    return Ok(vec![]);
                };
                // Walk the missed instants up to now: only the latest one acts.
                let (mut due, mut missed) = (first, 0u32);
                if let (Some(spec), Ok(tz)) = (&self.spec, parse_time_zone(&self.time_zone)) {
                    while let Some(n) = spec.next_after(tz, due).filter(|n| *n <= now) {
                        due = n;
                        missed += 1;
                        if missed >= MAX_MISSED_COUNT {
                            break;
                        }
                    }
                }
                Ok(vec![match active_run {
                    Some(running_run) => ScheduleEvent::TriggerSkipped {
                        due_at: due,
                        skipped_at: now,
                        running_run,
                    },
                    None => ScheduleEvent::TriggerFired {
                        due_at: due,
                        fired_at: now,
                        run_id: new_run,
                        missed,
                    },
                }])
            }
        }
    }

    /// Folds an event.
    pub fn apply_event(&mut self, e: &ScheduleEvent) {
        match e {
            ScheduleEvent::ScheduleCreated {
                profile_id,
                action,
                spec,
                time_zone,
                created_at,
            } => {
                self.profile_id = Some(profile_id.clone());
                self.action = Some(*action);
                self.spec = Some(spec.clone());
                self.time_zone = time_zone.clone();
                // Search from just before creation so a start equal to "now" still fires.
                self.cursor = Some(*created_at - chrono::Duration::milliseconds(1));
            }
            ScheduleEvent::ScheduleChanged {
                spec,
                time_zone,
                changed_at,
            } => {
                self.spec = Some(spec.clone());
                self.time_zone = time_zone.clone();
                self.cursor = Some(*changed_at);
            }
            ScheduleEvent::SchedulePaused => self.paused = true,
            ScheduleEvent::ScheduleResumed { resumed_at } => {
                self.paused = false;
                self.cursor = Some(*resumed_at);
            }
            ScheduleEvent::ScheduleDeleted => self.deleted = true,
            ScheduleEvent::TriggerFired {
                due_at,
                fired_at,
                run_id,
                ..
            } => {
                self.last_run = Some(*run_id);
                self.last_fired_at = Some(*fired_at);
                self.cursor = Some((*due_at).max(*fired_at));
            }
            ScheduleEvent::TriggerSkipped {
                due_at, skipped_at, ..
            } => {
                self.cursor = Some((*due_at).max(*skipped_at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Repeat, RepeatEvery, Trigger as When};
    use chrono::{NaiveDate, TimeZone};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, h, m, 0)
            .single()
            .expect("instant")
    }

    fn every_5_min() -> Schedule {
        let spec = ScheduleSpec {
            start: NaiveDate::from_ymd_opt(2026, 1, 5)
                .and_then(|d| d.and_hms_opt(9, 0, 0))
                .expect("date"),
            trigger: When::Daily { every_days: 1 },
            repeat: Some(Repeat {
                every: RepeatEvery::Minutes5,
                for_duration_minutes: 720,
            }),
        };
        let mut s = Schedule::default();
        let evs = s
            .decide(ScheduleCommand::Create {
                profile_id: ProfileId::parse("p").expect("id"),
                action: SyncAction::UpdateStock,
                spec,
                time_zone: "UTC".into(),
                now: at(8, 0),
            })
            .expect("create");
        for e in &evs {
            s.apply_event(e);
        }
        s
    }

    fn tick(s: &mut Schedule, now: DateTime<Utc>, active: Option<RunId>) -> Vec<ScheduleEvent> {
        let evs = s
            .decide(ScheduleCommand::Tick {
                now,
                new_run: RunId::from_uuid(uuid::Uuid::from_u128(1)),
                active_run: active,
            })
            .expect("tick");
        for e in &evs {
            s.apply_event(e);
        }
        evs
    }

    #[test]
    fn a_long_run_skips_the_next_trigger_and_the_clock_decides_the_one_after() {
        let mut s = every_5_min();
        assert!(tick(&mut s, at(8, 59), None).is_empty());
        assert!(matches!(
            tick(&mut s, at(9, 0), None)[..],
            [ScheduleEvent::TriggerFired { missed: 0, .. }]
        ));
        let running = RunId::from_uuid(uuid::Uuid::from_u128(7));
        assert!(matches!(
            tick(&mut s, at(9, 5), Some(running))[..],
            [ScheduleEvent::TriggerSkipped { .. }]
        ));
        assert_eq!(s.next_due(), Some(at(9, 10)));
        assert!(matches!(
            tick(&mut s, at(9, 10), None)[..],
            [ScheduleEvent::TriggerFired { .. }]
        ));
    }

    #[test]
    fn downtime_gives_one_catch_up_run_counting_the_missed_triggers() {
        let mut s = every_5_min();
        let evs = tick(&mut s, at(10, 2), None);
        match &evs[..] {
            [ScheduleEvent::TriggerFired { due_at, missed, .. }] => {
                assert_eq!(*due_at, at(10, 0));
                assert_eq!(*missed, 12);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(s.next_due(), Some(at(10, 5)));
        assert!(tick(&mut s, at(10, 3), None).is_empty());
    }

    #[test]
    fn paused_and_deleted_schedules_do_not_fire_and_edits_validate() {
        let mut s = every_5_min();
        for e in s.decide(ScheduleCommand::Pause).expect("pause") {
            s.apply_event(&e);
        }
        assert!(tick(&mut s, at(9, 0), None).is_empty());
        for e in s
            .decide(ScheduleCommand::Resume { now: at(9, 7) })
            .expect("resume")
        {
            s.apply_event(&e);
        }
        assert_eq!(s.next_due(), Some(at(9, 10)));
        let mut bad = s.spec.clone().expect("spec");
        bad.trigger = When::Daily { every_days: 0 };
        assert!(matches!(
            s.decide(ScheduleCommand::Change {
                spec: bad,
                time_zone: "UTC".into(),
                now: at(9, 8)
            }),
            Err(ScheduleRefusal::Invalid(_))
        ));
        for e in s.decide(ScheduleCommand::Delete).expect("delete") {
            s.apply_event(&e);
        }
        assert_eq!(s.next_due(), None);
        assert_eq!(
            s.decide(ScheduleCommand::Pause),
            Err(ScheduleRefusal::Unknown)
        );
    }
}
