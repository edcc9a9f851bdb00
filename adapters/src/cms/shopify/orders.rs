//! Shopify orders (as [`super::queries::orders`] reads them) into the platform-neutral
//! [`ShopOrder`]; a malformed order becomes [`ShopOrderRead::Invalid`] with a French reason.
//!
//! Money (platforms.md §3, SHOP-sdl `type Order`): every amount is a `MoneyBag`; the
//! document is in the shop's currency (`shopMoney`) by default, or in the buyer's
//! (`presentmentMoney`) with the rate presentment / shop taken from the order's total when
//! the profile wants foreign-currency documents. Amounts are the `current*` ones (after
//! edits and refunds) and lines count their `currentQuantity` (a line removed by an edit
//! has 0 and is left out). `taxesIncluded` says whether unit prices include tax: the other
//! price is derived from the line's tax rates, the line totals from its tax lines.
//!
//! Conventions for what Shopify has no field for (see the simulator's `render.rs`): the gift
//! wrap is the line with SKU [`GIFT_WRAP_SKU`], its message the attribute `gift_message`;
//! SIRET and VAT number are the order attributes `siret` and `vat_number`. The order's
//! status id is `CANCELLED`, `FULFILLED`, or its `displayFinancialStatus` (`PAID`,
//! `PENDING`, `AUTHORIZED`…): the profile maps those to ERP documents.

use chrono::{DateTime, Utc};
use passerelle_domain::orders::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
use passerelle_workflows::ports::ShopOrderRead;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::str::FromStr;

/// SKU of the gift-wrap line.
pub const GIFT_WRAP_SKU: &str = "GIFT-WRAP";

/// Which money of the `MoneyBag`s becomes the document's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Money {
    /// The shop's currency (`shopMoney`), rate 1.
    #[default]
    Shop,
    /// The buyer's currency (`presentmentMoney`), with the rate to the shop's currency.
    Presentment,
}

/// The numeric id of a global id (`gid://shopify/Order/123` → `123`).
pub fn legacy_id(gid: &str) -> String {
    gid.rsplit('/').next().unwrap_or(gid).to_string()
}

fn dec_str(v: &Value, what: &str) -> Result<Decimal, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(format!("{what} absent")),
    };
    Decimal::from_str(s.trim()).map_err(|_| format!("{what} illisible : « {s} »"))
}

fn amount(bag: &Value, money: Money, what: &str) -> Result<Decimal, String> {
    let member = match money {
        Money::Shop => "shopMoney",
        Money::Presentment => "presentmentMoney",
    };
    dec_str(&bag[member]["amount"], what)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").trim().to_string()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn date(v: &Value, what: &str) -> Result<DateTime<Utc>, String> {
    let s = v.as_str().ok_or_else(|| format!("{what} absente"))?;
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| format!("{what} illisible : « {s} »"))
}

fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn address(a: &Value) -> Address {
    Address {
        firstname: text(&a["firstName"]),
        lastname: text(&a["lastName"]),
        company: opt(&a["company"]),
        address1: text(&a["address1"]),
        address2: opt(&a["address2"]),
        postcode: text(&a["zip"]),
        city: text(&a["city"]),
        country_iso: text(&a["countryCodeV2"]),
        state: opt(&a["provinceCode"]),
        phone: opt(&a["phone"]),
    }
}

/// Sum of the tax lines' rates (percent) and amounts.
fn taxes(lines: &Value, money: Money) -> Result<(Decimal, Decimal), String> {
    let mut rate = Decimal::ZERO;
    let mut total = Decimal::ZERO;
    for t in lines.as_array().into_iter().flatten() {
        rate += dec_str(&t["ratePercentage"], "taux de taxe")?;
        total += amount(&t["priceSet"], money, "montant de taxe")?;
    }
    Ok((rate.normalize(), total))
}

/// Excluding and including tax from a price given as the shop states it.
fn both(price: Decimal, rate: Decimal, included: bool) -> (Decimal, Decimal) {
    let factor = (Decimal::ONE_HUNDRED + rate) / Decimal::ONE_HUNDRED;
    if included {
        ((price / factor).round_dp(6).normalize(), price)
    } else {
        (price, (price * factor).round_dp(6).normalize())
    }
}

