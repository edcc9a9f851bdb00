//! The order-import settings of a profile (FEATURES §3.3, §3.4, §4.2): what the document
//! rules of [`super::build`] and the customer rules of [`super::customer`] read. Stored in the
//! `Profile` aggregate; serialised as TOML in `passerelle profile import/export`.
//!
//! Every mapping has a `default` applied when no row matches; rows are matched exactly
//! (case-insensitive for names).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ERP document type created for an order (the import file it goes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentKind {
    /// Devis (`Quotes.txt`).
    Quote,
    /// Commande (`Orders.txt`).
    Order,
    /// Bon de livraison (`Delivery Notes.txt`).
    DeliveryNote,
    /// Facture (`Invoices.txt`).
    Invoice,
}

/// Which date becomes the document date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentDateChoice {
    /// The order's creation date.
    #[default]
    OrderDate,
    /// The shop invoice date (falls back to the order date when not invoiced).
    InvoiceDate,
    /// The day of the import (passed in by the caller; the rules never read the clock).
    Today,
}

/// Which date a payment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentDateChoice {
    /// The document date.
    #[default]
    DocumentDate,
    /// The payment's own date in the shop (per-payment mode), else the order date.
    PaymentDate,
    /// The order date.
    OrderDate,
}

/// How payments are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentAmountMode {
    /// One payment for the order total.
    #[default]
    OrderTotal,
    /// One payment per payment recorded by the shop.
    PerPayment,
}

/// Per shop order status: whether it is imported and into what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRule {
    /// Shop status id.
    pub state_id: String,
    /// ERP document type to create.
    pub document: DocumentKind,
    /// ERP document state to set (free text passed to the import), if any.
    #[serde(default)]
    pub erp_state: Option<String>,
    /// Shop status to set once imported (`None`: leave unchanged).
    #[serde(default)]
    pub set_shop_state: Option<String>,
}

/// Country (or `country-state`) → ERP accounting category, with and without tax.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountryMapping {
    /// Keys: `FR`, `DE`, or `US-CA` for a state; values: accounting category for sales with tax.
    #[serde(default)]
    pub with_tax: BTreeMap<String, String>,
    /// Same keys; accounting category for sales without tax (intra-EU with VAT number, export).
    #[serde(default)]
    pub without_tax: BTreeMap<String, String>,
    /// Default with tax.
    pub default_with_tax: String,
    /// Default without tax.
    pub default_without_tax: String,
}

/// Shop tax (name + rate) → ERP VAT code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRule {
    /// Shop tax name (matched case-insensitively); `None` matches any name.
    #[serde(default)]
    pub name: Option<String>,
    /// Rate in percent.
    pub rate: Decimal,
    /// ERP VAT code (`Vat.Id` as the import model knows it, e.g. `TVA20`).
    pub vat_code: String,
}

/// Payment module × currency → ERP payment settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRule {
    /// Payment module (or label, per [`OrderSettings::payment_key`]); matched case-insensitively.
    pub module: String,
    /// Currency ISO code; `None` for any.
    #[serde(default)]
    pub currency: Option<String>,
    /// ERP settlement mode (`SettlementModeId`).
    pub settlement_mode: String,
    /// ERP payment type (`PaymentTypeId`).
    pub payment_mode: String,
    /// Bank or cash account (journal).
    pub bank_account: String,
    /// Forces every order paid this way onto one customer account (e.g. `WEBAMAZON`).
    #[serde(default)]
    pub forced_customer: Option<String>,
    /// Forces the accounting account of that customer.
    #[serde(default)]
    pub forced_accounting_account: Option<String>,
    /// Whether a payment is created for orders paid this way.
    #[serde(default = "yes")]
    pub create_payment: bool,
}

fn yes() -> bool {
    true
}

/// Carrier (by id or by name) → ERP shipping mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierRule {
    /// Shop carrier id or name (matched on either, names case-insensitively).
    pub carrier: String,
    /// ERP shipping mode (`Shipping.Id`).
    pub shipping_id: String,
}

