//! What-if replay (issue 17.5), pure: an order already transferred is planned again from
//! what its import recorded (the order as read, the ERP articles and customers looked up,
//! the day of the import) with other settings, and the two plans are compared field by
//! field. No IO: the caller reads the recorded step results; this module plans with
//! [`super::plan`] (the very functions the import uses) and diffs.

use super::plan::{self, OrderOutcome, PageOrder, PlanContext};
use super::{CustomerRecord, ErpCustomer, ErpDocument, ErpItem, OrderSettings, ShopOrder};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What the import of an order had read besides the order itself.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    /// ERP articles found by the run, by code.
    pub items: &'a BTreeMap<String, ErpItem>,
    /// ERP customers found by the run's look-ups.
    pub customers: &'a [ErpCustomer],
    /// The day of the import.
    pub today: NaiveDate,
    /// The run wrote ERP account numbers back to the shop.
    pub send_customer_code: bool,
}

/// What the plan makes of one order.
// One value per order, built and compared at once, never stored in bulk: boxing the
// document would only add an allocation per order.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Planned {
    /// A document of its own (and the customer record written first, if any).
    Document {
        /// The document.
        document: ErpDocument,
        /// The customer record created or updated first.
        customer: Option<CustomerRecord>,
    },
    /// Kept for its day document (its own document, merged into the day's).
    DayDocument {
        /// The order's own document.
        document: ErpDocument,
    },
    /// The order would fail.
    Failed {
        /// Why.
        reason: String,
    },
    /// The order would be ignored.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Plans one order with `settings`, as a page of one order would be planned by the import
/// (the transferred ledger left out: the question is what its document would be).
pub fn plan_order(order: &ShopOrder, settings: &OrderSettings, r: &Recorded<'_>) -> Planned {
    let page = [PageOrder::Read(order)];
    let triage = plan::triage(&page, &BTreeSet::new(), settings);
    let cx = PlanContext {
        settings,
        items: r.items,
        customers: r.customers,
        today: r.today,
        send_customer_code: r.send_customer_code,
    };
    let mut p = plan::plan_documents(triage, &cx);
    if let Some(d) = p.to_write.pop() {
        return Planned::Document {
            document: d.document,
            customer: d.customer,
        };
    }
    if let Some(g) = p.grouped.pop() {
        return Planned::DayDocument {
            document: g.document,
        };
    }
    match p.outcomes.remove(&order.id) {
        Some(OrderOutcome::Failed(reason)) => Planned::Failed { reason },
        Some(OrderOutcome::Ignored(reason)) => Planned::Ignored { reason },
        _ => Planned::Ignored {
            reason: "commande non planifiée".into(),
        },
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Its path (`document.lines[3].unit_price`, `customer.accounting_account`…).
    pub field: String,
    /// Value in what was sent (null: absent).
    pub before: Value,
    /// Value with the new settings (null: absent).
    pub after: Value,
}

/// The fields that differ between two plans of an order, leaves only, in path order (lines
/// compared by position: a line added at the end is one change `document.lines[n]`).
pub fn diff(before: &Planned, after: &Planned) -> Vec<FieldChange> {
    let a = serde_json::to_value(before).unwrap_or(Value::Null);
    let b = serde_json::to_value(after).unwrap_or(Value::Null);
    let mut out = Vec::new();
    diff_values(String::new(), &a, &b, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn diff_values(path: String, a: &Value, b: &Value, out: &mut Vec<FieldChange>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff_values(join(&path, k), va, vb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if keyed(x) && keyed(y) => {
            // Document lines: matched by what they are (kind and article, n-th of them), so a
            // line inserted in the middle is one added line, not every later line changed.
            let (kx, ky) = (line_keys(x), line_keys(y));
            let mut keys: Vec<&String> = kx.iter().map(|(k, _)| k).collect();
            keys.extend(
                ky.iter()
                    .map(|(k, _)| k)
                    .filter(|k| !kx.iter().any(|(a, _)| a == *k)),
            );
            let get = |v: &'_ [(String, usize)], arr: &'_ [Value], k: &str| -> Value {
                v.iter()
                    .find(|(a, _)| a == k)
                    .and_then(|(_, i)| arr.get(*i).cloned())
                    .unwrap_or(Value::Null)
            };
            for k in keys {
                diff_values(
                    format!("{path}[{k}]"),
                    &get(&kx, x, k),
                    &get(&ky, y, k),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let (va, vb) = (
                    x.get(i).unwrap_or(&Value::Null),
                    y.get(i).unwrap_or(&Value::Null),
                );
                diff_values(format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ => out.push(FieldChange {
            field: path,
            before: a.clone(),
            after: b.clone(),
        }),
    }
}

/// Arrays of document lines (objects with a `kind` and an `item_id`).
fn keyed(v: &[Value]) -> bool {
    !v.is_empty()
        && v.iter()
            .all(|l| l.get("kind").is_some() && l.get("item_id").is_some())
}

/// `kind:item_id` of each line (`#2`, `#3`… for the next ones alike), with its index.
fn line_keys(v: &[Value]) -> Vec<(String, usize)> {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    v.iter()
        .enumerate()
        .map(|(i, l)| {
            let text = |k: &str| match l.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let base = format!("{}:{}", text("kind"), text("item_id"));
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                (base, i)
            } else {
                (format!("{base}#{n}"), i)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(reason: &str) -> Planned {
        Planned::Ignored {
            reason: reason.into(),
        }
    }

    #[test]
    fn given_the_same_plan_when_diffed_then_nothing_differs() {
        let p = Planned::Failed { reason: "x".into() };
        assert!(diff(&p, &p.clone()).is_empty());
    }

    #[test]
    fn given_one_leaf_changed_when_diffed_then_exactly_that_path_is_listed() {
        let d = diff(&ignored("a"), &ignored("b"));
        assert_eq!(
            d,
            vec![FieldChange {
                field: "reason".into(),
                before: Value::from("a"),
                after: Value::from("b"),
            }]
        );
    }

    #[test]
    fn given_an_array_grown_by_one_when_diffed_then_the_new_element_is_one_change() {
        let mut out = Vec::new();
        let a = serde_json::json!({"lines": [{"q": 1}, {"q": 2}], "total": 3});
        let b = serde_json::json!({"lines": [{"q": 1}, {"q": 2}, {"q": 5}], "total": 3});
        diff_values(String::new(), &a, &b, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "lines[2]");
        assert_eq!(out[0].before, Value::Null);
        assert_eq!(out[0].after, serde_json::json!({"q": 5}));
    }

    #[test]
    fn given_a_line_inserted_in_the_middle_when_diffed_then_only_that_line_is_added() {
        let mut out = Vec::new();
        let a = serde_json::json!({"lines": [
            {"kind": "product", "item_id": "A", "q": 1},
            {"kind": "gap", "item_id": "ECART", "q": 1}]});
        let b = serde_json::json!({"lines": [
            {"kind": "product", "item_id": "A", "q": 1},
            {"kind": "shipping", "item_id": "PORT", "q": 1},
            {"kind": "gap", "item_id": "ECART", "q": 1}]});
        diff_values(String::new(), &a, &b, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "lines[shipping:PORT]");
        assert_eq!(out[0].before, Value::Null);
    }

    #[test]
    fn given_a_different_outcome_when_diffed_then_the_outcome_field_changes() {
        let a = Planned::Failed { reason: "r".into() };
        let d = diff(&a, &ignored("r"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "outcome");
    }
}
