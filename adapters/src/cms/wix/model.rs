//! Wix eCommerce order JSON (v1), read defensively, and its mapping into the
//! platform-neutral [`ShopOrder`].
//!
//! Shapes (`cms-apis.md` §5 "Order fields", `platforms.md` §0.1 and §6, `WIX-npm`
//! `ecom-orders.meta.d.ts`):
//! * money is `{amount: "12.50", formattedAmount}`: the decimal string is parsed straight
//!   to a `Decimal`, never through `f64`; `taxDetails.taxRate` is a fraction ("0.2");
//! * `taxIncludedInPrices` is fixed per order: when true, line prices include the tax and
//!   the tax-exclusive side is derived from the rate;
//! * a line's `lineItemPrice` is its total before the order's coupon (after its own
//!   discount); coupons (`appliedDiscounts[]`) are order discounts, their tax part derived
//!   from the lines' shares (`totalDiscount`) and rates;
//! * `additionalFees[]`: gift wrapping (Wix has none of its own) becomes the wrapping; any
//!   other fee fails the order with its reason (the ERP document would not add up);
//! * a foreign-currency order carries `currencyConversionDetails{originalCurrency,
//!   conversionRate}` (the rate from the site's currency);
//! * a guest has no `buyerInfo.memberId`; the VAT number is
//!   `billingInfo.contactDetails.vatId.id`, the SIRET a custom field titled "SIRET";
//! * the status we map on: `CANCELED` (order status), else `FULFILLED`
//!   (`fulfillmentStatus`), else the `paymentStatus` (`PAID`, `PENDING`, `NOT_PAID`…);
//! * the payment method is not on the order (it lives in the Order Transactions API, not
//!   among the endpoints this client uses): payments are labelled "wix".

use chrono::{DateTime, Utc};
use passerelle_domain::orders::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::str::FromStr;

/// Prefix of the merchant comment (order activity) carrying the ERP document number.
pub const DOCUMENT_NOTE_PREFIX: &str = "Document EBP : ";
/// Prefix of the merchant comment carrying the delivery date set from the ERP.
pub const DELIVERY_NOTE_PREFIX: &str = "Livraison prévue (EBP) : ";
/// The payment module every Wix order maps to (see the module doc).
pub const PAYMENT_MODULE: &str = "wix";

/// Longest text field accepted (bytes).
const MAX_FIELD_BYTES: usize = 64 * 1024;

fn r2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A decimal from a decimal string (or a number); absent → 0.
pub fn dec(v: Option<&Value>, what: &str) -> Result<Decimal, String> {
    match v {
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Decimal::ZERO),
        Some(Value::String(s)) => Decimal::from_str(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map_err(|_| format!("montant illisible « {s} » ({what})")),
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map_err(|_| format!("montant illisible « {n} » ({what})")),
        Some(other) => Err(format!("montant illisible « {other} » ({what})")),
    }
}

/// The `amount` of a Wix price object.
pub fn money(v: &Value, what: &str) -> Result<Decimal, String> {
    match v {
        Value::Object(_) => dec(v.get("amount"), what),
        other => dec(Some(other), what),
    }
}

/// A text field at a path (`a.b`), empty when absent; refused when absurdly long.
pub fn text(o: &Value, path: &str) -> Result<String, String> {
    let v = path.split('.').try_fold(o, |v, k| v.get(k));
    let s = match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => return Err(format!("champ « {path} » inattendu")),
    };
    if s.len() > MAX_FIELD_BYTES {
        return Err(format!("champ « {path} » trop long ({} octets)", s.len()));
    }
    Ok(s)
}

