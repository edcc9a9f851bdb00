//! The price-list tables of the EBP simulator — and its linked articles (`LinkedItem`) and
//! bills of materials (`ItemComponent`), the other article tables the catalogue extras
//! read, served by its `GenericQuery` like any other
//! table (`Columns`, `WhereCondition`, paging ≤ 100): `PriceListCategory`, `PriceList`,
//! `PriceListInclusionLine`, `PriceListCalculationLine`, with the columns of the public
//! schema dump (`reference/ebp-api.md` §6) and the linkage assumed in
//! [`crate::ebp::assumptions`] (`PRICE_LIST_*`) — the client reads what this writes, so both
//! sides change together when EBP confirms or corrects an assumption.

use super::{iso, lock, now_naive, num, EbpSim};
use crate::ebp::contract::{
    ITEM_COMPONENT_TABLE, LINKED_ITEM_TABLE, PRICE_CATEGORY_NAME_COLUMN,
    PRICE_LIST_CALCULATION_DISCOUNT, PRICE_LIST_CALCULATION_FIXED, PRICE_LIST_INCLUSION_TABLE,
    PRICE_LIST_THIRD_CATEGORY, PRICE_LIST_THIRD_CUSTOMER,
};
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Whom a simulated sale price list applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimPriceThird {
    /// The customers of a price category (its `PriceListCategory.Id`).
    Category(String),
    /// One customer (its `Customer.Id`).
    Customer(String),
}

/// A price of an article in a simulated price list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimPriceRule {
    /// Fixed price excluding tax.
    Fixed(Decimal),
    /// Discount in percent.
    Discount(Decimal),
}

const CALCULATION: &str = "PriceListCalculationLine";

impl EbpSim {
    /// Adds (or renames) a sale price category.
    pub fn seed_price_category(&self, id: &str, description: &str) {
        let mut g = lock(&self.inner);
        let rows = g.tables.entry("PriceListCategory".into()).or_default();
        rows.retain(|r| r["Id"] != json!(id));
        let mut row = json!({"Id": id, "IsPurchasePriceListCategory": false,
            "sysModifiedDate": iso(now_naive())});
        row[PRICE_CATEGORY_NAME_COLUMN] = json!(description);
        rows.push(row);
    }

    /// Adds a sale price list for `third` (replacing a list with the same id).
    pub fn seed_price_list(&self, id: &str, third: SimPriceThird) {
        let mut g = lock(&self.inner);
        let now = iso(now_naive());
        let (kind, element) = match third {
            SimPriceThird::Category(c) => (PRICE_LIST_THIRD_CATEGORY, c),
            SimPriceThird::Customer(c) => (PRICE_LIST_THIRD_CUSTOMER, c),
        };
        let lists = g.tables.entry("PriceList".into()).or_default();
        lists.retain(|r| r["Id"] != json!(id));
        lists.push(json!({"Id": id, "Description": format!("Tarif {id}"),
            "IsPurchasePriceList": false, "ThirdPriceType": kind, "CalculationBase": 0,
            "IsPromotion": false, "StartValidityDate": null, "EndValidityDate": null,
            "sysModifiedDate": now}));
        let inclusions = g
            .tables
            .entry(PRICE_LIST_INCLUSION_TABLE.into())
            .or_default();
        inclusions.retain(|r| r["PriceListId"] != json!(id));
        inclusions.push(json!({"Id": format!("{id}-inc"), "PriceListId": id,
            "InclusionType": 0, "IsExcluded": false, "InclusionOrder": 0,
            "StartElementId": element, "EndElementId": null, "sysModifiedDate": now}));
    }

    /// Sets the price of `item` in list `list` from quantity `threshold` (replacing the
    /// line of the same kind — fixed or discount), dated now.
    pub fn set_list_price(&self, list: &str, item: &str, rule: SimPriceRule, threshold: i64) {
        let mut g = lock(&self.inner);
        let rows = g.tables.entry(CALCULATION.into()).or_default();
        let (kind, price, discount) = match rule {
            SimPriceRule::Fixed(p) => (PRICE_LIST_CALCULATION_FIXED, num(p), num(Decimal::ZERO)),
            SimPriceRule::Discount(d) => (PRICE_LIST_CALCULATION_DISCOUNT, Value::Null, num(d)),
        };
        // One line per calculation kind: a customer may have a fixed price and a discount.
        let id = format!("{list}|{item}|{threshold}|{kind}");
        rows.retain(|r| r["Id"] != json!(id));
        rows.push(json!({"Id": id, "PriceListId": list, "ItemId": item,
            "Threshold": threshold, "CalculationType": kind, "PriceValue": price,
            "DiscountValue": discount, "FreeType": 0, "VatId": null,
            "sysModifiedDate": iso(now_naive())}));
    }

    /// Back-dates the lines of `item` in `list` (every item when `None`), as if untouched
    /// since `at`.
    pub fn date_list_prices(&self, list: &str, item: Option<&str>, at: NaiveDateTime) {
        let mut g = lock(&self.inner);
        if let Some(rows) = g.tables.get_mut(CALCULATION) {
            for r in rows.iter_mut().filter(|r| {
                r["PriceListId"] == json!(list) && item.is_none_or(|i| r["ItemId"] == json!(i))
            }) {
                r["sysModifiedDate"] = json!(iso(at));
            }
        }
    }

    /// Removes every line of `item` in list `list`.
    pub fn remove_list_price(&self, list: &str, item: &str) {
        let mut g = lock(&self.inner);
        if let Some(rows) = g.tables.get_mut(CALCULATION) {
            rows.retain(|r| !(r["PriceListId"] == json!(list) && r["ItemId"] == json!(item)));
        }
    }
}

impl EbpSim {
    /// Sets the linked articles of `item` offered on sale (replacing its links), in order.
    pub fn set_linked_items(&self, item: &str, linked: &[&str]) {
        let mut g = lock(&self.inner);
        let now = iso(now_naive());
        let rows = g.tables.entry(LINKED_ITEM_TABLE.into()).or_default();
        rows.retain(|r| r["ItemId"] != json!(item));
        for (i, l) in linked.iter().enumerate() {
            rows.push(
                json!({"Id": format!("{item}>{l}"), "ItemId": item, "LinkedItemId": l,
                "LineOrder": i + 1, "Quantity": 1, "IsFree": false, "IsProportional": false,
                "OfferForSale": true, "OfferForPurchase": false, "DocumentType": 0,
                "RangeItemId": null, "sysModifiedDate": now}),
            );
        }
    }

    /// Sets the bill of materials of `item` (replacing it): (component, quantity).
    pub fn set_components(&self, item: &str, components: &[(&str, Decimal)]) {
        let mut g = lock(&self.inner);
        let now = iso(now_naive());
        let rows = g.tables.entry(ITEM_COMPONENT_TABLE.into()).or_default();
        rows.retain(|r| r["ParentItemId"] != json!(item));
        for (i, (c, q)) in components.iter().enumerate() {
            rows.push(
                json!({"Id": format!("{item}<{c}"), "ParentItemId": item, "ItemId": c,
                "Quantity": num(*q), "ComponentOrder": i + 1, "FixedQuantity": false,
                "NotIncluded": false, "ParentRangeItemId": null, "sysModifiedDate": now}),
            );
        }
    }
}
