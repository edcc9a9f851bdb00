//! Online shop platforms (CMS): one module per platform, each with a reqwest client
//! implementing the workflows' [`passerelle_workflows::ports::Shop`] port and an in-process
//! simulator faithful enough to test it.
//!
//! * [`prestashop`]: PrestaShop Webservice 1.7 / 8.x (JSON reads, XML writes).
//! * [`woocommerce`]: WooCommerce REST `wc/v3`.
//! * [`shopify`]: Shopify Admin GraphQL 2026-04 (cost-throttled, bucket shared in the database).
//! * [`wix`]: Wix eCommerce Orders v1 and Stores Catalog V3 (200 requests per minute, gate
//!   shared in the database).

pub mod prestashop;
pub mod shopify;
pub mod wix;
pub mod woocommerce;
