//! The customer side of the EBP simulator used by the customer exports: the `Customer`
//! columns the simulator's base rows lack (`ActiveState`, `PriceListCategoryId`, phones,
//! `NAF`, `sysCreatedDate`, and a `sysModifiedDate` that only moves when the customer
//! changes), and the `Contact`, `CustomerFamily` and `PriceListCategory` tables
//! (`reference/ebp-api.md` §6; see `super::super::customers` for the assumptions).
//! `Columns`, paging, `WhereCondition`, `FromModifiedDate` and the rate limit are the
//! simulator's own.

use super::{iso, lock, now_naive, EbpSim, SimCustomer};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Customer columns every row carries (null when unset), so that `Columns` asking for
/// them is valid on any customer.
const STANDARD: &[&str] = &[
    "PriceListCategoryId",
    "MainInvoicingContact_Phone",
    "MainInvoicingContact_CellPhone",
    "NAF",
];

/// Extra columns and dates per customer code.
#[derive(Default)]
pub(super) struct CustomerStore {
    columns: BTreeMap<String, Map<String, Value>>,
    created: BTreeMap<String, NaiveDateTime>,
    modified: BTreeMap<String, NaiveDateTime>,
}

impl CustomerStore {
    /// Completes a base `Customer` row with the customer's extra columns and dates.
    pub(super) fn complete(&self, c: &SimCustomer, row: &mut Value) {
        let Value::Object(m) = row else { return };
        for col in STANDARD {
            m.entry((*col).to_string()).or_insert(Value::Null);
        }
        if let Some(at) = self.modified.get(&c.code) {
            m.insert("sysModifiedDate".into(), json!(iso(*at)));
        }
        let created = self
            .created
            .get(&c.code)
            .map(|d| json!(iso(*d)))
            .or_else(|| m.get("sysModifiedDate").cloned())
            .unwrap_or(Value::Null);
        m.insert("sysCreatedDate".into(), created);
        if let Some(extra) = self.columns.get(&c.code) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

impl EbpSim {
    /// Seeds customers with extra `Customer` columns (raw, so tests can seed unreadable
    /// values), created and modified now. Replaces same codes.
    pub fn seed_export_customers(&self, customers: &[(SimCustomer, Vec<(&str, Value)>)]) {
        let mut g = lock(&self.inner);
        let now = now_naive();
        for (c, cols) in customers {
            g.customers.insert(c.code.clone(), c.clone());
            g.cust.created.insert(c.code.clone(), now);
            g.cust.modified.insert(c.code.clone(), now);
            let m = g.cust.columns.entry(c.code.clone()).or_default();
            m.clear();
            for (k, v) in cols {
                m.insert((*k).to_string(), v.clone());
            }
        }
    }

    /// Changes columns of a customer as a user would (its `sysModifiedDate` becomes now).
    /// Returns false when the customer is unknown.
    pub fn update_customer(&self, code: &str, columns: &[(&str, Value)]) -> bool {
        let mut g = lock(&self.inner);
        if !g.customers.contains_key(code) {
            return false;
        }
        g.cust.modified.insert(code.to_string(), now_naive());
        let m = g.cust.columns.entry(code.to_string()).or_default();
        for (k, v) in columns {
            m.insert((*k).to_string(), v.clone());
        }
        true
    }

    /// Back-dates a customer (creation and modification), as if untouched since `at`.
    pub fn date_customer(&self, code: &str, at: NaiveDateTime) {
        let mut g = lock(&self.inner);
        g.cust.created.insert(code.to_string(), at);
        g.cust.modified.insert(code.to_string(), at);
    }

    /// Back-dates every customer.
    pub fn date_all_customers(&self, at: NaiveDateTime) {
        let codes: Vec<String> = lock(&self.inner).customers.keys().cloned().collect();
        for c in codes {
            self.date_customer(&c, at);
        }
    }

    /// Adds a contact of `customer` (EBP `Contact` row).
    #[allow(clippy::too_many_arguments)]
    pub fn seed_contact(
        &self,
        id: &str,
        customer: &str,
        firstname: &str,
        lastname: &str,
        email: &str,
        address: Option<(&str, &str, &str, &str)>,
    ) {
        let (a1, zip, city, country) = address.unwrap_or(("", "", "", ""));
        let row = json!({
            "Id": id, "AssociatedCustomerId": customer,
            "ContactFields_FirstName": firstname, "ContactFields_Name": lastname,
            "ContactFields_Email": email, "ContactFields_Phone": null,
            "ContactFields_CellPhone": null, "ContactFields_Civility": null,
            "ContactFields_Function": null, "IsMainInvoicing": false, "IsMainDelivery": false,
            "AddressFields_Address1": a1, "AddressFields_Address2": null,
            "AddressFields_ZipCode": zip, "AddressFields_City": city,
            "AddressFields_CountryIsoCode": country,
            "sysModifiedDate": iso(now_naive()),
        });
        let mut g = lock(&self.inner);
        let rows = g.tables.entry("Contact".into()).or_default();
        rows.retain(|r| r.get("Id").and_then(Value::as_str) != Some(id));
        rows.push(row);
    }

    /// Sets the customer families (`CustomerFamily`: `Id`, `Caption`).
    pub fn seed_customer_families(&self, families: &[(&str, &str)]) {
        let rows = families
            .iter()
            .map(|(id, caption)| {
                json!({"Id": id, "Caption": caption, "PriceListCategoryId": null,
                       "DiscountRate": 0, "sysModifiedDate": iso(now_naive())})
            })
            .collect();
        lock(&self.inner)
            .tables
            .insert("CustomerFamily".into(), rows);
    }

    /// Sets the price categories (`PriceListCategory`: `Id`, `Description`).
    pub fn seed_price_categories(&self, categories: &[(&str, &str)]) {
        let rows = categories
            .iter()
            .map(|(id, d)| {
                json!({"Id": id, "Description": d, "IsPurchasePriceListCategory": false,
                       "sysModifiedDate": iso(now_naive())})
            })
            .collect();
        lock(&self.inner)
            .tables
            .insert("PriceListCategory".into(), rows);
    }
}
