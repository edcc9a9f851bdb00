//! The simulator's own GraphQL execution: argument values (with the request's variables),
//! the requested and actual query cost, and the projection of a resolved JSON object onto
//! the selection set (aliases, connections sliced by `first`/`after`).
//!
//! Cost, as Shopify documents its calculated query cost
//! (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits, "calculated query
//! cost"; platforms.md §3): a scalar or enum field costs 0, an object 1, a connection 2 plus
//! `first` times the cost of one node, a mutation 10. The *requested* cost uses `first`; the
//! *actual* cost counts the nodes returned (the difference is refunded to the bucket).

use apollo_compiler::ast::Value as GqlValue;
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::Schema;
use base64::Engine as _;
use serde_json::{Map, Value};

/// The JSON value of a GraphQL literal or variable.
pub(crate) fn to_json(v: &GqlValue, vars: &Map<String, Value>) -> Value {
    match v {
        GqlValue::Null => Value::Null,
        GqlValue::Enum(n) => Value::String(n.to_string()),
        GqlValue::Variable(n) => vars.get(n.as_str()).cloned().unwrap_or(Value::Null),
        GqlValue::String(s) => Value::String(s.clone()),
        GqlValue::Float(f) => f
            .try_to_f64()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        GqlValue::Int(i) => i
            .as_str()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::Null),
        GqlValue::Boolean(b) => Value::Bool(*b),
        GqlValue::List(l) => Value::Array(l.iter().map(|x| to_json(x, vars)).collect()),
        GqlValue::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.to_string(), to_json(x, vars)))
                .collect(),
        ),
    }
}

/// The value of argument `name` of `field` (null when absent).
pub(crate) fn arg(field: &Field, name: &str, vars: &Map<String, Value>) -> Value {
    field
        .specified_argument_by_name(name)
        .map(|v| to_json(v, vars))
        .unwrap_or(Value::Null)
}

/// The fields of a selection set (inline fragments flattened; the client sends none).
pub(crate) fn fields(set: &SelectionSet) -> Vec<&Field> {
    let mut out = Vec::new();
    for s in &set.selections {
        match s {
            Selection::Field(f) => out.push(f.as_ref()),
            Selection::InlineFragment(i) => out.extend(fields(&i.selection_set)),
            Selection::FragmentSpread(_) => {}
        }
    }
    out
}

fn is_connection(field: &Field) -> bool {
    field
        .ty()
        .inner_named_type()
        .as_str()
        .ends_with("Connection")
}

fn is_leaf(schema: &Schema, field: &Field) -> bool {
    matches!(
        schema.types.get(field.ty().inner_named_type()),
        Some(apollo_compiler::schema::ExtendedType::Scalar(_))
            | Some(apollo_compiler::schema::ExtendedType::Enum(_))
            | None
    )
}

/// Cost of one node of a connection: what its `nodes` / `edges { node }` select.
fn node_cost(schema: &Schema, conn: &Field, vars: &Map<String, Value>) -> u64 {
    let mut c = 0;
    for f in fields(&conn.selection_set) {
        match f.name.as_str() {
            "nodes" => c += 1 + selection_cost(schema, &f.selection_set, vars),
            "edges" => {
                for e in fields(&f.selection_set) {
                    if e.name == "node" {
                        c += 1 + selection_cost(schema, &e.selection_set, vars);
                    }
                }
            }
            _ => {}
        }
    }
    c
}

/// Requested cost of a selection set.
pub(crate) fn selection_cost(
    schema: &Schema,
    set: &SelectionSet,
    vars: &Map<String, Value>,
) -> u64 {
    let mut total = 0;
    for f in fields(set) {
        if is_leaf(schema, f) {
            continue;
        }
        if is_connection(f) {
            let first = arg(f, "first", vars)
                .as_u64()
                .or_else(|| arg(f, "last", vars).as_u64())
                .unwrap_or(0);
            total += 2 + first * node_cost(schema, f, vars);
        } else {
            total += 1 + selection_cost(schema, &f.selection_set, vars);
        }
    }
    total
}

