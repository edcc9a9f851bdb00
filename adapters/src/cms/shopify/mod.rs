//! Shopify through its Admin GraphQL API, version pinned to 2026-04.
//!
//! * `client.rs`: the reqwest client (`X-Shopify-Access-Token`, cost reservation in the shared
//!   bucket, `THROTTLED` waited out, errors classified).
//! * [`bucket`]: the per-shop cost bucket in the database, shared by every worker.
//! * [`queries`]: every GraphQL document the client sends, with its requested cost.
//! * [`orders`]: orders (`MoneyBag`, `taxesIncluded`, `current*`) into the neutral order.
//! * `platform.rs`: its capabilities, the port families (`Shop`, `CatalogShop` for stock,
//!   `ShopConfigurationRead`) and `connect`.
//!
//! Its simulator lives in the `passerelle-simulators` crate (`simulators/src/shopify/`).
//! Facts and sources: `/work/shared/reference/platforms.md` §0.3, §0.4, §3 and §10,
//! `cms-apis.md` §3, `specs/shopify/admin-2026-04.graphql`.

pub mod bucket;
mod client;
pub mod orders;
mod platform;
pub mod queries;

pub use bucket::CostBucket;
pub use client::{normalise_shop_url, ShopifyClient, API_VERSION};
pub use orders::Money;
pub use platform::{connect, ShopifyShop, CAPABILITIES};
