//! `CatalogErp` for [`EbpClient`]: articles read one page (≤ 100 rows) per call from
//! `Items/ItemsExtentedQuery` with only the mapped `Columns`, filtered by the ERP
//! (`WhereCondition`: the merchant's query filter, `AllowPublishOnWeb`, `sysCreatedDate`;
//! `SysModifiedDate` for the incremental window — `reference/ebp-api.md` §"ItemsExtentedQuery");
//! stock from `GenericQuery` on `StockItem` (`ItemId In` per 100 articles, `StorehouseId In`
//! the profile's warehouses), changed stock rows by `FromModifiedDate`.
//!
//! Assumption (the simulator agrees): `sysModifiedDate` / `sysCreatedDate` compare as UTC
//! timestamps; EBP does not document their time zone.

use super::{cell, cell_decimal, EbpClient, Page, PAGE_LIMIT};
use crate::ebp::query::{chunks, query_string, Operator, ValueType, Where};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::{ErpArticle, FilterClause, FilterOp, StockKind};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    ArticleQuery, ArticleRead, ArticlesPage, CatalogErp, ReferencesPage,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// Columns the article mapping knows by name; every other column read is kept as text in
/// [`ErpArticle::fields`] (custom fields `xx_*`).
const KNOWN: &[&str] = &[
    "Id",
    "Caption",
    "DesCom",
    "DesComClear",
    "SalePriceVatExcluded",
    "SalePriceVatIncluded",
    "VatId",
    "AllowPublishOnWeb",
    "ActiveState",
    "ManageStock",
    "Weight",
    "NetWeight",
    "FamilyId",
    "SubFamilyId",
    "BarCode",
    "sysCreatedDate",
    "sysModifiedDate",
];

fn date_filter(column: &str, op: Operator, at: NaiveDateTime) -> Where {
    Where::CustomFilter {
        column: column.to_string(),
        operator: op,
        value_type: ValueType::Date,
        value: vec![serde_yaml::Value::String(EbpClient::iso(at))],
    }
}

fn clause(c: &FilterClause) -> Result<Where, StepError> {
    let op =
        match c.op {
            FilterOp::Like => Operator::Like,
            FilterOp::Equal => Operator::Equal,
            FilterOp::Different => Operator::Different,
            // EBP's WhereCondition has no negated Like (`reference/ebp-api.md` §3 operators).
            FilterOp::NotLike => return Err(StepError::permanent(
                "filtre ERP : NOT LIKE n'existe pas dans les conditions EBP (not supported by EBP)",
            )),
        };
    Ok(Where::strings(&c.column, op, &[c.value.as_str()]))
}

/// The WhereCondition of a query (None when there is nothing to filter).
fn where_of(q: &ArticleQuery, refs: Option<&[String]>) -> Result<Option<Where>, StepError> {
    let mut parts: Vec<Where> = q.filter.iter().map(clause).collect::<Result<_, _>>()?;
    if q.published_only {
        // A bit column: SQL Server converts the string 'true' to 1.
        parts.push(Where::strings(
            "AllowPublishOnWeb",
            Operator::Equal,
            &["true"],
        ));
    }
    if let Some(at) = q.created_since {
        parts.push(date_filter("sysCreatedDate", Operator::UpperOrEqual, at));
    }
    if let Some(r) = refs {
        parts.push(Where::in_strings("Id", r));
    }
    Ok(parts.into_iter().reduce(Where::and))
}

fn parse_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

fn decimal(row: &Value, key: &str) -> Result<Option<Decimal>, String> {
    match cell(row, key) {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => Decimal::from_str(&s)
            .or_else(|_| Decimal::from_scientific(&s))
            .map(Some)
            .map_err(|_| format!("{key} illisible : « {s} »")),
    }
}

/// A measure column: its decimal, or `None` with the raw text kept in `fields` under the
/// column's name when it cannot be read.
fn measure(row: &Value, key: &str, fields: &mut BTreeMap<String, String>) -> Option<Decimal> {
    match decimal(row, key) {
        Ok(d) => d,
        Err(_) => {
            fields.insert(key.to_string(), cell(row, key).unwrap_or_default());
            None
        }
    }
}

fn flag(row: &Value, key: &str, default: bool) -> bool {
    match row.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1"),
        _ => default,
    }
}