fn opt(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// An ISO-8601 date (`2025-01-06T09:00:00.000Z`).
pub fn date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The status id this client gives an order (see the module doc).
pub fn state_of(o: &Value) -> String {
    if o["status"] == "CANCELED" {
        "CANCELED".into()
    } else if o["fulfillmentStatus"] == "FULFILLED" {
        "FULFILLED".into()
    } else {
        o["paymentStatus"]
            .as_str()
            .unwrap_or("NOT_PAID")
            .to_string()
    }
}

/// A tax rate in percent from Wix's fraction ("0.2" → 20).
fn percent(v: Option<&Value>, what: &str) -> Result<Decimal, String> {
    Ok((dec(v, what)? * Decimal::from(100)).normalize())
}

fn address(a: &Value, contact: &Value) -> Result<Address, String> {
    // `subdivision` is ISO 3166-2 (`US-CA`): the neutral address keeps the suffix.
    let state = text(a, "subdivision")?;
    let state = state
        .split_once('-')
        .map(|(_, s)| s.to_string())
        .unwrap_or(state);
    Ok(Address {
        firstname: text(contact, "firstName")?,
        lastname: text(contact, "lastName")?,
        company: opt(text(contact, "company")?),
        address1: text(a, "addressLine1")?,
        address2: opt(text(a, "addressLine2")?),
        postcode: text(a, "postalCode")?,
        city: text(a, "city")?,
        country_iso: text(a, "country")?.to_ascii_uppercase(),
        state: opt(state),
        phone: opt(text(contact, "phone")?),
    })
}

fn is_gift_wrap(code: &str, name: &str) -> bool {
    let n = format!("{code} {name}").to_lowercase();
    ["emballage", "cadeau", "gift", "wrap"]
        .iter()
        .any(|w| n.contains(w))
}

fn list<'a>(o: &'a Value, k: &str) -> impl Iterator<Item = &'a Value> {
    o.get(k).and_then(Value::as_array).into_iter().flatten()
}

