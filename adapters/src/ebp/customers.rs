//! `CustomerErp` for [`EbpClient`]: customers read one page (≤ 100 rows) per call from
//! `GenericQuery` on the `Customer` table with only the columns the export needs
//! (`reference/ebp-api.md` §3 "GenericQuery tables": Customer, Contact, CustomerFamily;
//! §6 data model for the column names), filtered by the ERP (`WhereCondition`: the
//! merchant's query filter, `sysCreatedDate` for new customers; `FromModifiedDate` for the
//! incremental window). Contacts of a page come from one `Contact` query
//! (`AssociatedCustomerId In` the page's codes); groups from `CustomerFamily` or
//! `PriceListCategory`.
//!
//! Undocumented details are the assumptions below (the simulator agrees with them).

use super::{cell, EbpClient, Page, PAGE_LIMIT};
use crate::ebp::query::{chunks, query_string, Operator, ValueType, Where};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::{FilterClause, FilterOp};
use passerelle_domain::customer_export::{ErpAccount, ErpContact, GroupSource, PostalAddress};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    CustomerErp, CustomerQuery, CustomerRead, CustomersPage, ErpGroup,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `Customer` columns an export reads (`reference/ebp-api.md` §6 "Customer").
///
/// **Assumption**: `MainInvoicingContact_Phone` / `_CellPhone`, `NAF` and
/// `sysCreatedDate` are readable through `GenericQuery` like the columns the reference
/// shows in real answers (`ActiveState`, `sysModifiedDate`); they come from the Open Line
/// schema dump [S10], not from an EBP answer.
pub(super) const CUSTOMER_COLUMNS: &[&str] = &[
    "Id",
    "Name",
    "ActiveState",
    "FamilyId",
    "PriceListCategoryId",
    "MainInvoicingContact_FirstName",
    "MainInvoicingContact_Name",
    "MainInvoicingContact_Email",
    "MainInvoicingContact_Phone",
    "MainInvoicingContact_CellPhone",
    "Siren",
    "Nic",
    "NAF",
    "MainInvoicingAddress_Address1",
    "MainInvoicingAddress_Address2",
    "MainInvoicingAddress_ZipCode",
    "MainInvoicingAddress_City",
    "MainInvoicingAddress_CountryIsoCode",
    "MainDeliveryAddress_Address1",
    "MainDeliveryAddress_Address2",
    "MainDeliveryAddress_ZipCode",
    "MainDeliveryAddress_City",
    "MainDeliveryAddress_CountryIsoCode",
    "sysCreatedDate",
    "sysModifiedDate",
];

/// The `Contact` columns read.
///
/// **Assumption**: `Contact` is listed among GenericQuery tables [S2] and its columns
/// (`AssociatedCustomerId`, `ContactFields_*`, `AddressFields_*`) come from the schema dump
/// [S10]; the flattened `AddressFields_` names follow the `MainInvoicingAddress_` pattern
/// (`Address1`, `ZipCode`, `City`, `CountryIsoCode`).
pub(super) const CONTACT_COLUMNS: &[&str] = &[
    "Id",
    "AssociatedCustomerId",
    "ContactFields_FirstName",
    "ContactFields_Name",
    "ContactFields_Email",
    "ContactFields_Phone",
    "ContactFields_CellPhone",
    "AddressFields_Address1",
    "AddressFields_Address2",
    "AddressFields_ZipCode",
    "AddressFields_City",
    "AddressFields_CountryIsoCode",
];

/// The price-category table and its label column.
///
/// **Assumption**: `PriceListCategory(Id, Description, …)` is in the schema dump [S10] but
/// not in the doc's GenericQuery table overview; we assume it is readable like
/// `CustomerFamily(Id, Caption)`.
pub(super) const PRICE_CATEGORY_TABLE: (&str, &str) = ("PriceListCategory", "Description");

/// The customer-family table and its label column (`reference/ebp-api.md` §6).
pub(super) const FAMILY_TABLE: (&str, &str) = ("CustomerFamily", "Caption");

fn parse_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

fn text(row: &Value, key: &str) -> String {
    cell(row, key).unwrap_or_default().trim().to_string()
}

