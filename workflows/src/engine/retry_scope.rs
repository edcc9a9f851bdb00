//! Retry of failed items (issue 17.6): a run whose input carries
//! `"retry": {"of": RUN, "items": [KEY, …]}` works only on those items.
//!
//! The scope is read by the engine from the run's `RunRequested` input (so a replay applies
//! it exactly as the live run did): [`RunContext::for_each_item`] drops every other item
//! before discovery (they are neither counted nor journaled), and a workflow that plans a
//! whole page before its items (import-orders) narrows what it reads with
//! [`RunContext::only_items`]. The original run is never written to: the link is the new
//! run's input and its first log line.

use serde_json::Value;
use std::collections::BTreeSet;

/// The input key holding the retry scope.
pub const RETRY_KEY: &str = "retry";

/// What a retry run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryScope {
    /// The run whose failed items are retried.
    pub of: String,
    /// Item keys (shop order ids for import-orders, references for exports…).
    pub items: BTreeSet<String>,
}

impl RetryScope {
    /// The scope in a run's input, if any.
    pub fn from_input(input: &Value) -> Option<RetryScope> {
        let r = input.get(RETRY_KEY)?;
        let of = r.get("of")?.as_str()?.to_string();
        let items = r
            .get("items")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Some(RetryScope { of, items })
    }

    /// `input` with this scope added (the original run's other input kept).
    pub fn into_input(self, mut input: Value) -> Value {
        if !input.is_object() {
            input = Value::Object(Default::default());
        }
        if let Some(o) = input.as_object_mut() {
            o.insert(
                RETRY_KEY.into(),
                serde_json::json!({ "of": self.of, "items": self.items }),
            );
        }
        input
    }

    /// The log line a retry run starts with (French first).
    pub fn note(&self) -> String {
        let items: Vec<&str> = self.items.iter().map(String::as_str).collect();
        format!(
            "Relance des éléments en échec de la tâche {} : {} (retry of failed items)",
            self.of,
            items.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_round_trips_through_the_input() {
        let scope = RetryScope {
            of: "r1".into(),
            items: ["12".to_string(), "48".to_string()].into_iter().collect(),
        };
        let input = scope
            .clone()
            .into_input(serde_json::json!({"retry_initial_ms": 5}));
        assert_eq!(input["retry_initial_ms"], 5);
        assert_eq!(RetryScope::from_input(&input), Some(scope));
        assert_eq!(RetryScope::from_input(&serde_json::json!({})), None);
        assert_eq!(RetryScope::from_input(&Value::Null), None);
    }
}
