//! Orders from the shop into the ERP: the normalised shop order ([`model`]), the profile's
//! import settings ([`settings`]), what is written into the ERP ([`document`]), and the pure
//! rules that go from one to the other: [`build`] (documents, lines, discounts, payments,
//! addresses) and [`customer`] (customer resolution and numbering, FEATURES §4.2).

pub mod build;
pub mod customer;
pub mod document;
pub mod grouping;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod settings;
pub mod totals;
pub mod updates;
pub mod whatif;

pub use document::{
    CustomerRecord, CustomerResolution, DocumentLine, DocumentPayment, ErpCustomer, ErpDocument,
    ErpItem, LineKind,
};
pub use model::{
    Address, OrderDiscount, OrderLine, OrderTotals, Payment, Shipping, ShopCustomer, ShopOrder,
    Wrapping,
};
pub use settings::{
    AccountNumbering, AccountingAccountMode, AddressChoice, AddressRule, CarrierRule,
    CountryMapping, CustomerSettings, DocumentDateChoice, DocumentKind, OrderSettings,
    PaymentAmountMode, PaymentDateChoice, PaymentRule, SpecialArticles, StatusRule, TaxRule,
};
pub use totals::VatRounding;
