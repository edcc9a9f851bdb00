//! `SpecificPricesErp` for EBP ([`EbpPricing`]): customer-group and customer-specific prices
//! read with `GenericQuery` from the price-list tables of the public schema
//! (`reference/ebp-api.md` §6 "Price categories / tarifs"; table and column names from the
//! Open Line schema dump [S10], `Database/interface_EBP/PriceList*.ts`):
//!
//! * `PriceListCategory(Id, Description, IsPurchasePriceListCategory)` — the price
//!   categories (*catégories tarifaires*); a category's shop group carries its
//!   `Description`;
//! * `PriceList(Id, IsPurchasePriceList, ThirdPriceType, …)` — the price lists;
//! * `PriceListInclusionLine(PriceListId, StartElementId, IsExcluded, …)` — whom a list
//!   applies to;
//! * `PriceListCalculationLine(PriceListId, ItemId, Threshold, CalculationType,
//!   DiscountValue, PriceValue)` — the price of one article in one list;
//! * `Customer(Id, MainInvoicingContact_Email)` — a customer's e-mail, the shop key.
//!
//! How these link is not documented: every guess is in [`super::super::assumptions`]
//! (`PRICE_LIST_*`). The price setup (lists, who they apply to, category names, customer
//! e-mails) is read once per run; each page then costs one query (its articles' lines).

use super::{cell, EbpClient};
use crate::ebp::assumptions::{
    PRICE_CATEGORY_NAME_COLUMN, PRICE_LIST_CALCULATION_DISCOUNT, PRICE_LIST_CALCULATION_FIXED,
    PRICE_LIST_INCLUSION_TABLE, PRICE_LIST_THIRD_CATEGORY, PRICE_LIST_THIRD_CUSTOMER,
};
use crate::ebp::query::{chunks, Where};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::specific::{
    ErpSpecificPrice, PriceRule, PriceTarget, SpecificPriceSettings,
};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    ErpSpecificPrices, PriceScope, ReferencesPage, SpecificPricesErp,
};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use tokio::sync::Mutex;

/// Whom one price list applies to: a target, or why its prices cannot be sent.
type ListTargets = Vec<Result<PriceTarget, String>>;

/// The price setup of the folder, read once per run.
#[derive(Debug, Clone, Default)]
struct Setup {
    /// Sale price list id → its targets.
    lists: BTreeMap<String, ListTargets>,
    scope: PriceScope,
}

/// EBP seen as a source of specific prices (wraps the run's [`EbpClient`]).
pub struct EbpPricing {
    client: EbpClient,
    setup: Mutex<Option<Setup>>,
}

impl EbpPricing {
    /// Over `client`.
    pub fn new(client: EbpClient) -> Self {
        Self {
            client,
            setup: Mutex::new(None),
        }
    }

    /// Every row of `table` matching `filter`, page after page.
    async fn all_rows(
        &self,
        table: &str,
        columns: &str,
        filter: Option<Where>,
    ) -> Result<Vec<Value>, StepError> {
        let mut p = vec![
            ("TableName", table.to_string()),
            ("Columns", columns.to_string()),
            (
                "OrderByValue",
                columns.split(',').next().unwrap_or("Id").into(),
            ),
        ];
        if let Some(w) = filter {
            p.push(("WhereCondition", w.to_yaml()));
        }
        let url = self.client.folder_url("GenericQuery");
        let (mut out, mut offset) = (Vec::new(), 0);
        loop {
            let (rows, next) = self.client.one_page(&url, &p, offset).await?;
            out.extend(rows);
            match next {
                Some(n) if n > offset => offset = n,
                _ => return Ok(out),
            }
        }
    }