/// One line item: the neutral line, or why the order cannot be read.
fn line(l: &Value, money: Money, included: bool) -> Result<Option<OrderLine>, String> {
    let name = text(&l["name"]);
    let reference = text(&l["sku"]);
    if reference.is_empty() {
        return Err(format!(
            "ligne « {name} » sans référence (SKU) : article introuvable dans EBP (line without SKU)"
        ));
    }
    let ctx = |e: String| format!("ligne {reference} : {e}");
    let quantity = l["currentQuantity"]
        .as_i64()
        .ok_or_else(|| ctx("quantité absente".into()))?;
    if quantity < 0 {
        return Err(ctx(format!("quantité négative ({quantity})")));
    }
    if quantity == 0 {
        // Removed by an order edit (or fully refunded): not on the document.
        return Ok(None);
    }
    let (rate, tax) = taxes(&l["taxLines"], money).map_err(ctx)?;
    let unit = amount(&l["originalUnitPriceSet"], money, "prix unitaire").map_err(ctx)?;
    let discounted =
        amount(&l["discountedUnitPriceSet"], money, "prix unitaire remisé").map_err(ctx)?;
    let (unit_excl, unit_incl) = both(unit, rate, included);
    let (disc_excl, _) = both(discounted, rate, included);
    let q = Decimal::from(quantity);
    let (total_excl, total_incl) = if included {
        let incl = discounted * q;
        (incl - tax, incl)
    } else {
        let excl = discounted * q;
        (excl, excl + tax)
    };
    Ok(Some(OrderLine {
        reference,
        name,
        quantity: q,
        unit_price_tax_excl: unit_excl,
        unit_price_tax_incl: unit_incl,
        discount_percent: Decimal::ZERO,
        discount_amount_tax_excl: (unit_excl - disc_excl).max(Decimal::ZERO),
        total_tax_excl: total_excl,
        total_tax_incl: total_incl,
        tax_name: if rate.is_zero() {
            String::new()
        } else {
            format!("TVA {rate}%")
        },
        tax_rate: rate,
        lot: None,
    }))
}

/// Maps one order node (its `lineItems.nodes` possibly completed by further pages).
pub fn map_order(o: &Value, money: Money) -> ShopOrderRead {
    let id = legacy_id(o["id"].as_str().unwrap_or(""));
    match map_inner(o, money) {
        Ok(order) => ShopOrderRead::Ok(Box::new(order)),
        Err(reason) => ShopOrderRead::Invalid {
            id: if id.is_empty() { "?".into() } else { id },
            reason,
        },
    }
}

