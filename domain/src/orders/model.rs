//! The shop order as Passerelle sees it, whatever the platform: every shop adapter maps its
//! own resources (PrestaShop `orders` + `order_details` + `customers` + `addresses` + …)
//! into these types, and the document rules of [`super::build`] read only them.
//!
//! Amounts are `rust_decimal::Decimal` (never `f64`), in the order's currency.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One order read from the shop, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopOrder {
    /// The shop's order id (`orders.id` on PrestaShop), the key of the `ShopOrder` aggregate.
    pub id: String,
    /// The shop's order reference (`XKBKNABJK` on PrestaShop).
    pub reference: String,
    /// The shop (multi-shop) the order belongs to.
    pub shop_id: String,
    /// The order's current state (status id in the shop).
    pub state_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
    /// The shop's invoice date, when the shop invoiced the order.
    pub invoice_date: Option<DateTime<Utc>>,
    /// The shop's invoice number, when any.
    pub invoice_number: Option<String>,
    /// ISO 4217 code of the order's currency.
    pub currency: String,
    /// Conversion rate from the shop's default currency to the order's currency.
    pub conversion_rate: Decimal,
    /// The customer who placed the order.
    pub customer: ShopCustomer,
    /// Billing address.
    pub billing: Address,
    /// Delivery address.
    pub delivery: Address,
    /// Product lines, in the shop's order.
    pub lines: Vec<OrderLine>,
    /// Order-level discounts (cart rules), amounts positive.
    pub discounts: Vec<OrderDiscount>,
    /// Shipping.
    pub shipping: Shipping,
    /// Gift wrapping, when asked.
    pub wrapping: Option<Wrapping>,
    /// Payment module (technical name, e.g. `ps_checkpayment`, `paypal`).
    pub payment_module: String,
    /// Payment label shown to the customer (e.g. `Chèque`, `PayPal`).
    pub payment_label: String,
    /// Individual payments recorded by the shop (may be empty).
    pub payments: Vec<Payment>,
    /// Order totals as the shop computed them.
    pub totals: OrderTotals,
    /// Customer messages worth copying to the ERP.
    pub messages: Vec<String>,
}

/// The customer of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopCustomer {
    /// Shop customer id.
    pub id: String,
    /// E-mail address.
    pub email: String,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company name, if any.
    pub company: Option<String>,
    /// SIRET (14 digits), if any.
    pub siret: Option<String>,
    /// Intra-community VAT number, if any (taken from the customer or the billing address).
    pub vat_number: Option<String>,
    /// True for a guest checkout.
    pub is_guest: bool,
    /// The ERP account number already written back on the shop customer, if any.
    pub erp_code: Option<String>,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company.
    pub company: Option<String>,
    /// First line.
    pub address1: String,
    /// Second line.
    pub address2: Option<String>,
    /// Postcode.
    pub postcode: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country_iso: String,
    /// State / region code (ISO 3166-2 suffix), when the country has states.
    pub state: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// One product line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Product reference (SKU) — the key to the ERP article (`Item.Id`).
    pub reference: String,
    /// Product name as ordered.
    pub name: String,
    /// Quantity ordered (must be > 0).
    pub quantity: Decimal,
    /// Unit price before line discount, tax excluded.
    pub unit_price_tax_excl: Decimal,
    /// Unit price before line discount, tax included.
    pub unit_price_tax_incl: Decimal,
    /// Line discount in percent (0–100), 0 when none.
    pub discount_percent: Decimal,
    /// Line discount as an amount per unit, tax excluded, 0 when none.
    pub discount_amount_tax_excl: Decimal,
    /// Line total after discount, tax excluded.
    pub total_tax_excl: Decimal,
    /// Line total after discount, tax included.
    pub total_tax_incl: Decimal,
    /// Tax name as the shop calls it (e.g. `TVA FR 20%`).
    pub tax_name: String,
    /// Tax rate in percent (e.g. 20, 5.5, 0).
    pub tax_rate: Decimal,
    /// Lot or serial number, when the shop knows it.
    pub lot: Option<String>,
}

/// An order-level discount (cart rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderDiscount {
    /// Name of the rule.
    pub name: String,
    /// Amount, tax included (positive).
    pub amount_tax_incl: Decimal,
    /// Amount, tax excluded (positive).
    pub amount_tax_excl: Decimal,
}

/// Shipping of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipping {
    /// Carrier id in the shop.
    pub carrier_id: String,
    /// Carrier name.
    pub carrier_name: String,
    /// Amount, tax excluded.
    pub amount_tax_excl: Decimal,
    /// Amount, tax included.
    pub amount_tax_incl: Decimal,
    /// Tax rate applied to shipping, percent.
    pub tax_rate: Decimal,
}

/// Gift wrapping of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wrapping {
    /// Amount, tax excluded.
    pub amount_tax_excl: Decimal,
    /// Amount, tax included.
    pub amount_tax_incl: Decimal,
    /// Gift message.
    pub message: Option<String>,
}

/// One payment recorded by the shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// Payment method label.
    pub method: String,
    /// Amount in the order's currency.
    pub amount: Decimal,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
    /// The payment provider's transaction id.
    pub transaction_id: Option<String>,
}

/// Order totals as computed by the shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderTotals {
    /// Products, tax excluded (after line discounts).
    pub products_tax_excl: Decimal,
    /// Products, tax included.
    pub products_tax_incl: Decimal,
    /// Total paid, tax excluded.
    pub paid_tax_excl: Decimal,
    /// Total paid, tax included.
    pub paid_tax_incl: Decimal,
}

/// A calendar date as the ERP import files want it (dd/MM/yyyy), kept as a date.
pub type ErpDate = NaiveDate;