    async fn load_setup(&self) -> Result<Setup, StepError> {
        let lists = self
            .all_rows("PriceList", "Id,IsPurchasePriceList,ThirdPriceType", None)
            .await?;
        // Sale lists only, by kind of third.
        let mut kind: BTreeMap<String, i64> = BTreeMap::new();
        for l in &lists {
            let purchase = matches!(
                cell(l, "IsPurchasePriceList").as_deref(),
                Some("true" | "1")
            );
            let third = cell(l, "ThirdPriceType").and_then(|t| t.parse().ok());
            if let (false, Some(id), Some(t)) = (purchase, cell(l, "Id"), third) {
                kind.insert(id, t);
            }
        }
        let categories: BTreeMap<String, String> = self
            .all_rows(
                "PriceListCategory",
                &format!("Id,{PRICE_CATEGORY_NAME_COLUMN},IsPurchasePriceListCategory"),
                None,
            )
            .await?
            .iter()
            .filter(|c| {
                !matches!(
                    cell(c, "IsPurchasePriceListCategory").as_deref(),
                    Some("true" | "1")
                )
            })
            .filter_map(|c| {
                Some((
                    cell(c, "Id")?,
                    cell(c, PRICE_CATEGORY_NAME_COLUMN).unwrap_or_default(),
                ))
            })
            .collect();
        let ids: Vec<String> = kind.keys().cloned().collect();
        let mut inclusions: Vec<(String, String)> = Vec::new();
        for chunk in chunks(&ids) {
            for r in self
                .all_rows(
                    PRICE_LIST_INCLUSION_TABLE,
                    "PriceListId,StartElementId,IsExcluded",
                    Some(Where::in_strings("PriceListId", &chunk)),
                )
                .await?
            {
                if matches!(cell(&r, "IsExcluded").as_deref(), Some("true" | "1")) {
                    continue;
                }
                if let (Some(l), Some(e)) = (cell(&r, "PriceListId"), cell(&r, "StartElementId")) {
                    inclusions.push((l, e));
                }
            }
        }
        let customer_ids: Vec<String> = inclusions
            .iter()
            .filter(|(l, _)| kind.get(l) == Some(&PRICE_LIST_THIRD_CUSTOMER))
            .map(|(_, c)| c.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut emails: BTreeMap<String, Option<String>> = BTreeMap::new();
        for chunk in chunks(&customer_ids) {
            for r in self
                .all_rows(
                    "Customer",
                    "Id,MainInvoicingContact_Email",
                    Some(Where::in_strings("Id", &chunk)),
                )
                .await?
            {
                if let Some(id) = cell(&r, "Id") {
                    let e = cell(&r, "MainInvoicingContact_Email")
                        .map(|e| e.trim().to_lowercase())
                        .filter(|e| e.contains('@'));
                    emails.insert(id, e);
                }
            }
        }
        let mut setup = Setup::default();
        let mut groups = BTreeSet::new();
        let mut customers = BTreeSet::new();
        for (list, element) in inclusions {
            let target = match kind.get(&list) {
                Some(&PRICE_LIST_THIRD_CATEGORY) => match categories.get(&element) {
                    Some(name) if !name.trim().is_empty() => {
                        groups.insert(name.trim().to_string());
                        Ok(PriceTarget::Group(name.trim().to_string()))
                    }
                    _ => Err(format!(
                        "catégorie tarifaire {element} inconnue ou sans libellé : prix ignoré (unknown price category)"
                    )),
                },
                Some(&PRICE_LIST_THIRD_CUSTOMER) => match emails.get(&element) {
                    Some(Some(e)) => {
                        customers.insert(e.clone());
                        Ok(PriceTarget::Customer(e.clone()))
                    }
                    Some(None) => Err(format!(
                        "client {element} sans e-mail valide : prix ignoré (customer without e-mail)"
                    )),
                    None => Err(format!(
                        "client {element} inconnu : prix ignoré (unknown customer)"
                    )),
                },
                _ => continue,
            };
            setup.lists.entry(list).or_default().push(target);
        }
        setup.scope = PriceScope {
            groups: groups.into_iter().collect(),
            customers: customers.into_iter().collect(),
        };
        Ok(setup)
    }
}

fn decimal(row: &Value, key: &str) -> Option<Decimal> {
    cell(row, key).and_then(|s| {
        Decimal::from_str(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .ok()
    })
}

/// One calculation line → its rule, or why it cannot be read.
fn rule_of(row: &Value) -> Result<PriceRule, String> {
    let kind: i64 = cell(row, "CalculationType")
        .and_then(|t| t.parse().ok())
        .ok_or("type de calcul illisible (unreadable calculation type)")?;
    match kind {
        PRICE_LIST_CALCULATION_FIXED => decimal(row, "PriceValue")
            .map(PriceRule::Fixed)
            .ok_or_else(|| "prix fixe illisible (unreadable fixed price)".into()),
        PRICE_LIST_CALCULATION_DISCOUNT => decimal(row, "DiscountValue")
            .map(PriceRule::Discount)
            .ok_or_else(|| "remise illisible (unreadable discount)".into()),
        other => Err(format!(
            "type de calcul {other} non pris en charge (calculation type not supported)"
        )),
    }
}

#[async_trait]
impl SpecificPricesErp for EbpPricing {
    async fn specific_prices(
        &self,
        references: &[String],
        settings: SpecificPriceSettings,
    ) -> Result<ErpSpecificPrices, StepError> {
        let setup = {
            let mut g = self.setup.lock().await;
            match g.as_ref() {
                Some(s) => s.clone(),
                None => {
                    let s = self.load_setup().await?;
                    *g = Some(s.clone());
                    s
                }
            }
        };
        let wanted = |t: &PriceTarget| match t {
            PriceTarget::Group(_) => settings.groups,
            PriceTarget::Customer(_) => settings.customers,
        };
        let mut out = ErpSpecificPrices {
            scope: PriceScope {
                groups: if settings.groups {
                    setup.scope.groups.clone()
                } else {
                    Vec::new()
                },
                customers: if settings.customers {
                    setup.scope.customers.clone()
                } else {
                    Vec::new()
                },
            },
            ..ErpSpecificPrices::default()
        };
        let lists: Vec<String> = setup.lists.keys().cloned().collect();
        if lists.is_empty() {
            return Ok(out);
        }
        for chunk in chunks(references) {
            let mut filter = Where::in_strings("ItemId", &chunk);
            // Few lists (the usual case): the ERP filters them too; else filtered here.
            if lists.len() <= 100 {
                filter = filter.and(Where::in_strings("PriceListId", &lists));
            }
            let rows = self
                .all_rows(
                    "PriceListCalculationLine",
                    "ItemId,PriceListId,Threshold,CalculationType,DiscountValue,PriceValue",
                    Some(filter),
                )
                .await?;
            for r in rows {
                let (Some(item), Some(list)) = (cell(&r, "ItemId"), cell(&r, "PriceListId")) else {
                    continue;
                };
                let Some(targets) = setup.lists.get(&list) else {
                    continue;
                };
                let rule = rule_of(&r);
                for t in targets {
                    match (t, &rule) {
                        (Ok(t), _) if !wanted(t) => {}
                        (Ok(t), Ok(rule)) => out.prices.push(ErpSpecificPrice {
                            reference: item.clone(),
                            target: t.clone(),
                            rule: *rule,
                            from_quantity: decimal(&r, "Threshold").unwrap_or_default(),
                        }),
                        (Ok(t), Err(why)) => out.invalid.push((
                            item.clone(),
                            format!("tarif {list} ({}) : {why}", t.label()),
                        )),
                        (Err(why), _) => out
                            .invalid
                            .push((item.clone(), format!("tarif {list} : {why}"))),
                    }
                }
            }
        }
        Ok(out)
    }

    async fn prices_changed_since(
        &self,
        since: NaiveDateTime,
        offset: u32,
    ) -> Result<ReferencesPage, StepError> {
        let p = vec![
            ("TableName", "PriceListCalculationLine".to_string()),
            ("Columns", "ItemId,PriceListId".to_string()),
            ("OrderByValue", "ItemId".to_string()),
            ("FromModifiedDate", EbpClient::iso(since)),
        ];
        let url = self.client.folder_url("GenericQuery");
        let (rows, next) = self.client.one_page(&url, &p, offset).await?;
        let mut seen = BTreeSet::new();
        Ok(ReferencesPage {
            references: rows
                .iter()
                .filter_map(|r| cell(r, "ItemId"))
                .filter(|r| seen.insert(r.clone()))
                .collect(),
            next_offset: next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calculation_lines_become_rules_and_unknown_kinds_are_refused() {
        let fixed = json!({"CalculationType": PRICE_LIST_CALCULATION_FIXED, "PriceValue": 12.5});
        assert_eq!(rule_of(&fixed), Ok(PriceRule::Fixed(Decimal::new(125, 1))));
        let pct =
            json!({"CalculationType": PRICE_LIST_CALCULATION_DISCOUNT, "DiscountValue": "10"});
        assert_eq!(rule_of(&pct), Ok(PriceRule::Discount(Decimal::TEN)));
        let other = json!({"CalculationType": 7});
        assert!(rule_of(&other).is_err_and(|e| e.contains("non pris en charge")));
    }
}