fn opt(row: &Value, key: &str) -> Option<String> {
    Some(text(row, key)).filter(|s| !s.is_empty())
}

fn address(row: &Value, prefix: &str) -> PostalAddress {
    PostalAddress {
        address1: text(row, &format!("{prefix}_Address1")),
        address2: opt(row, &format!("{prefix}_Address2")),
        postcode: text(row, &format!("{prefix}_ZipCode")),
        city: text(row, &format!("{prefix}_City")),
        country_iso: text(row, &format!("{prefix}_CountryIsoCode")).to_uppercase(),
    }
}

/// One `Customer` row → a customer, or the reason it cannot be read (that customer fails).
pub(crate) fn customer_from_row(row: &Value) -> CustomerRead {
    let code = cell(row, "Id").unwrap_or_default();
    let state = match row.get("ActiveState") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => cell(row, "ActiveState")
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| format!("ActiveState illisible : « {v} »")),
    };
    let active_state = match state {
        Ok(s) => s,
        Err(reason) => {
            return CustomerRead::Invalid {
                reason: format!("client {code} : donnée ERP invalide, {reason}"),
                code,
            }
        }
    };
    let siret = match (opt(row, "Siren"), opt(row, "Nic")) {
        (Some(s), Some(n)) => Some(format!("{s}{n}")),
        (Some(s), None) => Some(s),
        _ => None,
    };
    CustomerRead::Ok(Box::new(ErpAccount {
        code: code.clone(),
        name: text(row, "Name"),
        active_state,
        family: opt(row, "FamilyId"),
        price_category: opt(row, "PriceListCategoryId"),
        firstname: text(row, "MainInvoicingContact_FirstName"),
        lastname: text(row, "MainInvoicingContact_Name"),
        email: text(row, "MainInvoicingContact_Email"),
        phone: opt(row, "MainInvoicingContact_Phone")
            .or_else(|| opt(row, "MainInvoicingContact_CellPhone"))
            .unwrap_or_default(),
        siret,
        naf: opt(row, "NAF"),
        billing: address(row, "MainInvoicingAddress"),
        delivery: address(row, "MainDeliveryAddress"),
        created: cell(row, "sysCreatedDate").and_then(|s| parse_date(&s)),
        modified: cell(row, "sysModifiedDate").and_then(|s| parse_date(&s)),
        contacts: Vec::new(),
    }))
}

