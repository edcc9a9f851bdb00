//! WooCommerce through its REST API `wc/v3` (`/wp-json/wc/v3/…`).
//!
//! * `http.rs`: transport — consumer key/secret (Basic, or the query string when the
//!   profile says), paging headers, error bodies classified into step errors.
//! * `client.rs`: [`WooCommerceClient`] reads orders (snapshot of the selection by id,
//!   de-duplicated on `(id, date_modified_gmt)`, exact GMT window) and writes back
//!   statuses, the ERP document number (private note + `meta_data`), the ERP customer
//!   code (customer `meta_data`), the delivery date and stock.
//! * `model.rs`: the order JSON read defensively and mapped into the neutral
//!   [`passerelle_domain::orders::ShopOrder`] (a malformed order fails alone with its
//!   reason).
//! * `catalog.rs`: [`WooCommerceCatalog`], stock/prices/activation through the batch routes
//!   (≤ 100 items, 413 halves, per-item errors fail their item only).
//! * `platform.rs`: its capabilities, configuration reads and `connect`.
//!
//! Its simulator lives in the `passerelle-simulators` crate (`simulators/src/woocommerce/`).
//! Facts and sources: `/work/shared/reference/platforms.md` §2 and `cms-apis.md` §2.

mod catalog;
mod client;
pub mod http;
pub mod model;
mod platform;

pub use catalog::{WooCommerceCatalog, MAX_BATCH};
pub use client::{WooCommerceClient, WINDOW_OVERLAP};
pub use http::{normalise_shop_url, Transport, WooAuth};
pub use platform::{connect, CAPABILITIES};
