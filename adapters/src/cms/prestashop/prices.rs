//! `SpecificPricesShop` for PrestaShop: the `specific_prices` of each product, kept equal to
//! the ERP's customer-group and customer-specific prices.
//!
//! Resource facts (PrestaShop webservice reference, `specific_prices`:
//! <https://devdocs.prestashop-project.org/8/webservice/resources/specific_prices/>): the
//! required fields are `id_shop`, `id_cart`, `id_product`, `id_currency`, `id_country`,
//! `id_group`, `id_customer`, `price` (`isNegativePrice`: `-1` keeps the product's base
//! price), `from_quantity`, `reduction`, `reduction_tax`, `reduction_type` (`amount` or
//! `percentage`, a percentage being a fraction: 0.1 = 10 %), `from` and `to`
//! (`0000-00-00 00:00:00`: no limit); `id_shop_group` and `id_product_attribute` are
//! optional (0: every shop group, the product itself). `0` in `id_shop`, `id_currency`,
//! `id_country`, `id_group` or `id_customer` means "all". Groups are the `groups` resource,
//! found by name (<https://devdocs.prestashop-project.org/8/webservice/resources/groups/>);
//! customers by `filter[email]`.
//!
//! Per product: look up its specific prices (`filter[id_product]`), keep those this sync
//! manages — product-level (`id_product_attribute` 0, `id_cart` 0), for a managed group
//! (`id_customer` 0) or a managed customer (`id_group` 0) — then update in place (`PATCH`),
//! create (`POST`) or delete (`DELETE specific_prices/{id}`) until they equal the ERP's.
//! A missing group or customer ignores that price with a warning; nothing is created here
//! but specific prices.

use super::{check_id, esc, or_filter, PrestaShopCatalog};
use crate::cms::prestashop::model::{text, Obj};
use async_trait::async_trait;
use passerelle_domain::catalog::specific::{PriceTarget, ReductionType, ShopSpecificPrice};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{PriceScope, SpecificPricesShop, SpecificPricesWritten};
use reqwest::Method;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

/// Products per look-up call (the filter goes in the URL).
const LOOKUP_BATCH: usize = 50;

/// The key of a specific price within a product: (group id, customer id, from quantity).
type Key = (String, String, u32);

/// What is compared to decide whether a specific price changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Values {
    price: Decimal,
    reduction: Decimal,
    reduction_type: &'static str,
}

fn dec(o: &Obj, f: &str) -> Decimal {
    Decimal::from_str(text(o, f).trim()).unwrap_or(Decimal::MIN)
}

fn values_of(p: &ShopSpecificPrice) -> Values {
    Values {
        price: p.price.unwrap_or(Decimal::NEGATIVE_ONE),
        reduction: p.reduction,
        reduction_type: match p.reduction_type {
            ReductionType::Amount => "amount",
            ReductionType::Percentage => "percentage",
        },
    }
}

/// PrestaShop stores 6 decimals.
fn d6(d: Decimal) -> String {
    format!("{:.6}", d.round_dp(6))
}

/// A `<specific_price>` element (`id` for an update).
fn element(id: Option<&str>, product: &str, key: &Key, v: &Values) -> String {
    let mut s = String::from("<specific_price>");
    if let Some(id) = id {
        s.push_str(&format!("<id>{}</id>", esc(id)));
    }
    let fields: [(&str, String); 16] = [
        ("id_product", product.to_string()),
        ("id_product_attribute", "0".into()),
        // 0: every shop and shop group, like a price set on the product itself.
        ("id_shop", "0".into()),
        ("id_shop_group", "0".into()),
        ("id_cart", "0".into()),
        ("id_currency", "0".into()),
        ("id_country", "0".into()),
        ("id_group", key.0.clone()),
        ("id_customer", key.1.clone()),
        ("price", d6(v.price)),
        ("from_quantity", key.2.to_string()),
        ("reduction", d6(v.reduction)),
        // ERP prices are excluding tax; a percentage ignores this flag anyway.
        ("reduction_tax", "0".into()),
        ("reduction_type", v.reduction_type.into()),
        ("from", "0000-00-00 00:00:00".into()),
        ("to", "0000-00-00 00:00:00".into()),
    ];
    for (k, val) in fields {
        s.push_str(&format!("<{k}>{}</{k}>", esc(&val)));
    }
    s.push_str("</specific_price>");
    s
}

/// Values that can go into a webservice filter (`[a|b]`).
fn filterable(v: &str) -> bool {
    !v.is_empty() && !v.contains(['|', '[', ']', ',', '%', '!'])
}

