//! BigCommerce through its REST API (v2 orders, v3 order metafields and inventory).
//!
//! * `http.rs`: transport — store API base `…/stores/{hash}`, `X-Auth-Token`, the `204`
//!   that ends a v2 list, v2/v3 error bodies classified into step errors, 429 waited out.
//! * `gate.rs`: [`RateGate`], the store's request quota (all apps of the store share it)
//!   kept in the database and shared by every worker.
//! * `client.rs`: [`BigCommerceClient`] reads orders (one status per call, snapshot by id,
//!   lines / addresses / taxes per served page) and writes back statuses, shipments with
//!   tracking, the ERP document number and account in metafields, stock.
//! * `model.rs`: the v2 order JSON read defensively and mapped into the neutral
//!   [`passerelle_domain::orders::ShopOrder`] (a malformed order fails alone).
//! * `platform.rs`: its capabilities, stock through absolute inventory adjustments,
//!   configuration reads and `connect`.
//!
//! Its simulator lives in the `passerelle-simulators` crate (`simulators/src/bigcommerce/`).
//! Facts and sources: `/work/shared/reference/platforms.md` §4 and `cms-apis.md` §4.

mod client;
pub mod gate;
pub mod http;
pub mod model;
mod platform;

pub use client::{BigCommerceClient, INCOMPLETE, PAGE_LIMIT};
pub use gate::{RateGate, RateStatus};
pub use http::{normalise_shop_url, Transport};
pub use platform::{connect, BigCommerceCatalog, CAPABILITIES, DEFAULT_LOCATION, INVENTORY_CAP};
