//! Online shop platforms (CMS): one module per platform, each with a reqwest client
//! implementing the workflows' [`passerelle_workflows::ports::Shop`] port and an in-process
//! simulator faithful enough to test it.
//!
//! * [`prestashop`]: PrestaShop Webservice 1.7 / 8.x (JSON reads, XML writes).
//! * [`woocommerce`]: WooCommerce REST `wc/v3`.
//! * [`bigcommerce`]: BigCommerce REST (v2 orders, v3 metafields and inventory; request quota
//!   per store shared in the database).
//! * [`magento`]: Magento 2 / Adobe Commerce admin REST (`/rest/<store>/V1/`).
//! * [`shopify`]: Shopify Admin GraphQL 2026-04 (cost-throttled, bucket shared in the database).
//! * [`wix`]: Wix eCommerce Orders v1 and Stores Catalog V3 (200 requests per minute, gate
//!   shared in the database).

pub mod bigcommerce;
pub mod magento;
pub mod prestashop;
pub mod shopify;
pub mod wix;
pub mod woocommerce;
