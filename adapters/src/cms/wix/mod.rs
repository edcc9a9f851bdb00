//! Wix through its REST APIs on `www.wixapis.com`: eCommerce Orders v1 and fulfilments,
//! Stores Catalog V3 inventory items, the Catalog Versioning API.
//!
//! * `http.rs`: transport — API key and `wix-site-id`, every request through the shared
//!   [`gate`], 429 waited out, error bodies classified (428 `MISSING_METASITE_ID` and a
//!   site on Catalog V1 are configuration errors).
//! * [`gate`]: 200 requests per minute per app instance, a token bucket in the database
//!   shared by every worker (migration 0095).
//! * `client.rs`: [`WixClient`] reads orders (search with the Wix query language, cursor
//!   paging, snapshot by id), writes back statuses, the ERP document number (order
//!   activity), tracking (fulfilments) and stock (bulk inventory updates with revisions).
//! * [`model`]: the order JSON read defensively into the neutral
//!   [`passerelle_domain::orders::ShopOrder`].
//! * `platform.rs`: its capabilities and `connect`.
//!
//! Its simulator lives in the `passerelle-simulators` crate (`simulators/src/wix/`). Facts
//! and sources: `/work/shared/reference/platforms.md` §0.1, §6 and §10, `cms-apis.md` §5;
//! paths and methods from `specs/wix/wix-endpoints.json`.

mod client;
pub mod gate;
pub mod http;
pub mod model;
mod platform;

pub use client::{
    compact_id, order_guid, WixClient, MAX_INVENTORY_BATCH, PAYMENT_STATUSES, SEARCH_LIMIT,
    STATUSES,
};
pub use gate::{RateGate, RateLimit};
pub use http::{normalise_shop_url, Transport};
pub use platform::{connect, connect_with, CAPABILITIES};
