//! The merchant's ERP query filter (FEATURES §3.1: `ID like 'ART001'`, `ID LIKE 'EM%'`),
//! parsed into clauses the ERP adapter turns into its own `WhereCondition`. Only a small,
//! safe subset is accepted — `COLUMN OP 'value'` joined by `AND` — so a typo is refused
//! with a clear message before any call, and nothing but a value ever reaches the ERP.

use serde::{Deserialize, Serialize};

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterOp {
    /// `LIKE` with `%` and `_`.
    Like,
    /// `NOT LIKE`.
    NotLike,
    /// `=`.
    Equal,
    /// `<>` or `!=`.
    Different,
}

/// One `COLUMN OP 'value'` clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterClause {
    /// ERP column (`ID` is spelled `Id`, EBP's name).
    pub column: String,
    /// Comparison.
    pub op: FilterOp,
    /// Value, unquoted.
    pub value: String,
}

/// Parses `ID LIKE 'EM%' AND FamilyId = 'TAPIS'`. Empty text: no clause.
pub fn parse_query_filter(text: &str) -> Result<Vec<FilterClause>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Ok(out);
    }
    loop {
        let col_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let column = &rest[..col_end];
        if column.is_empty() {
            return Err(format!(
                "filtre ERP invalide : colonne attendue dans « {text} » (column expected)"
            ));
        }
        rest = rest[col_end..].trim_start();
        let upper = rest.to_ascii_uppercase();
        let (op, len) = if upper.starts_with("NOT LIKE") {
            (FilterOp::NotLike, 8)
        } else if upper.starts_with("LIKE") {
            (FilterOp::Like, 4)
        } else if rest.starts_with("<>") || rest.starts_with("!=") {
            (FilterOp::Different, 2)
        } else if rest.starts_with('=') {
            (FilterOp::Equal, 1)
        } else {
            return Err(format!(
                "filtre ERP invalide : opérateur LIKE, NOT LIKE, =, <> attendu après {column} (operator expected)"
            ));
        };
        rest = rest[len..].trim_start();
        let Some(body) = rest.strip_prefix('\'') else {
            return Err(format!(
                "filtre ERP invalide : valeur entre apostrophes attendue après {column} (quoted value expected)"
            ));
        };
        // '' inside a value is an escaped quote, as in SQL.
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    value.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                value.push(c);
            }
        }
        let Some(end) = end else {
            return Err(
                "filtre ERP invalide : apostrophe fermante manquante (unclosed quote)".into(),
            );
        };
        let column = if column.eq_ignore_ascii_case("id") {
            "Id".to_string()
        } else {
            column.to_string()
        };
        out.push(FilterClause { column, op, value });
        rest = body[end..].trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let upper = rest.to_ascii_uppercase();
        if upper.starts_with("AND ") {
            rest = rest[4..].trim_start();
        } else {
            return Err(format!(
                "filtre ERP invalide : seul AND relie deux conditions (only AND), reste « {rest} »"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_and_equal_clauses_are_parsed() {
        let f = parse_query_filter("ID LIKE 'EM%' and FamilyId = 'TAP''IS'").expect("parse");
        assert_eq!(
            f,
            vec![
                FilterClause {
                    column: "Id".into(),
                    op: FilterOp::Like,
                    value: "EM%".into()
                },
                FilterClause {
                    column: "FamilyId".into(),
                    op: FilterOp::Equal,
                    value: "TAP'IS".into()
                },
            ]
        );
        assert_eq!(
            parse_query_filter("ID not like 'X%'").expect("parse")[0].op,
            FilterOp::NotLike
        );
        assert!(parse_query_filter("  ").expect("empty").is_empty());
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in [
            "ID LIKE EM%",
            "ID > '3'",
            "ID = 'a' OR ID = 'b'",
            "ID = 'open",
            "; DROP",
        ] {
            let e = parse_query_filter(bad).expect_err(bad);
            assert!(e.starts_with("filtre ERP invalide"), "{bad}: {e}");
        }
    }
}
