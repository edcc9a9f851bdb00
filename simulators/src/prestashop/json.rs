//! The simulator's own reading of the JSON rows it stores and serves (never the client's
//! model helpers): PrestaShop keeps every value as text, multilingual fields as
//! `[{"id":"1","value":"…"}]`, linked ids under `associations`.

use serde_json::Value;

/// One stored row, as the webservice serves it.
pub type Obj = serde_json::Map<String, Value>;

/// The field as text: strings as they are, numbers printed, booleans `1`/`0`, a
/// multilingual field in its first language; missing or anything else: empty.
pub(crate) fn text(row: &Obj, field: &str) -> String {
    let Some(v) = row.get(field) else {
        return String::new();
    };
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(true) => "1".to_string(),
        Value::Bool(false) => "0".to_string(),
        Value::Array(langs) => langs
            .first()
            .and_then(|l| l.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_default(),
        Value::Null | Value::Object(_) => String::new(),
    }
}

/// The ids listed under `associations.<name>` (empty ids left out).
pub(crate) fn association_ids(row: &Obj, name: &str) -> Vec<String> {
    let Some(Value::Array(items)) = row.get("associations").and_then(|a| a.get(name)) else {
        return Vec::new();
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        if let Some(obj) = item.as_object() {
            let id = text(obj, "id");
            if !id.is_empty() {
                ids.push(id);
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_read_as_the_webservice_stores_them() {
        let row = json!({"id": 7, "name": [{"id": "1", "value": "Tapis"}, {"id": "2", "value": "Rug"}],
            "active": true, "associations": {"products": [{"id": "3"}, {"id": ""}, {"id": 9}]}});
        let row = row.as_object().cloned().unwrap_or_default();
        assert_eq!(text(&row, "id"), "7");
        assert_eq!(text(&row, "name"), "Tapis");
        assert_eq!(text(&row, "active"), "1");
        assert_eq!(text(&row, "missing"), "");
        assert_eq!(association_ids(&row, "products"), vec!["3", "9"]);
        assert!(association_ids(&row, "categories").is_empty());
    }
}
