//! The `WhereCondition` filter of the SaaS Gestion API: URL-encoded YAML (§3).
//!
//! ```yaml
//! type: ImbricationFilter
//! operator: Or
//! left:
//!   type: CustomFilter
//!   column: Id
//!   operator: In
//!   valueType: String
//!   value:
//!   - A1
//!   - B2
//! right: …
//! ```
//! The same serde types are parsed back by the simulator.

use serde::{Deserialize, Serialize};

/// Most values put in one `In` list (one call per chunk). EBP documents no limit; 100 keeps
/// the URL well under common 8 KB limits with 40-character item codes once encoded.
pub const MAX_IN_VALUES: usize = 100;

/// Column operators (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Operator {
    In,
    NotIn,
    Like,
    Equal,
    Different,
    Lower,
    LowerOrEqual,
    Upper,
    UpperOrEqual,
    IsNull,
    IsNotNull,
    Between,
}

/// How EBP reads the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum ValueType {
    String,
    Int,
    Decimal,
    Date,
    Column,
}

/// Boolean combination of two filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Logic {
    And,
    Or,
}

/// A filter node, serialised as EBP's YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Where {
    /// `column operator values`.
    CustomFilter {
        /// Column name (PascalCase, as in the table).
        column: String,
        /// Operator.
        operator: Operator,
        /// How values are read.
        #[serde(rename = "valueType")]
        value_type: ValueType,
        /// Values (strings for `String`/`Date`, numbers for `Int`/`Decimal`).
        #[serde(default)]
        value: Vec<serde_yaml::Value>,
    },
    /// `left operator right`.
    ImbricationFilter {
        /// And / Or.
        operator: Logic,
        /// Left node.
        left: Box<Where>,
        /// Right node.
        right: Box<Where>,
    },
}

impl Where {
    /// `column In [values]` on strings.
    pub fn in_strings<S: AsRef<str>>(column: &str, values: &[S]) -> Self {
        Self::strings(column, Operator::In, values)
    }

    /// `column Equal value` on a string.
    pub fn equal(column: &str, value: &str) -> Self {
        Self::strings(column, Operator::Equal, &[value])
    }

    /// `column Like pattern` (`%` wildcard).
    pub fn like(column: &str, pattern: &str) -> Self {
        Self::strings(column, Operator::Like, &[pattern])
    }

    /// A string filter with any operator.
    pub fn strings<S: AsRef<str>>(column: &str, operator: Operator, values: &[S]) -> Self {
        Where::CustomFilter {
            column: column.to_string(),
            operator,
            value_type: ValueType::String,
            value: values
                .iter()
                .map(|v| serde_yaml::Value::String(v.as_ref().to_string()))
                .collect(),
        }
    }

    /// `column operator [n]` on an integer.
    pub fn int(column: &str, operator: Operator, value: i64) -> Self {
        Where::CustomFilter {
            column: column.to_string(),
            operator,
            value_type: ValueType::Int,
            value: vec![serde_yaml::Value::Number(value.into())],
        }
    }

    /// `self And other`.
    pub fn and(self, other: Where) -> Self {
        Where::ImbricationFilter {
            operator: Logic::And,
            left: Box::new(self),
            right: Box::new(other),
        }
    }

    /// `self Or other`.
    pub fn or(self, other: Where) -> Self {
        Where::ImbricationFilter {
            operator: Logic::Or,
            left: Box::new(self),
            right: Box::new(other),
        }
    }

    /// Folds filters with `Or` (None when empty).
    pub fn any(filters: impl IntoIterator<Item = Where>) -> Option<Self> {
        filters.into_iter().reduce(Where::or)
    }

    /// The YAML text EBP expects (space-indented).
    pub fn to_yaml(&self) -> String {
        // Serialising plain data into a String cannot fail.
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// Parses the YAML (simulator side).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_yaml::from_str(text).map_err(|e| format!("WhereCondition illisible : {e}"))
    }
}

/// Splits values into `In` chunks of at most [`MAX_IN_VALUES`], dropping duplicates and
/// empty values while keeping the first-seen order.
pub fn chunks(values: &[String]) -> Vec<Vec<String>> {
    chunks_of(values, MAX_IN_VALUES)
}

/// Like [`chunks`] with another chunk size (at least 1).
pub fn chunks_of(values: &[String], size: usize) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> = values
        .iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && seen.insert(v.clone()))
        .collect();
    unique.chunks(size.max(1)).map(<[String]>::to_vec).collect()
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept; spaces as
/// `%20`, never `+`, so any server decodes them the same way).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path segment.
pub fn encode_path(segment: &str) -> String {
    encode_component(segment)
}

/// Builds `a=b&c=d` from pairs, each component encoded.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_round_trip_and_shape() {
        let w = Where::in_strings("Id", &["A1", "B 2"]).or(Where::like("Reference", "Doc%"));
        let yaml = w.to_yaml();
        assert!(yaml.contains("type: ImbricationFilter"), "{yaml}");
        assert!(yaml.contains("valueType: String"), "{yaml}");
        assert!(yaml.contains("operator: In"), "{yaml}");
        assert_eq!(Where::from_yaml(&yaml).ok(), Some(w));
    }

    #[test]
    fn chunks_dedupe_and_split() {
        let values: Vec<String> = (0..250).map(|i| format!("V{}", i % 230)).collect();
        let c = chunks(&values);
        assert_eq!(
            c.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![100, 100, 30]
        );
    }

    #[test]
    fn encoding_uses_percent_twenty() {
        assert_eq!(encode_component("a b:é"), "a%20b%3A%C3%A9");
    }
}