/// One `Item` row → an article, or the reason it cannot be read (that article fails).
pub(crate) fn article_from_row(row: &Value) -> ArticleRead {
    let reference = cell(row, "Id").unwrap_or_default();
    let read = || -> Result<ErpArticle, String> {
        let mut fields = BTreeMap::new();
        if let Value::Object(m) = row {
            for (k, _) in m.iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())) {
                if let Some(v) = cell(row, k) {
                    fields.insert(k.clone(), v);
                }
            }
        }
        Ok(ErpArticle {
            reference: reference.clone(),
            caption: cell(row, "Caption").unwrap_or_default(),
            description: cell(row, "DesCom"),
            description_clear: cell(row, "DesComClear"),
            price_excl_tax: decimal(row, "SalePriceVatExcluded")?,
            price_incl_tax: decimal(row, "SalePriceVatIncluded")?,
            vat_id: cell(row, "VatId").filter(|s| !s.is_empty()),
            published: flag(row, "AllowPublishOnWeb", false),
            active_state: cell(row, "ActiveState")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            stock_tracked: flag(row, "ManageStock", true),
            // An unreadable weight is not sent (the product still is): its raw text is
            // kept among the fields so the catalogue rules can say why (issue 21).
            weight: measure(row, "Weight", &mut fields),
            net_weight: measure(row, "NetWeight", &mut fields),
            family: cell(row, "FamilyId"),
            sub_family: cell(row, "SubFamilyId"),
            barcode: cell(row, "BarCode"),
            fields,
            created: cell(row, "sysCreatedDate").and_then(|s| parse_date(&s)),
            modified: cell(row, "sysModifiedDate").and_then(|s| parse_date(&s)),
        })
    };
    match read() {
        Ok(a) => ArticleRead::Ok(Box::new(a)),
        Err(reason) => ArticleRead::Invalid {
            reason: format!("article {reference} : donnée ERP invalide, {reason}"),
            reference,
        },
    }
}

#[path = "images.rs"]
mod images;

impl EbpClient {
    /// One page of a list endpoint.
    async fn one_page(
        &self,
        url: &str,
        params: &[(&str, String)],
        offset: u32,
    ) -> Result<(Vec<Value>, Option<u32>), StepError> {
        let mut p = params.to_vec();
        p.push(("Offset", offset.to_string()));
        p.push(("Limit", PAGE_LIMIT.to_string()));
        let full = format!("{url}?{}", query_string(&p));
        let body = self.execute(|| self.http.get(&full)).await?;
        let page: Page = serde_json::from_str(&body)
            .map_err(|e| StepError::permanent(format!("EBP : page illisible : {e}")))?;
        let n = page.results.len() as u32;
        let next = match page.paging {
            Some(pg) if n > 0 && ((offset + n) as usize) < pg.total => Some(offset + n),
            _ => None,
        };
        Ok((page.results, next))
    }

    fn columns_param(columns: &[String]) -> String {
        let mut seen = BTreeSet::new();
        let mut c: Vec<&str> = vec!["Id"];
        seen.insert("Id");
        for x in columns {
            if seen.insert(x.as_str()) {
                c.push(x);
            }
        }
        c.join(",")
    }
}

#[async_trait]
impl CatalogErp for EbpClient {
    async fn articles_page(
        &self,
        query: &ArticleQuery,
        offset: u32,
    ) -> Result<ArticlesPage, StepError> {
        let mut p = vec![
            ("Columns", Self::columns_param(&query.columns)),
            ("OrderByValue", "Id".to_string()),
        ];
        if let Some(w) = where_of(query, None)? {
            p.push(("WhereCondition", w.to_yaml()));
        }
        if let Some(d) = query.modified_since {
            p.push(("SysModifiedDate", Self::iso(d)));
        }
        let (rows, next) = self
            .one_page(&self.folder_url("Items/ItemsExtentedQuery"), &p, offset)
            .await?;
        Ok(ArticlesPage {
            articles: rows.iter().map(article_from_row).collect(),
            next_offset: next,
        })
    }

    async fn articles_by_references(
        &self,
        references: &[String],
        columns: &[String],
    ) -> Result<Vec<ArticleRead>, StepError> {
        let mut out = Vec::new();
        let q = ArticleQuery {
            columns: columns.to_vec(),
            ..ArticleQuery::default()
        };
        for chunk in chunks(references) {
            let mut p = vec![
                ("Columns", Self::columns_param(columns)),
                ("OrderByValue", "Id".to_string()),
            ];
            if let Some(w) = where_of(&q, Some(&chunk))? {
                p.push(("WhereCondition", w.to_yaml()));
            }
            let (rows, _) = self
                .one_page(&self.folder_url("Items/ItemsExtentedQuery"), &p, 0)
                .await?;
            out.extend(rows.iter().map(article_from_row));
        }
        Ok(out)
    }