fn map_inner(o: &Value, money: Money) -> Result<ShopOrder, String> {
    let gid = o["id"].as_str().ok_or("identifiant de commande absent")?;
    let id = legacy_id(gid);
    let included = o["taxesIncluded"].as_bool().unwrap_or(false);
    let currency = match money {
        Money::Shop => text(&o["currencyCode"]),
        Money::Presentment => text(&o["presentmentCurrencyCode"]),
    };
    if currency.len() != 3 {
        return Err(format!("devise illisible : « {currency} »"));
    }
    let conversion_rate = match money {
        Money::Shop => Decimal::ONE,
        Money::Presentment => {
            let shop = amount(&o["currentTotalPriceSet"], Money::Shop, "total")?;
            let pres = amount(&o["currentTotalPriceSet"], Money::Presentment, "total")?;
            if shop.is_zero() || pres.is_zero() {
                Decimal::ONE
            } else {
                (pres / shop).round_dp(6).normalize()
            }
        }
    };
    let attrs: Vec<(String, String)> = o["customAttributes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (text(&a["key"]), text(&a["value"])))
        .collect();
    let attr = |k: &str| {
        attrs
            .iter()
            .find(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let billing = address(&o["billingAddress"]);
    let delivery = if o["shippingAddress"].is_object() {
        address(&o["shippingAddress"])
    } else {
        billing.clone()
    };
    let c = &o["customer"];
    let is_guest = !c.is_object();
    let email = opt(&c["defaultEmailAddress"]["emailAddress"])
        .or_else(|| opt(&o["email"]))
        .unwrap_or_default();
    let customer = ShopCustomer {
        id: if is_guest {
            "0".into()
        } else {
            legacy_id(c["id"].as_str().unwrap_or(""))
        },
        email,
        firstname: opt(&c["firstName"]).unwrap_or_else(|| billing.firstname.clone()),
        lastname: opt(&c["lastName"]).unwrap_or_else(|| billing.lastname.clone()),
        company: billing.company.clone(),
        siret: attr("siret"),
        vat_number: attr("vat_number"),
        is_guest,
        erp_code: opt(&c["erpAccount"]["value"]),
    };
    let mut lines = Vec::new();
    let mut wrapping = None;
    for l in o["lineItems"]["nodes"].as_array().into_iter().flatten() {
        if text(&l["sku"]) == GIFT_WRAP_SKU {
            if let Some(w) = line(l, money, included)? {
                wrapping = Some(Wrapping {
                    amount_tax_excl: w.total_tax_excl,
                    amount_tax_incl: w.total_tax_incl,
                    message: attr("gift_message"),
                });
            }
            continue;
        }
        if let Some(l) = line(l, money, included)? {
            lines.push(l);
        }
    }
    if lines.is_empty() {
        return Err("commande sans ligne d'article (no product line)".into());
    }
    let products_excl: Decimal = lines.iter().map(|l| l.total_tax_excl).sum();
    let products_incl: Decimal = lines.iter().map(|l| l.total_tax_incl).sum();
    let mut discounts = Vec::new();
    let cart = amount(&o["currentCartDiscountAmountSet"], money, "remise")?;
    if !cart.is_zero() {
        let codes: Vec<String> = o["discountCodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(opt)
            .collect();
        // Shopify gives the cart discount as the prices are stated; the other side takes
        // the products' average tax rate (the discount is spread over the lines).
        let (excl, incl) = if products_excl.is_zero() {
            (cart, cart)
        } else if included {
            (r2(cart * products_excl / products_incl), cart)
        } else {
            (cart, r2(cart * products_incl / products_excl))
        };
        discounts.push(OrderDiscount {
            name: if codes.is_empty() {
                "Remise".into()
            } else {
                codes.join(", ")
            },
            amount_tax_incl: incl,
            amount_tax_excl: excl,
        });
    }
    let s = &o["shippingLine"];
    let shipping = if s.is_object() {
        let (rate, tax) = taxes(&s["taxLines"], money)?;
        let price = amount(&s["originalPriceSet"], money, "frais de port")?;
        let (excl, incl) = if included {
            (price - tax, price)
        } else {
            (price, price + tax)
        };
        Shipping {
            carrier_id: opt(&s["code"]).unwrap_or_else(|| text(&s["title"])),
            carrier_name: text(&s["title"]),
            amount_tax_excl: excl,
            amount_tax_incl: incl,
            tax_rate: rate,
        }
    } else {
        Shipping {
            carrier_id: String::new(),
            carrier_name: String::new(),
            amount_tax_excl: Decimal::ZERO,
            amount_tax_incl: Decimal::ZERO,
            tax_rate: Decimal::ZERO,
        }
    };
    let mut payments = Vec::new();
    for t in o["transactions"].as_array().into_iter().flatten() {
        let kind = text(&t["kind"]);
        if text(&t["status"]) != "SUCCESS" || !(kind == "SALE" || kind == "CAPTURE") {
            continue;
        }
        payments.push(Payment {
            method: text(&t["gateway"]),
            amount: amount(&t["amountSet"], money, "montant du paiement")?,
            paid_at: date(&t["processedAt"], "date de paiement")?,
            transaction_id: opt(&t["authorizationCode"]),
        });
    }
    let gateway = o["transactions"]
        .as_array()
        .and_then(|t| t.first())
        .map(|t| text(&t["gateway"]))
        .unwrap_or_default();
    let paid_incl = amount(&o["currentTotalPriceSet"], money, "total")?;
    let tax = amount(&o["currentTotalTaxSet"], money, "total des taxes")?;
    let state_id = if !o["cancelledAt"].is_null() {
        "CANCELLED".to_string()
    } else if text(&o["displayFulfillmentStatus"]) == "FULFILLED" {
        "FULFILLED".to_string()
    } else {
        opt(&o["displayFinancialStatus"]).unwrap_or_else(|| "PENDING".into())
    };
    Ok(ShopOrder {
        id,
        reference: text(&o["name"]),
        shop_id: "1".into(),
        state_id,
        created_at: date(&o["createdAt"], "date de création")?,
        updated_at: date(&o["updatedAt"], "date de mise à jour")?,
        invoice_date: None,
        invoice_number: None,
        currency,
        conversion_rate,
        customer,
        billing,
        delivery,
        lines,
        discounts,
        shipping,
        wrapping,
        payment_module: gateway.clone(),
        payment_label: gateway,
        payments,
        totals: OrderTotals {
            products_tax_excl: products_excl,
            products_tax_incl: products_incl,
            paid_tax_excl: paid_incl - tax,
            paid_tax_incl: paid_incl,
        },
        messages: opt(&o["note"]).into_iter().collect(),
    })
}
