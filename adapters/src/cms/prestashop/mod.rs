//! PrestaShop (1.7 / 8.x) through its Webservice (`/api/…`).
//!
//! * [`PrestaShopClient`] (`client.rs`): reads order pages with a constant number of
//!   batched calls and maps them into the normalised [`passerelle_domain::orders::ShopOrder`];
//!   writes states (`order_histories`), the ERP document number (order `note`), the ERP
//!   customer code (customer `note`) and stock (`stock_availables`).
//! * [`model`]: the JSON shapes, read defensively, and the mapping (a malformed order becomes
//!   [`passerelle_workflows::ports::ShopOrderRead::Invalid`] with a French reason).
//! * `platform.rs`: its capabilities, the neutral configuration and `connect`.
//!
//! Its simulator lives in the `passerelle-simulators` crate (`simulators/src/prestashop/`).
//!
//! Facts and sources: `/work/shared/reference/cms-apis.md` §1 and `PS-docs:webservice/…`
//! (PrestaShop/docs, branch 8.x).

mod client;
pub mod fields;
pub mod model;
mod platform;

pub use client::{normalise_shop_url, PrestaShopCatalog, PrestaShopClient, PrestaShopCustomers};
pub use model::{PsCoded, PsConfiguration, PsNamed, PsTax, DOCUMENT_PREFIX, ERP_CODE_PREFIX};
pub use platform::{connect, Languages, CAPABILITIES};
