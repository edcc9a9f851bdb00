//! What the import writes into the ERP: documents, their lines and payments, and customer
//! records. Built purely from a [`super::ShopOrder`] and the profile's
//! [`super::OrderSettings`] by [`super::build`] and [`super::customer`]; serialised into the
//! ERP's import files by the EBP adapter.

use super::model::Address;
use super::settings::DocumentKind;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a document line stands for (the EBP adapter writes them all as article lines; the
/// kind explains the line in logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineKind {
    /// A product known in the ERP.
    Product,
    /// A product unknown in the ERP, written on the misc. article.
    Misc,
    /// Shipping, when sent as a line.
    Shipping,
    /// Gift wrapping.
    GiftWrap,
    /// An order-level discount share for one VAT rate (negative amount).
    Discount,
    /// The gap between the shop's total and the computed total.
    Gap,
}

/// One line of an ERP document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentLine {
    /// What the line is.
    pub kind: LineKind,
    /// ERP article code (`Item.Id`).
    pub item_id: String,
    /// Line label.
    pub description: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price before line discount: tax excluded, or tax included when the document is
    /// tax-inclusive. Rounded to the profile's precision.
    pub unit_price: Decimal,
    /// Line discount in percent (0 when none or when "no line discounts" is on).
    pub discount_percent: Decimal,
    /// ERP VAT code.
    pub vat_code: String,
    /// VAT rate in percent (kept for totals checks).
    pub vat_rate: Decimal,
    /// Lot / serial number.
    pub lot: Option<String>,
}

impl DocumentLine {
    /// Net line amount (quantity × unit price × (1 − discount)), unrounded; tax excluded or
    /// included according to the document's mode.
    pub fn net_amount(&self) -> Decimal {
        let gross = self.quantity * self.unit_price;
        gross - gross * self.discount_percent / Decimal::ONE_HUNDRED
    }
}

/// One payment (settlement) attached to a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentPayment {
    /// Payment date.
    pub date: NaiveDate,
    /// Amount, in the document's currency.
    pub amount: Decimal,
    /// Settlement mode.
    pub settlement_mode: String,
    /// Payment mode.
    pub payment_mode: String,
    /// Bank / cash account.
    pub bank_account: String,
    /// Label (from the label template).
    pub label: String,
    /// True for a payment-gap settlement (totals differed).
    pub is_gap: bool,
}

/// An ERP sale document ready for the import files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpDocument {
    /// Document type (which import file).
    pub kind: DocumentKind,
    /// Forced document number (shop number option), else the ERP numbers it.
    pub number: Option<String>,
    /// Document date.
    pub date: NaiveDate,
    /// ERP customer code.
    pub customer_code: String,
    /// Customer name on the document.
    pub customer_name: String,
    /// Document reference (from the template; ≤ 70 characters).
    pub reference: String,
    /// Web order number written in the custom field `xx_atoosync_order` (≤ 32 characters).
    pub atoosync_order: String,
    /// Number series (souche).
    pub series: Option<String>,
    /// Warehouse.
    pub warehouse: Option<String>,
    /// Accounting category.
    pub accounting_category: String,
    /// ERP currency code.
    pub currency: String,
    /// Conversion rate, for foreign-currency documents.
    pub conversion_rate: Option<Decimal>,
    /// ERP shipping mode.
    pub shipping_id: Option<String>,
    /// Shipping in the footer, tax excluded (0 when shipping goes as a line).
    pub shipping_amount_tax_excl: Decimal,
    /// VAT code of the footer shipping.
    pub shipping_vat_code: Option<String>,
    /// VAT rate of the footer shipping in percent (kept for totals checks, like a line's).
    #[serde(default)]
    pub shipping_vat_rate: Decimal,
    /// Delivery date.
    pub delivery_date: Option<NaiveDate>,
    /// Unit prices are tax-inclusive.
    pub tax_inclusive: bool,
    /// ERP document state to set, if any.
    pub erp_state: Option<String>,
    /// Billing address.
    pub billing: Address,
    /// Delivery address.
    pub delivery: Address,
    /// Lines, in order.
    pub lines: Vec<DocumentLine>,
    /// Payments.
    pub payments: Vec<DocumentPayment>,
    /// The shop's total incl. tax (after conversion when needed) — what the ERP total must equal.
    pub expected_total_tax_incl: Decimal,
    /// Messages copied to the document notes.
    pub notes: Vec<String>,
}

/// An ERP customer record to create or update through `Customers.txt` / `Adresses.txt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// ERP customer code (`Customer.Id`).
    pub code: String,
    /// Name (company, else `LASTNAME Firstname` per settings).
    pub name: String,
    /// Contact first name.
    pub firstname: String,
    /// Contact last name.
    pub lastname: String,
    /// E-mail.
    pub email: String,
    /// SIRET.
    pub siret: Option<String>,
    /// VAT number.
    pub vat_number: Option<String>,
    /// Accounting account (`Accounts_Account`).
    pub accounting_account: Option<String>,
    /// Sales rep.
    pub sales_rep: Option<String>,
    /// Family.
    pub family: Option<String>,
    /// Price category.
    pub price_category: Option<String>,
    /// Accounting category, when the settings copy the document's.
    pub accounting_category: Option<String>,
    /// Billing address.
    pub billing: Address,
    /// Delivery address.
    pub delivery: Address,
}

/// An existing ERP customer found by a look-up (the columns the resolution rules compare).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpCustomer {
    /// Customer code.
    pub code: String,
    /// Name.
    pub name: String,
    /// E-mail of the main invoicing contact.
    pub email: Option<String>,
    /// SIRET (`Siren` + `Nic`).
    pub siret: Option<String>,
    /// VAT number.
    pub vat_number: Option<String>,
}

/// What customer resolution decided for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CustomerResolution {
    /// An existing ERP customer; `update` carries addresses to refresh when the settings say so.
    Existing {
        /// Customer code.
        code: String,
        /// How it was found (`siret`, `email`, `vat`, `single-account`, `guest-account`,
        /// `forced-by-payment`, `shop-link`).
        found_by: String,
        /// Record to re-import (address updates), if any.
        update: Option<CustomerRecord>,
    },
    /// A new customer to create first.
    New(CustomerRecord),
}

impl CustomerResolution {
    /// The customer code the document uses.
    pub fn code(&self) -> &str {
        match self {
            CustomerResolution::Existing { code, .. } => code,
            CustomerResolution::New(r) => &r.code,
        }
    }
}

/// An ERP article as the document rules need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpItem {
    /// Article code.
    pub id: String,
    /// ERP label (`Caption`).
    pub caption: String,
}