/// Actual cost of what was answered for `set` (`data`: the projected answer).
pub(crate) fn actual_cost(schema: &Schema, set: &SelectionSet, data: &Value) -> u64 {
    let mut total = 0;
    for f in fields(set) {
        if is_leaf(schema, f) {
            continue;
        }
        let key = f.response_key().as_str();
        let v = data.get(key).unwrap_or(&Value::Null);
        if v.is_null() {
            continue;
        }
        if is_connection(f) {
            total += 2;
            for sub in fields(&f.selection_set) {
                if sub.name == "nodes" {
                    for n in v
                        .get(sub.response_key().as_str())
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        total += 1 + actual_cost(schema, &sub.selection_set, n);
                    }
                }
            }
        } else if let Some(items) = v.as_array() {
            total += 1;
            for i in items {
                total += actual_cost(schema, &f.selection_set, i);
            }
        } else {
            total += 1 + actual_cost(schema, &f.selection_set, v);
        }
    }
    total
}

/// An opaque cursor over a position in a list.
pub(crate) fn cursor(position: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("pos:{position}"))
}

/// The position a cursor stands for (`None`: not one of ours).
pub(crate) fn position(cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("pos:")?
        .parse()
        .ok()
}

/// A resolver for the fields whose value depends on arguments (`metafield(key:)`,
/// `inventoryLevel(locationId:)`): given the parent object and the field, the value, or
/// `None` to read the parent's member of the same name.
pub(crate) type Special<'a> = &'a dyn Fn(&Value, &Field) -> Option<Value>;

/// Projects `value` (a resolved object with every member) onto `set`: response keys by
/// alias, connections (stored as arrays) sliced by `first`/`after` into
/// `{nodes, edges, pageInfo}`. Errors (a `first` above 250) come back as messages.
pub(crate) fn project(
    set: &SelectionSet,
    value: &Value,
    vars: &Map<String, Value>,
    special: Special<'_>,
) -> Result<Value, String> {
    let mut out = Map::new();
    for f in fields(set) {
        let key = f.response_key().to_string();
        if f.name == "__typename" {
            out.insert(key, Value::String(set.ty.to_string()));
            continue;
        }
        let raw = match special(value, f) {
            Some(v) => v,
            None => value.get(f.name.as_str()).cloned().unwrap_or(Value::Null),
        };
        let v = if f.selection_set.selections.is_empty() {
            raw
        } else if is_connection(f) {
            connection(f, raw, vars, special)?
        } else {
            match raw {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|i| project(&f.selection_set, i, vars, special))
                        .collect::<Result<_, _>>()?,
                ),
                Value::Null => Value::Null,
                other => project(&f.selection_set, &other, vars, special)?,
            }
        };
        out.insert(key, v);
    }
    Ok(Value::Object(out))
}

fn connection(
    f: &Field,
    raw: Value,
    vars: &Map<String, Value>,
    special: Special<'_>,
) -> Result<Value, String> {
    let items = match raw {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    let first = arg(f, "first", vars).as_u64();
    let last = arg(f, "last", vars).as_u64();
    let n = match (first, last) {
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => {
            return Err(format!(
                "you must provide one of first or last (field '{}')",
                f.name
            ))
        }
    };
    if n > 250 {
        return Err(format!(
            "The value of the first/last argument of '{}' exceeds the maximum of 250",
            f.name
        ));
    }
    let start = match arg(f, "after", vars).as_str() {
        Some(c) => position(c)
            .map(|p| p + 1)
            .ok_or_else(|| "Invalid cursor".to_string())?,
        None => 0,
    };
    let end = (start + n as usize).min(items.len());
    let slice: Vec<(usize, &Value)> = items
        .iter()
        .enumerate()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    let has_next = end < items.len();
    let end_cursor = slice.last().map(|(i, _)| Value::String(cursor(*i)));
    let mut out = Map::new();
    for sub in fields(&f.selection_set) {
        let key = sub.response_key().to_string();
        let v = match sub.name.as_str() {
            "nodes" => Value::Array(
                slice
                    .iter()
                    .map(|(_, v)| project(&sub.selection_set, v, vars, special))
                    .collect::<Result<_, _>>()?,
            ),
            "edges" => Value::Array(
                slice
                    .iter()
                    .map(|(i, v)| {
                        let edge = serde_json::json!({"cursor": cursor(*i), "node": v});
                        project(&sub.selection_set, &edge, vars, special)
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "pageInfo" => project(
                &sub.selection_set,
                &serde_json::json!({
                    "hasNextPage": has_next,
                    "hasPreviousPage": start > 0,
                    "endCursor": end_cursor.clone().unwrap_or(Value::Null),
                    "startCursor": slice.first().map(|(i, _)| Value::String(cursor(*i))).unwrap_or(Value::Null),
                }),
                vars,
                special,
            )?,
            _ => Value::Null,
        };
        out.insert(key, v);
    }
    Ok(Value::Object(out))
}
