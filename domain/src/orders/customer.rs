//! Customer resolution (FEATURES §4.2). PROVISIONAL signatures: the rules are being written.

use super::*;

/// The values to look ERP customers up with, per the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LookupKeys {
    /// SIRET, when searched and present.
    pub siret: Option<String>,
    /// E-mail (lower-cased), when searched and present.
    pub email: Option<String>,
    /// VAT number (no spaces, upper-cased), when searched and present.
    pub vat: Option<String>,
}

/// The look-up keys of an order's customer.
pub fn lookup_keys(_order: &ShopOrder, _settings: &CustomerSettings) -> LookupKeys {
    todo!()
}

/// Resolves the customer of an order among the ERP customers found by the look-ups.
pub fn resolve_customer(
    _order: &ShopOrder,
    _settings: &OrderSettings,
    _found: &[ErpCustomer],
) -> CustomerResolution {
    todo!()
}