/// The special ERP articles the import needs. All mandatory: the import refuses to run
/// without them (FEATURES §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpecialArticles {
    /// Misc. article used for references unknown in the ERP.
    pub misc: String,
    /// Gap article (difference between shop and ERP totals).
    pub gap: String,
    /// Gift-wrapping article.
    pub gift_wrap: String,
    /// Shipping article (used when shipping goes as a line).
    pub shipping: String,
    /// Discount article per ERP VAT code (order-level discounts are split across rates).
    #[serde(default)]
    pub discount_by_vat: BTreeMap<String, String>,
}

/// Which address a document type uses for delivery and billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressChoice {
    /// The order's billing address.
    Billing,
    /// The order's delivery address.
    #[default]
    Delivery,
}

/// Address choice for one document type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressRule {
    /// Address used as the document's delivery address.
    pub delivery: AddressChoice,
    /// Address used as the document's billing address.
    pub billing: AddressChoice,
}

impl Default for AddressRule {
    fn default() -> Self {
        Self {
            delivery: AddressChoice::Delivery,
            billing: AddressChoice::Billing,
        }
    }
}

/// Document-creation options (FEATURES §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSettings {
    /// Which date is the document date.
    #[serde(default)]
    pub date_choice: DocumentDateChoice,
    /// Price precision (decimals), 2 or 4 typically.
    #[serde(default = "two")]
    pub precision: u32,
    /// Document number series (souche), if any.
    #[serde(default)]
    pub series: Option<String>,
    /// Warehouse for stock movements, if any.
    #[serde(default)]
    pub warehouse: Option<String>,
    /// Reference template; placeholders `%OI` order id, `%OR` order reference, `%CF` customer
    /// first name, `%CL` customer last name (upper-cased), `%CC` company, `%CI` customer id.
    #[serde(default = "default_reference")]
    pub reference_template: String,
    /// Per shop status: imported or not, and into what.
    pub statuses: Vec<StatusRule>,
    /// Country → accounting category.
    pub countries: CountryMapping,
    /// Tax mapping.
    pub taxes: Vec<TaxRule>,
    /// Default VAT code when no tax rule matches (`None`: an unknown rate fails the order).
    #[serde(default)]
    pub default_vat_code: Option<String>,
    /// Payment mapping.
    pub payments: Vec<PaymentRule>,
    /// Default payment settings when no rule matches (`None`: no payment is created).
    #[serde(default)]
    pub default_payment: Option<PaymentRule>,
    /// Which payment info identifies the payment mode: the module (default) or the label.
    #[serde(default)]
    pub payment_key_is_label: bool,
    /// Carrier mapping.
    #[serde(default)]
    pub carriers: Vec<CarrierRule>,
    /// Default shipping mode.
    #[serde(default)]
    pub default_shipping_id: Option<String>,
    /// Shop currency → ERP currency; a missing currency keeps the ISO code.
    #[serde(default)]
    pub currencies: BTreeMap<String, String>,
    /// The shop's default currency (read-only in the console).
    #[serde(default = "eur")]
    pub shop_default_currency: String,
    /// Create documents in foreign currency with the order's conversion rate; otherwise
    /// amounts are converted back to the default currency.
    #[serde(default)]
    pub foreign_currency_documents: bool,
    /// Use the misc. article for references unknown in the ERP (else the order fails).
    #[serde(default = "yes")]
    pub misc_for_unknown: bool,
    /// Use the shop's order (or invoice, for invoices) number as document number.
    #[serde(default)]
    pub shop_number_as_document_number: bool,
    /// Use the ERP article labels on lines instead of the shop's names.
    #[serde(default)]
    pub erp_labels: bool,
    /// Set the document's delivery date (to the document date).
    #[serde(default)]
    pub set_delivery_date: bool,
    /// Create documents with tax-inclusive unit prices (the ERP recomputes net).
    #[serde(default)]
    pub tax_inclusive: bool,
    /// Shipping as an article line instead of the document footer.
    #[serde(default)]
    pub shipping_as_line: bool,
    /// No line discounts: the line carries the net price.
    #[serde(default)]
    pub no_line_discounts: bool,
    /// Push stock of ordered articles to the shop right after import.
    #[serde(default)]
    pub push_stock: bool,
    /// Copy lot/serial numbers to the lines.
    #[serde(default)]
    pub lot_numbers: bool,
    /// Orders grouped into one document per day (FEATURES §3.4); `None`: one per order.
    #[serde(default)]
    pub grouping: Option<super::grouping::GroupingSettings>,
    /// Add a gap line when the shop total incl. tax differs from the computed one.
    #[serde(default = "yes")]
    pub gap_line: bool,
    /// How the ERP rounds VAT on documents: `per-rate` (default: the VAT of each rate's base
    /// rounded once, as French invoice footers and, most likely, EBP's per-rate breakdown do)
    /// or `per-line`. The document totals, and so the gap line, are computed with this rule;
    /// see [`super::totals`] and `adapters/src/ebp/assumptions.rs`.
    #[serde(default)]
    pub vat_rounding: super::totals::VatRounding,
    /// Special articles.
    pub special: SpecialArticles,
    /// Create the order's payments.
    #[serde(default)]
    pub create_payments: bool,
    /// Payment amount mode.
    #[serde(default)]
    pub payment_amount: PaymentAmountMode,
    /// Payment date.
    #[serde(default)]
    pub payment_date: PaymentDateChoice,
    /// Payment label template; placeholders as the reference template (`%CF %CL - %OI`).
    #[serde(default = "default_payment_label")]
    pub payment_label_template: String,
    /// Create a payment for the gap when payments don't add up to the total.
    #[serde(default)]
    pub payment_gaps: bool,
    /// Address choice per document type (missing: delivery→delivery, billing→billing).
    #[serde(default)]
    pub addresses: BTreeMap<DocumentKind, AddressRule>,
    /// Customer creation and resolution.
    pub customers: CustomerSettings,
}

