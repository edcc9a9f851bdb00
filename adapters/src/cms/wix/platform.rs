//! Wix as a shop platform: what this client can do and the one [`connect`] the binary's
//! wiring function calls.

use super::client::WixClient;
use super::gate::{RateGate, RateLimit};
use super::http::Transport;
use crate::store::Db;
use passerelle_domain::platform::{Capabilities, Capability as C, Platform};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::ShopConnection;
use std::sync::Arc;

/// What this Wix client wires today — only that:
/// * orders (`POST /ecom/v1/orders/search`);
/// * status write-back (`update-status`, `cancel`, a fulfilment for `FULFILLED`);
/// * tracking (fulfilments with `trackingInfo`);
/// * the ERP document number (an order activity: a merchant comment);
/// * stock (Catalog V3 inventory items, bulk update with revisions);
/// * configuration reads (statuses; carriers, taxes, currencies from recent orders).
///
/// Not declared, so refused before a run or skipped with a note: quotes (Wix has none),
/// invoice documents (no attachment API), the catalogue (Products V3 bulk updates are not
/// wired), customers and groups (Contacts API not wired).
pub const CAPABILITIES: Capabilities = Capabilities::of(&[
    C::Orders,
    C::StatusWriteBack,
    C::Tracking,
    C::DocumentNumber,
    C::Stock,
    C::ConfigurationReads,
]);

/// The connection to the Wix site behind `url` (`https://www.wixapis.com`) with
/// `credentials` = `SITE_ID:API_KEY`, its requests paced by the gate in `db` shared by
/// every worker (200 requests per minute per app instance).
///
/// `PASSERELLE_WIX_REQUESTS_PER_MINUTE` replaces the 200 (an app granted another quota;
/// tests and benches against the simulator).
pub fn connect(url: &str, credentials: &str, db: &Db) -> Result<ShopConnection, StepError> {
    let mut limit = RateLimit::WIX;
    if let Some(n) = std::env::var("PASSERELLE_WIX_REQUESTS_PER_MINUTE")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
    {
        limit.limit = n;
    }
    connect_with(url, credentials, db, limit)
}

/// [`connect`] at another pace (tests run the minute faster against the simulator).
pub fn connect_with(
    url: &str,
    credentials: &str,
    db: &Db,
    limit: RateLimit,
) -> Result<ShopConnection, StepError> {
    let gate = RateGate::new(db.clone(), limit);
    let client = Arc::new(WixClient::new(Transport::new(
        url,
        credentials,
        gate,
        limit,
    )?));
    let mut c = ShopConnection::new(Platform::Wix, CAPABILITIES);
    c.orders = Some(client.clone());
    c.catalog = Some(client.clone());
    c.configuration = Some(client);
    Ok(c)
}
