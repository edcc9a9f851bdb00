//! Local simulators of every third-party API Passerelle talks to, used by the tests, the
//! benchmarks, `passerelle demo` and `passerelle sim`.
//!
//! Each simulator parses what it receives with **its own code**, never the client's: the
//! EBP simulator reads the import files with [`ebp::import_files`], the PrestaShop simulator
//! reads XML bodies and serves JSON with its own helpers. A format bug in a client is then
//! caught by the tests instead of being mirrored. This crate depends on `domain` only (for
//! the value types the simulated ERP stores), never on `adapters`.
//!
//! * [`seed`]: the one platform-neutral set of demo data (orders, articles, customers) that
//!   every shop simulator renders in its own API shape.
//! * [`prestashop`]: the PrestaShop Webservice (`/api/…`).
//! * [`shopify`]: the Shopify Admin GraphQL API (2026-04), cost-throttled.
//! * [`ebp`]: EBP Gestion Commerciale SaaS (API, login, Import and Export APIs).
//! * [`woocommerce`]: the WooCommerce REST API `wc/v3` (`/wp-json/wc/v3/…`).
//! * [`wix`]: Wix eCommerce Orders v1 and Stores Catalog V3 inventory (`www.wixapis.com`).
//! * [`bigcommerce`]: the BigCommerce REST API (v2 orders, v3 metafields and inventory),
//!   rate-limited per store.
//! * [`magento`]: the Magento 2 / Adobe Commerce admin REST API (`/rest/<store>/V1/…`).
//! * [`storage`]: Dropbox, pCloud and Cloudinary.
//! * [`demo_backend`]: the engine demonstration's backend.

pub mod bigcommerce;
pub mod demo_backend;
pub mod ebp;
pub mod magento;
pub mod prestashop;
pub mod seed;
pub mod shopify;
pub mod storage;
pub mod wix;
pub mod woocommerce;