fn two() -> u32 {
    2
}
fn eur() -> String {
    "EUR".into()
}
fn default_reference() -> String {
    "Web %OI - %CF %CL".into()
}
fn default_payment_label() -> String {
    "%CF %CL - %OI".into()
}

/// How new ERP customer accounts are numbered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum AccountNumbering {
    /// Every order goes to one ERP customer account.
    Single {
        /// The account.
        code: String,
    },
    /// One account per shop customer: `prefix` + shop customer id zero-padded to `length`
    /// characters in total (`WEB00029`, `PREST0652`).
    PerCustomer {
        /// Prefix.
        prefix: String,
        /// Total length.
        length: usize,
    },
}

/// How the accounting account of a new customer is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum AccountingAccountMode {
    /// No accounting account.
    #[default]
    None,
    /// The same account for all.
    Same {
        /// The account (e.g. `411WEB`).
        account: String,
    },
    /// One per customer: `prefix` + shop customer id zero-padded to `length` characters.
    PerCustomer {
        /// Prefix (e.g. `411`).
        prefix: String,
        /// Total length.
        length: usize,
    },
}

/// Customer resolution and creation (FEATURES §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSettings {
    /// Look existing ERP customers up by SIRET first.
    #[serde(default)]
    pub search_by_siret: bool,
    /// Then by e-mail.
    #[serde(default = "yes")]
    pub search_by_email: bool,
    /// Then by VAT number.
    #[serde(default)]
    pub search_by_vat: bool,
    /// How new accounts are numbered.
    pub numbering: AccountNumbering,
    /// Accounting account of new customers.
    #[serde(default)]
    pub accounting_account: AccountingAccountMode,
    /// Default sales rep of new customers.
    #[serde(default)]
    pub default_sales_rep: Option<String>,
    /// Default customer family of new customers.
    #[serde(default)]
    pub default_family: Option<String>,
    /// Default price category (customer group) of new customers.
    #[serde(default)]
    pub default_price_category: Option<String>,
    /// Update the delivery address of existing customers.
    #[serde(default)]
    pub update_delivery_address: bool,
    /// Update the billing address of existing customers.
    #[serde(default)]
    pub update_billing_address: bool,
    /// Strip accents from names and addresses.
    #[serde(default)]
    pub strip_accents: bool,
    /// Upper-case names.
    #[serde(default)]
    pub uppercase_name: bool,
    /// Upper-case addresses.
    #[serde(default)]
    pub uppercase_address: bool,
    /// Give the customer the document's accounting category.
    #[serde(default)]
    pub use_document_accounting_category: bool,
    /// Account for guest orders, when set.
    #[serde(default)]
    pub guest_account: Option<String>,
}