/// Maps one order.
pub fn map_order(o: &Value) -> Result<ShopOrder, String> {
    // Kept without its dashes (see `client::compact_id`): the ERP links 32 characters.
    let id = opt(text(o, "id")?)
        .ok_or("identifiant de commande absent")?
        .replace('-', "")
        .to_ascii_lowercase();
    let inclusive = o["taxIncludedInPrices"].as_bool().unwrap_or(false);
    let created_at = date(o.get("createdDate")).ok_or("date de création absente ou illisible")?;
    let updated_at = date(o.get("updatedDate")).unwrap_or(created_at);
    let billing_info = &o["billingInfo"];
    let billing = address(&billing_info["address"], &billing_info["contactDetails"])?;
    let dest = &o["shippingInfo"]["logistics"]["shippingDestination"];
    let mut delivery = address(&dest["address"], &dest["contactDetails"])?;
    if delivery.address1.trim().is_empty() {
        delivery = billing.clone();
    }
    let buyer = &o["buyerInfo"];
    let member = opt(text(buyer, "memberId")?);
    let siret = list(o, "customFields")
        .find(|f| {
            f["title"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("siret"))
        })
        .and_then(|f| f["value"].as_str())
        .and_then(|s| opt(s.to_string()));
    let customer = ShopCustomer {
        id: member
            .clone()
            .or_else(|| opt(text(buyer, "contactId").unwrap_or_default()))
            .unwrap_or_default(),
        email: text(buyer, "email")?,
        firstname: billing.firstname.clone(),
        lastname: billing.lastname.clone(),
        company: billing.company.clone(),
        siret,
        vat_number: opt(text(billing_info, "contactDetails.vatId.id")?),
        is_guest: member.is_none(),
        erp_code: None,
    };

    let hundred = Decimal::from(100);
    let mut lines = Vec::new();
    let (mut products_excl, mut products_incl) = (Decimal::ZERO, Decimal::ZERO);
    // Per line: (coupon share, rate) to split the coupons' tax.
    let mut shares = Vec::new();
    for (i, l) in list(o, "lineItems").enumerate() {
        let what = |f: &str| format!("ligne {} : {f}", i + 1);
        let quantity = dec(l.get("quantity"), &what("quantity"))?;
        let rate = percent(l["taxDetails"].get("taxRate"), &what("taxDetails.taxRate"))?;
        let price = money(&l["price"], &what("price"))?;
        let total = match l.get("lineItemPrice") {
            Some(v) if !v.is_null() => money(v, &what("lineItemPrice"))?,
            _ => price * quantity,
        };
        let share = money(&l["totalDiscount"], &what("totalDiscount"))?;
        let factor = Decimal::ONE + rate / hundred;
        let (excl, incl) = if inclusive {
            (total / factor, total)
        } else {
            (total, r2(total * factor))
        };
        let (unit_excl, unit_incl) = if quantity.is_zero() {
            (Decimal::ZERO, Decimal::ZERO)
        } else if inclusive {
            // The price the customer saw is the tax-inclusive one: kept exact.
            (
                (incl / quantity / factor).round_dp(6),
                (incl / quantity).round_dp(2),
            )
        } else {
            ((excl / quantity).round_dp(6), (incl / quantity).round_dp(6))
        };
        products_excl += excl;
        products_incl += incl;
        shares.push((share, factor));
        let name = opt(text(l, "productName.original")?)
            .or_else(|| opt(text(l, "productName.translated").unwrap_or_default()))
            .unwrap_or_default();
        lines.push(OrderLine {
            reference: text(l, "physicalProperties.sku")?.trim().to_string(),
            name,
            quantity,
            unit_price_tax_excl: unit_excl,
            unit_price_tax_incl: unit_incl,
            discount_percent: Decimal::ZERO,
            discount_amount_tax_excl: Decimal::ZERO,
            // Coupons go to the order discounts below: the line keeps its pre-coupon total.
            total_tax_excl: excl.round_dp(6),
            total_tax_incl: incl,
            tax_name: format!("TVA {} %", rate.to_string().replace('.', ",")),
            tax_rate: rate,
            lot: None,
        });
    }
    if lines.is_empty() {
        return Err("commande sans ligne d'article".into());
    }

    // The coupons: amounts as Wix states them (tax excluded unless the order is
    // inclusive); the other side from the lines' shares and rates.
    let (mut share_excl, mut share_incl) = (Decimal::ZERO, Decimal::ZERO);
    for (share, factor) in &shares {
        if inclusive {
            share_excl += share / factor;
            share_incl += share;
        } else {
            share_excl += share;
            share_incl += r2(share * factor);
        }
    }
    let mut discounts = Vec::new();
    let applied: Vec<(String, Decimal)> = list(o, "appliedDiscounts")
        .map(|d| {
            let (name, amount) = if d["coupon"].is_object() {
                (
                    text(&d["coupon"], "code")?,
                    money(&d["coupon"]["amount"], "coupon.amount")?,
                )
            } else if d["merchantDiscount"].is_object() {
                (
                    opt(text(&d["merchantDiscount"], "description")?)
                        .unwrap_or_else(|| "Remise".into()),
                    money(&d["merchantDiscount"]["amount"], "merchantDiscount.amount")?,
                )
            } else {
                (
                    opt(text(&d["discountRule"], "name.original")?)
                        .unwrap_or_else(|| "Remise".into()),
                    money(&d["discountRule"]["amount"], "discountRule.amount")?,
                )
            };
            Ok::<_, String>((name, amount))
        })
        .collect::<Result<_, _>>()?;
    let stated: Decimal = applied.iter().map(|(_, a)| *a).sum();
    for (name, amount) in applied {
        if amount.is_zero() {
            continue;
        }
        let part = |side: Decimal| {
            if stated.is_zero() {
                Decimal::ZERO
            } else {
                r2(side * amount / stated)
            }
        };
        let (excl, incl) = if inclusive {
            (part(share_excl), amount)
        } else {
            (amount, part(share_incl))
        };
        discounts.push(OrderDiscount {
            name,
            amount_tax_incl: incl,
            amount_tax_excl: excl,
        });
    }

    let ship = &o["shippingInfo"];
    let cost = &ship["cost"];
    let ship_rate = percent(
        cost["taxDetails"].get("taxRate"),
        "shippingInfo.cost.taxRate",
    )?;
    let ship_before = money(
        &cost["totalPriceBeforeTax"],
        "shippingInfo.cost.totalPriceBeforeTax",
    )?;
    let ship_after = money(
        &cost["totalPriceAfterTax"],
        "shippingInfo.cost.totalPriceAfterTax",
    )?;
    let shipping = Shipping {
        carrier_id: opt(text(ship, "code")?)
            .or_else(|| opt(text(ship, "carrierId").unwrap_or_default()))
            .unwrap_or_default(),
        carrier_name: text(ship, "title")?,
        amount_tax_excl: ship_before,
        amount_tax_incl: if ship_after.is_zero() {
            ship_before
        } else {
            ship_after
        },
        tax_rate: ship_rate,
    };

    let mut wrapping: Option<Wrapping> = None;
    for f in list(o, "additionalFees") {
        let (code, name) = (text(f, "code")?, text(f, "name")?);
        let before = money(&f["priceBeforeTax"], "additionalFees.priceBeforeTax")?;
        let after = money(&f["priceAfterTax"], "additionalFees.priceAfterTax")?;
        if !is_gift_wrap(&code, &name) {
            return Err(format!(
                "frais « {name} » ({before} HT) non pris en charge : seul l'emballage cadeau l'est"
            ));
        }
        let w = wrapping.get_or_insert(Wrapping {
            amount_tax_excl: Decimal::ZERO,
            amount_tax_incl: Decimal::ZERO,
            message: None,
        });
        w.amount_tax_excl += before;
        w.amount_tax_incl += after;
    }

    let summary = &o["priceSummary"];
    let total = money(&summary["total"], "priceSummary.total")?;
    let tax = money(&summary["tax"], "priceSummary.tax")?;
    let conversion_rate = match o["currencyConversionDetails"].get("conversionRate") {
        None | Some(Value::Null) => Decimal::ONE,
        v => dec(v, "currencyConversionDetails.conversionRate")?,
    };
    if conversion_rate <= Decimal::ZERO {
        return Err(format!("taux de conversion invalide : {conversion_rate}"));
    }
    let state_id = state_of(o);
    let payments = (o["paymentStatus"] == "PAID")
        .then(|| Payment {
            method: "Wix".into(),
            amount: total,
            paid_at: created_at,
            transaction_id: None,
        })
        .into_iter()
        .collect();
    Ok(ShopOrder {
        reference: opt(text(o, "number")?).unwrap_or_else(|| id.clone()),
        id,
        shop_id: "1".into(),
        state_id,
        created_at,
        updated_at,
        invoice_date: None,
        invoice_number: None,
        currency: text(o, "currency")?.to_ascii_uppercase(),
        conversion_rate,
        customer,
        billing,
        delivery,
        lines,
        discounts,
        shipping,
        wrapping,
        payment_module: PAYMENT_MODULE.into(),
        payment_label: "Wix".into(),
        payments,
        totals: OrderTotals {
            products_tax_excl: products_excl.round_dp(6),
            products_tax_incl: products_incl,
            paid_tax_excl: total - tax,
            paid_tax_incl: total,
        },
        messages: opt(text(o, "buyerNote")?).into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(a: &str) -> Value {
        json!({"amount": a, "formattedAmount": format!("{a} €")})
    }

    fn order() -> Value {
        json!({
            "id": "10000001-0000-4000-8000-000000000001", "number": "10001",
            "createdDate": "2025-01-06T09:00:00.000Z", "updatedDate": "2025-01-06T09:30:00.000Z",
            "status": "APPROVED", "paymentStatus": "PAID", "fulfillmentStatus": "NOT_FULFILLED",
            "currency": "EUR", "taxIncludedInPrices": false,
            "buyerInfo": {"contactId": "c1", "visitorId": "v1", "email": "c@example.fr"},
            "buyerNote": "Livrer après 18 h",
            "billingInfo": {"address": {"country": "FR", "city": "Lyon", "postalCode": "69003", "addressLine1": "12 rue des Lilas"},
                            "contactDetails": {"firstName": "Camille", "lastName": "Martin", "vatId": {"id": "FR123", "type": "UNSPECIFIED"}}},
            "shippingInfo": {"code": "colissimo", "title": "Colissimo",
                             "cost": {"price": p("5.00"), "totalPriceBeforeTax": p("5.00"), "totalPriceAfterTax": p("6.00"),
                                      "taxDetails": {"taxRate": "0.2", "totalTax": p("1.00")}}},
            "lineItems": [
                {"productName": {"original": "Alpha"}, "quantity": 2, "physicalProperties": {"sku": "A"},
                 "price": p("10.00"), "lineItemPrice": p("20.00"), "totalDiscount": p("2.00"),
                 "taxDetails": {"taxRate": "0.2", "totalTax": p("3.60")}},
                {"productName": {"original": "Beta"}, "quantity": 1, "physicalProperties": {"sku": "B"},
                 "price": p("10.00"), "lineItemPrice": p("10.00"), "totalDiscount": p("1.00"),
                 "taxDetails": {"taxRate": "0.055", "totalTax": p("0.50")}}
            ],
            "appliedDiscounts": [{"discountType": "GLOBAL", "coupon": {"code": "bienvenue", "amount": p("3.00")}}],
            "additionalFees": [{"code": "gift-wrap", "name": "Emballage cadeau", "priceBeforeTax": p("2.50"), "priceAfterTax": p("3.00")}],
            "priceSummary": {"subtotal": p("30.00"), "shipping": p("5.00"), "tax": p("5.60"), "discount": p("3.00"), "total": p("40.10")},
            "currencyConversionDetails": {"originalCurrency": "EUR", "conversionRate": "1"}
        })
    }

    #[test]
    fn a_guest_order_maps_with_lines_coupons_shipping_and_wrapping() {
        let o = map_order(&order()).expect("maps");
        assert_eq!(o.reference, "10001");
        assert!(o.customer.is_guest);
        assert_eq!(o.customer.vat_number.as_deref(), Some("FR123"));
        assert_eq!(o.delivery.city, "Lyon", "no destination: billing");
        assert_eq!(o.state_id, "PAID");
        assert_eq!(o.lines[0].tax_rate, Decimal::from(20));
        assert_eq!(o.lines[1].tax_rate, Decimal::new(55, 1));
        assert_eq!(o.lines[0].unit_price_tax_excl, Decimal::from(10));
        assert_eq!(o.lines[0].total_tax_incl, Decimal::from(24));
        assert_eq!(o.discounts[0].amount_tax_excl, Decimal::from(3));
        // 2.00 × 1.2 + 1.00 × 1.055 = 2.40 + 1.06
        assert_eq!(o.discounts[0].amount_tax_incl, Decimal::new(346, 2));
        assert_eq!(o.shipping.amount_tax_incl, Decimal::from(6));
        assert_eq!(o.shipping.tax_rate, Decimal::from(20));
        assert_eq!(
            o.wrapping.as_ref().map(|w| w.amount_tax_incl),
            Some(Decimal::from(3))
        );
        assert_eq!(o.totals.paid_tax_excl, Decimal::new(3450, 2));
        assert_eq!(o.payments.len(), 1);
        assert_eq!(o.messages, vec!["Livrer après 18 h".to_string()]);
    }

    #[test]
    fn tax_inclusive_and_foreign_currency_orders() {
        let mut v = order();
        v["taxIncludedInPrices"] = json!(true);
        v["lineItems"][0]["lineItemPrice"] = p("24.00");
        v["currency"] = json!("usd");
        v["currencyConversionDetails"] =
            json!({"originalCurrency": "EUR", "conversionRate": "1.0850"});
        let o = map_order(&v).expect("maps");
        assert_eq!(o.lines[0].unit_price_tax_incl, Decimal::from(12));
        assert_eq!(o.lines[0].unit_price_tax_excl, Decimal::from(10));
        assert_eq!(o.currency, "USD");
        assert_eq!(o.conversion_rate, Decimal::new(10850, 4));
    }

    #[test]
    fn bad_data_is_a_reason_not_a_panic() {
        let mut v = order();
        v["priceSummary"]["total"]["amount"] = json!("12,5O");
        assert!(map_order(&v)
            .expect_err("refused")
            .contains("montant illisible"));
        let mut v = order();
        v["additionalFees"][0]["name"] = json!("Frais de dossier");
        v["additionalFees"][0]["code"] = json!("fees");
        assert!(map_order(&v)
            .expect_err("refused")
            .contains("non pris en charge"));
        let mut v = order();
        v["lineItems"] = json!([]);
        assert!(map_order(&v).is_err());
        let mut v = order();
        v["currencyConversionDetails"]["conversionRate"] = json!("0");
        assert!(map_order(&v).is_err());
    }

    #[test]
    fn states_follow_cancel_then_fulfilment_then_payment() {
        let mut v = order();
        assert_eq!(state_of(&v), "PAID");
        v["fulfillmentStatus"] = json!("FULFILLED");
        assert_eq!(state_of(&v), "FULFILLED");
        v["status"] = json!("CANCELED");
        assert_eq!(state_of(&v), "CANCELED");
    }
}
