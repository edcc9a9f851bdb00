//! Building the ERP document from a shop order (FEATURES §3.3). PROVISIONAL signatures: the
//! rules are being written.

use super::*;
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// Why an order cannot become a document (French first; shown in the journal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OrderError(pub String);

/// What the document rules need besides the order and the settings.
#[derive(Debug, Clone)]
pub struct BuildContext<'a> {
    /// The profile's settings.
    pub settings: &'a OrderSettings,
    /// The status rule matching the order's state.
    pub status: &'a StatusRule,
    /// The resolved customer.
    pub customer: &'a CustomerResolution,
    /// ERP articles known, by reference.
    pub items: &'a BTreeMap<String, ErpItem>,
    /// The day of the import.
    pub today: NaiveDate,
}

/// Checks the order's own data.
pub fn validate_order(_order: &ShopOrder) -> Result<(), OrderError> {
    todo!()
}

/// Checks the mandatory special articles exist in the ERP.
pub fn check_special_articles(
    _settings: &OrderSettings,
    _items: &BTreeMap<String, ErpItem>,
) -> Result<(), String> {
    todo!()
}

/// Builds the document.
pub fn build_document(_order: &ShopOrder, _cx: &BuildContext<'_>) -> Result<ErpDocument, OrderError> {
    todo!()
}

/// The payment rule for an order.
pub fn payment_rule<'a>(_order: &ShopOrder, _settings: &'a OrderSettings) -> Option<&'a PaymentRule> {
    todo!()
}
