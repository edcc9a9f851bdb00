//! The Wix API query language, evaluated by the simulator with its own code: a filter is
//! an object of `field: value` (equality) or `field: {$op: value}`, combined with `$and`,
//! `$or` (arrays) and `$not`; fields are dotted paths. Operators: `$eq`, `$ne`, `$gt`,
//! `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`, `$startsWith`
//! (https://dev.wix.com/docs/rest/articles/get-started/api-query-language, `platforms.md`
//! §6 "Filters"). Dates compare as instants, numbers as numbers, the rest as text.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::cmp::Ordering;

/// The value at a dotted path (`buyerInfo.email`).
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Orders two JSON values the way the query compares them (`None`: not comparable).
pub(super) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (instant(a), instant(b)) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: Option<&Value>, b: &Value) -> bool {
    a.is_some_and(|a| compare(a, b) == Some(Ordering::Equal) || a == b)
}

/// Whether `doc` matches `filter` (null or `{}`: everything); `Err` for an unknown
/// operator or a malformed filter, answered 400 like Wix.
pub(super) fn matches(doc: &Value, filter: &Value) -> Result<bool, String> {
    let obj = match filter {
        Value::Null => return Ok(true),
        Value::Object(o) => o,
        _ => return Err("filter must be an object".into()),
    };
    for (k, cond) in obj {
        let ok = match k.as_str() {
            "$and" => {
                let list = cond.as_array().ok_or("$and takes an array")?;
                let mut all = true;
                for f in list {
                    all &= matches(doc, f)?;
                }
                all
            }
            "$or" => {
                let list = cond.as_array().ok_or("$or takes an array")?;
                let mut any = false;
                for f in list {
                    any |= matches(doc, f)?;
                }
                any
            }
            "$not" => !matches(doc, cond)?,
            op if op.starts_with('$') => return Err(format!("unknown operator {op}")),
            field => field_matches(at(doc, field), cond)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn field_matches(v: Option<&Value>, cond: &Value) -> Result<bool, String> {
    let Value::Object(ops) = cond else {
        return Ok(equal(v, cond));
    };
    if !ops.keys().all(|k| k.starts_with('$')) {
        // A nested object compared whole.
        return Ok(v == Some(cond));
    }
    for (op, arg) in ops {
        let cmp = v.and_then(|x| compare(x, arg));
        let ok = match op.as_str() {
            "$eq" => equal(v, arg),
            "$ne" => !equal(v, arg),
            "$gt" => cmp == Some(Ordering::Greater),
            "$gte" => matches!(cmp, Some(Ordering::Greater | Ordering::Equal)),
            "$lt" => cmp == Some(Ordering::Less),
            "$lte" => matches!(cmp, Some(Ordering::Less | Ordering::Equal)),
            "$in" => arg
                .as_array()
                .ok_or("$in takes an array")?
                .iter()
                .any(|a| equal(v, a)),
            "$nin" => !arg
                .as_array()
                .ok_or("$nin takes an array")?
                .iter()
                .any(|a| equal(v, a)),
            "$exists" => v.is_some_and(|x| !x.is_null()) == (arg == &Value::Bool(true)),
            "$startsWith" => match (v.and_then(Value::as_str), arg.as_str()) {
                (Some(x), Some(p)) => x.starts_with(p),
                _ => false,
            },
            other => return Err(format!("unknown operator {other}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sorts by `[{fieldName, order: ASC|DESC}]`, then by id (stable pages).
pub(super) fn sort(rows: &mut [&Value], sort: &Value) {
    let keys: Vec<(String, bool)> = sort
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let f = s["fieldName"].as_str()?.to_string();
            Some((f, s["order"].as_str() == Some("DESC")))
        })
        .collect();
    rows.sort_by(|a, b| {
        for (f, desc) in &keys {
            let o = match (at(a, f), at(b, f)) {
                (Some(x), Some(y)) => compare(x, y).unwrap_or(Ordering::Equal),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a["id"].as_str().cmp(&b["id"].as_str())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_query_language_filters_dates_enums_and_combinations() {
        let o = json!({"updatedDate": "2025-01-06T09:00:00.000Z", "paymentStatus": "PAID",
                       "buyerInfo": {"email": "a@b.fr"}});
        let t = |f: Value| matches(&o, &f).expect("valid");
        assert!(t(json!({"updatedDate": {"$gt": "2025-01-06T08:59:59Z"}})));
        assert!(!t(json!({"updatedDate": {"$gt": "2025-01-06T09:00:00Z"}})));
        assert!(t(json!({"paymentStatus": {"$in": ["PAID", "PENDING"]}})));
        assert!(t(
            json!({"paymentStatus": "PAID", "buyerInfo.email": "a@b.fr"})
        ));
        assert!(t(
            json!({"$or": [{"paymentStatus": "NOT_PAID"}, {"buyerInfo.email": {"$startsWith": "a@"}}]})
        ));
        assert!(!t(
            json!({"$and": [{"paymentStatus": "PAID"}, {"paymentStatus": {"$ne": "PAID"}}]})
        ));
        assert!(matches(&o, &json!({"paymentStatus": {"$like": "P"}})).is_err());
    }
}
