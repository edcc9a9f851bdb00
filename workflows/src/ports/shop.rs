//! The shop port: what the order workflows need from an online shop, whatever the platform.

use crate::engine::StepError;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use passerelle_domain::orders::ShopOrder;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which order date the period filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DateField {
    /// Creation date (`date_add`).
    #[default]
    Created,
    /// Last update (`date_upd`).
    Updated,
}

/// Which orders to read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderQuery {
    /// Shop status ids to read (empty: none).
    pub states: Vec<String>,
    /// Shops to read (multi-shop); empty: the default shop only.
    pub shops: Vec<String>,
    /// Start of the period (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// End of the period (inclusive).
    pub to: Option<DateTime<Utc>>,
    /// Which date the period applies to.
    pub date_field: DateField,
}

/// One order as read: normalised, or refused with the reason (malformed data fails that
/// order only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "kebab-case")]
pub enum ShopOrderRead {
    /// A well-formed order.
    Ok(Box<ShopOrder>),
    /// An order the adapter could not read.
    Invalid {
        /// Shop order id (or the best identification available).
        id: String,
        /// Why, in French first.
        reason: String,
    },
}

impl ShopOrderRead {
    /// The order's id.
    pub fn id(&self) -> &str {
        match self {
            ShopOrderRead::Ok(o) => &o.id,
            ShopOrderRead::Invalid { id, .. } => id,
        }
    }
}

/// One page of orders, in ascending id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdersPage {
    /// The orders of the page.
    pub orders: Vec<ShopOrderRead>,
    /// True when another page may follow.
    pub has_more: bool,
}

/// An online shop.
#[async_trait]
pub trait Shop: Send + Sync {
    /// The platform's field rules (issue 21): an order reference longer than the shop
    /// stores is shortened explicitly, with a warning. None by default.
    fn field_rules(&self) -> passerelle_domain::fields::FieldRules {
        passerelle_domain::fields::NO_RULES
    }
    /// Reads one page of the orders matching `query`: up to `limit` orders whose id comes
    /// after `after_id` (keyset paging in ascending id order, so orders whose status the
    /// import changes do not shift the following pages).
    async fn orders_page(
        &self,
        query: &OrderQuery,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<OrdersPage, StepError>;
    /// Sets the order's status (set-to: idempotent; no change when already there).
    async fn set_order_state(
        &self,
        order_id: &str,
        state_id: &str,
        notify_customer: bool,
    ) -> Result<(), StepError>;
    /// Writes the ERP document number on the order (idempotent).
    async fn set_order_document_number(
        &self,
        order_id: &str,
        document_number: &str,
    ) -> Result<(), StepError>;
    /// Writes the ERP customer account number on the shop customer (idempotent).
    async fn set_customer_erp_code(&self, customer_id: &str, code: &str) -> Result<(), StepError>;
    /// Sets the available quantity of the product with this reference (absolute: idempotent).
    /// Returns false when the shop has no such product.
    async fn set_stock(&self, reference: &str, quantity: Decimal) -> Result<bool, StepError>;
    /// Sets the carrier tracking number of the order (idempotent: unchanged when already
    /// there). With `notify`, the shop e-mails the customer.
    async fn set_tracking(
        &self,
        order_id: &str,
        number: &str,
        notify: bool,
    ) -> Result<(), StepError>;
    /// Replaces the shop order reference (idempotent).
    async fn set_order_reference(&self, order_id: &str, reference: &str) -> Result<(), StepError>;
    /// Sets the order's delivery date (idempotent).
    async fn set_delivery_date(&self, order_id: &str, date: NaiveDate) -> Result<(), StepError>;
    /// The tracking numbers the shop holds for these orders (one batched read; orders
    /// without one are absent).
    async fn tracking_numbers(
        &self,
        order_ids: &[String],
    ) -> Result<BTreeMap<String, String>, StepError>;
    /// Makes an invoice PDF available to the customer on the order. Idempotent per invoice
    /// number (a retried call finds the earlier upload). Returns where it went (for the log).
    async fn attach_invoice(
        &self,
        order_id: &str,
        invoice_number: &str,
        pdf: &[u8],
    ) -> Result<String, StepError>;
}