impl PrestaShopCatalog {
    /// Group name (lower-case) → id, for every group of the shop.
    async fn group_ids(&self) -> Result<HashMap<String, String>, StepError> {
        let rows = self
            .client
            .list("groups", &[("display".into(), "[id,name]".into())])
            .await?;
        Ok(rows
            .iter()
            .map(|r| (text(r, "name").trim().to_lowercase(), text(r, "id")))
            .filter(|(_, id)| check_id(id).is_ok())
            .collect())
    }

    /// E-mail (lower-case) → customer id, for these e-mails (the first account when an
    /// e-mail has several).
    async fn customer_ids(
        &self,
        emails: &BTreeSet<String>,
    ) -> Result<HashMap<String, String>, StepError> {
        let list: Vec<String> = emails.iter().filter(|e| filterable(e)).cloned().collect();
        let mut out = HashMap::new();
        for chunk in list.chunks(LOOKUP_BATCH) {
            let rows = self
                .client
                .list(
                    "customers",
                    &[
                        ("filter[email]".into(), or_filter(&mut chunk.iter())),
                        ("display".into(), "[id,email,deleted]".into()),
                        ("sort".into(), "[id_ASC]".into()),
                    ],
                )
                .await?;
            for r in rows.iter().filter(|r| text(r, "deleted") != "1") {
                let id = text(r, "id");
                if check_id(&id).is_ok() {
                    out.entry(text(r, "email").trim().to_lowercase())
                        .or_insert(id);
                }
            }
        }
        Ok(out)
    }

    /// The specific prices of these products, by product id.
    async fn specific_prices_of(
        &self,
        product_ids: &[String],
    ) -> Result<HashMap<String, Vec<Obj>>, StepError> {
        let mut out: HashMap<String, Vec<Obj>> = HashMap::new();
        for chunk in product_ids.chunks(LOOKUP_BATCH) {
            let rows = self
                .client
                .list(
                    "specific_prices",
                    &[
                        ("filter[id_product]".into(), or_filter(&mut chunk.iter())),
                        ("display".into(), "full".into()),
                    ],
                )
                .await?;
            for r in rows {
                out.entry(text(&r, "id_product")).or_default().push(r);
            }
        }
        Ok(out)
    }

