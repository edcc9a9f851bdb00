//! Metadata carried by every event: who did it, for which tenant, in which run, caused by
//! what, and when. Stored in the cqrs-es `metadata` column as a string map.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Who caused an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A person (operator, merchant, support) by login.
    User(String),
    /// The scheduler process.
    Scheduler,
    /// A worker, by worker id.
    Worker(String),
    /// The CLI run by an operator on the host.
    Cli,
}

impl Actor {
    /// A compact text form (`user:alice`, `scheduler`, `worker:w1`, `cli`).
    pub fn to_text(&self) -> String {
        match self {
            Actor::User(u) => format!("user:{u}"),
            Actor::Scheduler => "scheduler".into(),
            Actor::Worker(w) => format!("worker:{w}"),
            Actor::Cli => "cli".into(),
        }
    }

    /// Parses [`Actor::to_text`]; unknown forms become a user name, so nothing is lost.
    pub fn from_text(s: &str) -> Actor {
        match s.split_once(':') {
            Some(("user", u)) => Actor::User(u.into()),
            Some(("worker", w)) => Actor::Worker(w.into()),
            _ if s == "scheduler" => Actor::Scheduler,
            _ if s == "cli" => Actor::Cli,
            _ => Actor::User(s.into()),
        }
    }
}

/// The metadata of one event (DESIGN §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMetadata {
    /// Tenant owning the event.
    pub account_id: String,
    /// Who caused it.
    pub actor: Actor,
    /// The run this event belongs to or was caused by (correlation id).
    pub correlation_id: String,
    /// The event or command that caused this one, when known.
    pub causation_id: Option<String>,
    /// When it was decided, UTC.
    pub timestamp: DateTime<Utc>,
}

/// A metadata map that lacks a required key or holds a bad timestamp.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("métadonnées d'événement invalides : {0} (invalid event metadata)")]
pub struct MetadataError(pub String);

impl EventMetadata {
    /// The string map stored with the event.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("account_id".into(), self.account_id.clone());
        m.insert("actor".into(), self.actor.to_text());
        m.insert("correlation_id".into(), self.correlation_id.clone());
        if let Some(c) = &self.causation_id {
            m.insert("causation_id".into(), c.clone());
        }
        m.insert(
            "timestamp".into(),
            self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        );
        m
    }

    /// Reads the map back; every event written by Passerelle has all of these keys.
    pub fn from_map(m: &HashMap<String, String>) -> Result<Self, MetadataError> {
        let get = |k: &str| {
            m.get(k)
                .cloned()
                .ok_or_else(|| MetadataError(format!("missing `{k}`")))
        };
        let ts = get("timestamp")?;
        let timestamp = DateTime::parse_from_rfc3339(&ts)
            .map_err(|e| MetadataError(format!("timestamp `{ts}`: {e}")))?
            .with_timezone(&Utc);
        Ok(Self {
            account_id: get("account_id")?,
            actor: Actor::from_text(&get("actor")?),
            correlation_id: get("correlation_id")?,
            causation_id: m.get("causation_id").cloned(),
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let md = EventMetadata {
            account_id: "acme".into(),
            actor: Actor::Worker("w-1".into()),
            correlation_id: "run".into(),
            causation_id: Some("cmd".into()),
            timestamp: DateTime::parse_from_rfc3339("2024-09-09T17:06:45.123Z")
                .expect("ts")
                .with_timezone(&Utc),
        };
        assert_eq!(EventMetadata::from_map(&md.to_map()), Ok(md));
        assert!(EventMetadata::from_map(&HashMap::new()).is_err());
    }

    #[test]
    fn actor_text_round_trips() {
        for a in [
            Actor::User("bob".into()),
            Actor::Scheduler,
            Actor::Worker("w".into()),
            Actor::Cli,
        ] {
            assert_eq!(Actor::from_text(&a.to_text()), a);
        }
    }
}