fn contact_from_row(row: &Value) -> ErpContact {
    let a = address(row, "AddressFields");
    ErpContact {
        id: text(row, "Id"),
        firstname: text(row, "ContactFields_FirstName"),
        lastname: text(row, "ContactFields_Name"),
        email: text(row, "ContactFields_Email"),
        phone: opt(row, "ContactFields_Phone")
            .or_else(|| opt(row, "ContactFields_CellPhone"))
            .unwrap_or_default(),
        address: a.is_usable().then_some(a),
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

/// The WhereCondition of a customer query (None when there is nothing to filter).
fn where_of(q: &CustomerQuery) -> Result<Option<Where>, StepError> {
    let mut parts: Vec<Where> = q.filter.iter().map(clause).collect::<Result<_, _>>()?;
    if let Some(at) = q.created_since {
        parts.push(Where::CustomFilter {
            column: "sysCreatedDate".into(),
            operator: Operator::UpperOrEqual,
            value_type: ValueType::Date,
            value: vec![serde_yaml::Value::String(EbpClient::iso(at))],
        });
    }
    Ok(parts.into_iter().reduce(Where::and))
}

impl EbpClient {
    /// One `GenericQuery` page from `offset`: rows and the next offset.
    async fn generic_page(
        &self,
        params: &[(&str, String)],
        offset: u32,
    ) -> Result<(Vec<Value>, Option<u32>), StepError> {
        let mut p = params.to_vec();
        p.push(("Offset", offset.to_string()));
        p.push(("Limit", PAGE_LIMIT.to_string()));
        let full = format!("{}?{}", self.folder_url("GenericQuery"), query_string(&p));
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

    /// The contacts of these customers, by customer code (one query per 100 codes).
    async fn contacts_of(
        &self,
        codes: &[String],
    ) -> Result<BTreeMap<String, Vec<ErpContact>>, StepError> {
        let mut out: BTreeMap<String, Vec<ErpContact>> = BTreeMap::new();
        for chunk in chunks(codes) {
            let w = Where::in_strings("AssociatedCustomerId", &chunk);
            let rows = self
                .generic_query("Contact", CONTACT_COLUMNS, Some(&w), "Id", None)
                .await?;
            for r in rows {
                let owner = text(&r, "AssociatedCustomerId");
                out.entry(owner).or_default().push(contact_from_row(&r));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl CustomerErp for EbpClient {
    async fn customers_page(
        &self,
        query: &CustomerQuery,
        offset: u32,
    ) -> Result<CustomersPage, StepError> {
        let mut p = vec![
            ("TableName", "Customer".to_string()),
            ("Columns", CUSTOMER_COLUMNS.join(",")),
            ("OrderByValue", "Id".to_string()),
        ];
        if let Some(w) = where_of(query)? {
            p.push(("WhereCondition", w.to_yaml()));
        }
        if let Some(d) = query.modified_since {
            p.push(("FromModifiedDate", Self::iso(d)));
        }
        let (rows, next) = self.generic_page(&p, offset).await?;
        let mut customers: Vec<CustomerRead> = rows.iter().map(customer_from_row).collect();
        if query.with_contacts {
            let codes: Vec<String> = customers
                .iter()
                .map(|c| c.code().to_string())
                .filter(|c| !c.trim().is_empty())
                .collect();
            if !codes.is_empty() {
                let mut contacts = self.contacts_of(&codes).await?;
                for c in customers.iter_mut() {
                    if let CustomerRead::Ok(a) = c {
                        a.contacts = contacts.remove(&a.code).unwrap_or_default();
                    }
                }
            }
        }
        Ok(CustomersPage {
            customers,
            next_offset: next,
        })
    }

    async fn customer_groups(&self, source: GroupSource) -> Result<Vec<ErpGroup>, StepError> {
        let (table, label) = match source {
            GroupSource::None => return Ok(Vec::new()),
            GroupSource::Family => FAMILY_TABLE,
            GroupSource::PriceCategory => PRICE_CATEGORY_TABLE,
        };
        let rows = self
            .generic_query(table, &["Id", label], None, "Id", None)
            .await?;
        Ok(rows
            .iter()
            .map(|r| ErpGroup {
                id: text(r, "Id"),
                name: text(r, label),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_customers_and_bad_states_fail_that_customer() {
        let row = json!({"Id": "CL1", "Name": "ATELIER", "ActiveState": 1, "Siren": "404833048",
            "Nic": "00022", "MainInvoicingContact_Email": "a@b.fr",
            "MainInvoicingAddress_City": "Lyon", "MainInvoicingAddress_CountryIsoCode": "fr",
            "sysCreatedDate": "2026-01-02T03:04:05"});
        let CustomerRead::Ok(c) = customer_from_row(&row) else {
            panic!("readable");
        };
        assert_eq!(c.active_state, 1);
        assert_eq!(c.siret.as_deref(), Some("40483304800022"));
        assert_eq!(c.billing.country_iso, "FR");
        assert!(c.created.is_some());
        let bad = json!({"Id": "CL2", "ActiveState": "dormant"});
        assert!(matches!(
            customer_from_row(&bad),
            CustomerRead::Invalid { code, reason } if code == "CL2" && reason.contains("ActiveState")
        ));
    }

    #[test]
    fn the_where_condition_holds_filter_and_creation_date() {
        let q = CustomerQuery {
            filter: vec![FilterClause {
                column: "Id".into(),
                op: FilterOp::Like,
                value: "B%".into(),
            }],
            created_since: NaiveDateTime::parse_from_str(
                "2026-01-01T00:00:00",
                "%Y-%m-%dT%H:%M:%S",
            )
            .ok(),
            ..CustomerQuery::default()
        };
        let y = where_of(&q)
            .ok()
            .flatten()
            .map(|w| w.to_yaml())
            .unwrap_or_default();
        for needle in ["B%", "sysCreatedDate", "UpperOrEqual"] {
            assert!(y.contains(needle), "{needle} in {y}");
        }
    }
}