    /// Writes one product's changes; a refusal stops that product (the rest stays for the
    /// next run, which looks everything up again).
    async fn apply_product(
        &self,
        product: &str,
        w: &mut SpecificPricesWritten,
        updates: Vec<(String, Key, Values)>,
        creates: Vec<(Key, Values)>,
        deletes: Vec<String>,
    ) -> Result<(), StepError> {
        let refused = |e: StepError, w: &mut SpecificPricesWritten| match e {
            StepError::Permanent(m) => {
                w.refused = Some(m);
                Ok(())
            }
            other => Err(other),
        };
        for (id, key, v) in updates {
            check_id(&id)?;
            let body = element(Some(&id), product, &key, &v);
            match self
                .send(Method::PATCH, "specific_prices", Some(&id), &[body])
                .await
            {
                Ok(_) => w.updated += 1,
                Err(e) => return refused(e, w),
            }
        }
        for (key, v) in creates {
            let body = element(None, product, &key, &v);
            match self
                .send(Method::POST, "specific_prices", None, &[body])
                .await
            {
                Ok(_) => w.created += 1,
                Err(e) => return refused(e, w),
            }
        }
        for id in deletes {
            check_id(&id)?;
            match self
                .client
                .call(Method::DELETE, &format!("specific_prices/{id}"), &[], None)
                .await
            {
                Ok(_) => w.deleted += 1,
                // Already gone (a step run twice): what we wanted.
                Err(StepError::Permanent(m)) if m.contains("HTTP 404") => w.deleted += 1,
                Err(e) => return refused(e, w),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SpecificPricesShop for PrestaShopCatalog {
    async fn sync_specific_prices(
        &self,
        wanted: &[(String, Vec<ShopSpecificPrice>)],
        scope: &PriceScope,
    ) -> Result<Vec<SpecificPricesWritten>, StepError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        // Products, by lower-case reference.
        let mut products: HashMap<String, String> = HashMap::new();
        let refs: Vec<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
        for chunk in refs.chunks(LOOKUP_BATCH) {
            for (r, p) in self.products(chunk, "[id,reference]").await? {
                let id = text(&p, "id");
                check_id(&id)?;
                products.insert(r, id);
            }
        }
        // Groups and customers named by the ERP, and those the sync manages.
        let needs_groups = !scope.groups.is_empty()
            || wanted.iter().any(|w| {
                w.1.iter()
                    .any(|p| matches!(p.target, PriceTarget::Group(_)))
            });
        let groups = if needs_groups {
            self.group_ids().await?
        } else {
            HashMap::new()
        };
        let mut emails: BTreeSet<String> = scope.customers.iter().cloned().collect();
        for (_, list) in wanted {
            for p in list {
                if let PriceTarget::Customer(e) = &p.target {
                    emails.insert(e.to_lowercase());
                }
            }
        }
        let customers = if emails.is_empty() {
            HashMap::new()
        } else {
            self.customer_ids(&emails).await?
        };
        let managed_groups: BTreeSet<&String> = scope
            .groups
            .iter()
            .filter_map(|g| groups.get(&g.trim().to_lowercase()))
            .collect();
        let managed_customers: BTreeSet<&String> = scope
            .customers
            .iter()
            .filter_map(|c| customers.get(&c.to_lowercase()))
            .collect();
        let ids: Vec<String> = products
            .values()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut existing = self.specific_prices_of(&ids).await?;

        let mut out = Vec::new();
        for (reference, list) in wanted {
            let mut w = SpecificPricesWritten {
                reference: reference.clone(),
                ..SpecificPricesWritten::default()
            };
            let Some(product) = products.get(&reference.to_lowercase()).cloned() else {
                w.missing = true;
                out.push(w);
                continue;
            };
            // What the ERP wants, by key.
            let mut want: BTreeMap<Key, Values> = BTreeMap::new();
            for p in list {
                let key = match &p.target {
                    PriceTarget::Group(name) => match groups.get(&name.trim().to_lowercase()) {
                        Some(g) => (g.clone(), "0".to_string(), p.from_quantity),
                        None => {
                            w.warnings.push(format!(
                                "groupe « {name} » absent de la boutique : prix ignoré (shop group missing)"
                            ));
                            continue;
                        }
                    },
                    PriceTarget::Customer(email) => match customers.get(&email.to_lowercase()) {
                        Some(c) => ("0".to_string(), c.clone(), p.from_quantity),
                        None => {
                            w.warnings.push(format!(
                                "client {email} absent de la boutique : prix ignoré (shop customer missing)"
                            ));
                            continue;
                        }
                    },
                };
                want.insert(key, values_of(p));
            }
            // What the shop has, among what the sync manages.
            let (mut updates, mut deletes) = (Vec::new(), Vec::new());
            for row in existing.remove(&product).unwrap_or_default() {
                let (g, c) = (text(&row, "id_group"), text(&row, "id_customer"));
                let product_level =
                    text(&row, "id_product_attribute") == "0" && text(&row, "id_cart") == "0";
                let managed = product_level
                    && ((c == "0" && managed_groups.contains(&g))
                        || (g == "0" && managed_customers.contains(&c)));
                // A price the ERP now names (a group or customer just added) is managed too.
                let q: u32 = text(&row, "from_quantity").trim().parse().unwrap_or(0);
                let key: Key = (g, c, q);
                let id = text(&row, "id");
                match want.remove(&key) {
                    Some(v) if product_level => {
                        let have = Values {
                            price: dec(&row, "price"),
                            reduction: dec(&row, "reduction"),
                            reduction_type: if text(&row, "reduction_type") == "percentage" {
                                "percentage"
                            } else {
                                "amount"
                            },
                        };
                        let dated = text(&row, "from") != "0000-00-00 00:00:00"
                            || text(&row, "to") != "0000-00-00 00:00:00";
                        if have == v && !dated {
                            w.unchanged += 1;
                        } else {
                            updates.push((id, key, v));
                        }
                    }
                    Some(v) => {
                        want.insert(key, v);
                    }
                    None if managed => deletes.push(id),
                    None => {}
                }
            }
            let creates: Vec<(Key, Values)> = want.into_iter().collect();
            self.apply_product(&product, &mut w, updates, creates, deletes)
                .await?;
            out.push(w);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_price_is_one_element_with_every_required_field() {
        let v = Values {
            price: Decimal::new(1990, 2),
            reduction: Decimal::ZERO,
            reduction_type: "amount",
        };
        let x = element(None, "12", &("4".into(), "0".into(), 1), &v);
        assert_eq!(
            x,
            "<specific_price><id_product>12</id_product><id_product_attribute>0</id_product_attribute><id_shop>0</id_shop><id_shop_group>0</id_shop_group><id_cart>0</id_cart><id_currency>0</id_currency><id_country>0</id_country><id_group>4</id_group><id_customer>0</id_customer><price>19.900000</price><from_quantity>1</from_quantity><reduction>0.000000</reduction><reduction_tax>0</reduction_tax><reduction_type>amount</reduction_type><from>0000-00-00 00:00:00</from><to>0000-00-00 00:00:00</to></specific_price>"
        );
    }
}
