//! Magento 2 / Adobe Commerce through its admin REST API (`/rest/<store>/V1/…`).
//!
//! * `http.rs`: transport — Bearer token, store code, `{message, parameters}` errors
//!   classified into step errors, 429 waited out, JSON numbers read as exact text.
//! * `client.rs`: [`MagentoClient`] reads orders (`searchCriteria` filter groups, pages
//!   until `total_count`, de-duplicated on `entity_id`) and writes back statuses (native
//!   invoice / shipment / cancel / hold, then a comment), the ERP document number and the
//!   delivery date (order comments) and one article's stock.
//! * `model.rs`: the order JSON mapped into the neutral
//!   [`passerelle_domain::orders::ShopOrder`] (configurable parent + child rows, `base_*`
//!   vs order currency, `discount_tax_compensation_amount`; a malformed order fails alone).
//! * `catalog.rs`: [`MagentoCatalog`], stock through MSI source items (the input-limits
//!   array cap learnt from the 400 and honoured, a bad item isolated and failed alone).
//! * `platform.rs`: its capabilities, configuration reads and `connect`.
//!
//! Its simulator lives in the `passerelle-simulators` crate (`simulators/src/magento/`).
//! Facts and sources: `/work/shared/reference/platforms.md` §5, `cms-apis.md` §6 and
//! `specs/magento/admin-schema-2.4.8.yaml`.

mod catalog;
mod client;
pub mod http;
pub mod model;
mod platform;

pub use catalog::{MagentoCatalog, MAX_ARRAY};
pub use client::{MagentoClient, DEFAULT_SOURCE, PAGE_SIZE};
pub use http::{normalise_shop_url, Transport};
pub use model::Money;
pub use platform::{connect, CAPABILITIES};