    async fn stock_changed_since(
        &self,
        since: NaiveDateTime,
        warehouses: &[String],
        offset: u32,
    ) -> Result<ReferencesPage, StepError> {
        let mut p = vec![
            ("TableName", "StockItem".to_string()),
            ("Columns", "ItemId,StorehouseId".to_string()),
            ("OrderByValue", "ItemId".to_string()),
            ("FromModifiedDate", Self::iso(since)),
        ];
        if let Some(h) = chunks(warehouses).first() {
            p.push((
                "WhereCondition",
                Where::in_strings("StorehouseId", h).to_yaml(),
            ));
        }
        let (rows, next) = self
            .one_page(&self.folder_url("GenericQuery"), &p, offset)
            .await?;
        let mut seen = BTreeSet::new();
        let references = rows
            .iter()
            .filter_map(|r| cell(r, "ItemId"))
            .filter(|r| seen.insert(r.clone()))
            .collect();
        Ok(ReferencesPage {
            references,
            next_offset: next,
        })
    }

    async fn stock_of(
        &self,
        references: &[String],
        warehouses: &[String],
        kind: StockKind,
    ) -> Result<Vec<(String, Decimal)>, StepError> {
        let column = match kind {
            StockKind::Real => "RealStock",
            StockKind::Virtual => "VirtualStock",
        };
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut order = Vec::new();
        let houses = chunks(warehouses);
        for chunk in chunks(references) {
            for id in &chunk {
                order.push(id.clone());
                totals.insert(id.clone(), Decimal::ZERO);
            }
            let mut w = Where::in_strings("ItemId", &chunk);
            if let Some(h) = houses.first() {
                w = w.and(Where::in_strings("StorehouseId", h));
            }
            // A page holds 100 rows: with several warehouses, 100 articles give more rows.
            let p = vec![
                ("TableName", "StockItem".to_string()),
                ("Columns", format!("ItemId,StorehouseId,{column}")),
                ("OrderByValue", "ItemId".to_string()),
                ("WhereCondition", w.to_yaml()),
            ];
            let mut offset = 0;
            loop {
                let (rows, next) = self
                    .one_page(&self.folder_url("GenericQuery"), &p, offset)
                    .await?;
                for r in rows {
                    if let Some(v) = cell(&r, "ItemId").and_then(|id| totals.get_mut(&id)) {
                        *v += cell_decimal(&r, column);
                    }
                }
                match next {
                    Some(n) => offset = n,
                    None => break,
                }
            }
        }
        Ok(order
            .into_iter()
            .map(|id| {
                let q = totals.get(&id).copied().unwrap_or_default();
                (id, q)
            })
            .collect())
    }
}

#[path = "links.rs"]
mod links;
#[path = "prices.rs"]
mod prices;
pub use prices::EbpPricing;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_articles_and_bad_numbers_fail_that_article() {
        let row = json!({"Id": "A1", "Caption": "Lampe", "SalePriceVatExcluded": 12.5,
            "AllowPublishOnWeb": true, "ActiveState": 1, "ManageStock": false,
            "xx_Marque": "Lumen", "sysModifiedDate": "2026-01-02T03:04:05"});
        let ArticleRead::Ok(a) = article_from_row(&row) else {
            panic!("readable");
        };
        assert_eq!(a.price_excl_tax, Some(Decimal::new(125, 1)));
        assert!(a.published && !a.stock_tracked);
        assert_eq!(a.active_state, 1);
        assert_eq!(a.fields.get("xx_Marque").map(String::as_str), Some("Lumen"));
        assert!(a.modified.is_some());
        let bad = json!({"Id": "B2", "SalePriceVatExcluded": "douze"});
        assert!(matches!(
            article_from_row(&bad),
            ArticleRead::Invalid { reference, reason } if reference == "B2" && reason.contains("SalePriceVatExcluded")
        ));
    }

    #[test]
    fn the_where_condition_holds_filter_published_and_creation_date() {
        let q = ArticleQuery {
            filter: vec![FilterClause {
                column: "Id".into(),
                op: FilterOp::Like,
                value: "EM%".into(),
            }],
            published_only: true,
            created_since: NaiveDateTime::parse_from_str(
                "2026-01-01T00:00:00",
                "%Y-%m-%dT%H:%M:%S",
            )
            .ok(),
            ..ArticleQuery::default()
        };
        let y = where_of(&q, None)
            .ok()
            .flatten()
            .map(|w| w.to_yaml())
            .unwrap_or_default();
        for needle in ["EM%", "AllowPublishOnWeb", "sysCreatedDate", "UpperOrEqual"] {
            assert!(y.contains(needle), "{needle} in {y}");
        }
    }
}
