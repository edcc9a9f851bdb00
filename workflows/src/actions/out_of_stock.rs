//! Out-of-stock handling of the stock writes (FEATURES §3.1, shop-side switches: "disable
//! when 0, re-enable when back"): after the quantities are written, a product at 0 (or
//! below) is deactivated, and one whose stock is back is activated again — only when the
//! activation rule lets it (published and not asleep: stock never re-enables a product
//! the merchant withdrew in the ERP). One journaled step per page; never creates.

use super::catalog::Io;
use crate::engine::RunError;
use crate::ports::Written;
use std::collections::HashMap;

/// One product whose stock was written: its reference, the quantity sent, and whether the
/// activation rule allows it to be active.
pub(crate) struct StockState {
    pub(crate) reference: String,
    pub(crate) quantity: i64,
    pub(crate) may_be_active: bool,
}

/// Applies the rule when the profile asks for it; returns a note per product whose
/// activation changed.
pub(crate) async fn apply(
    io: &Io,
    states: Vec<StockState>,
) -> Result<HashMap<String, String>, RunError> {
    if !io.config.settings.disable_when_out_of_stock || states.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<(String, bool)> = states
        .iter()
        .map(|s| (s.reference.clone(), s.quantity > 0 && s.may_be_active))
        .collect();
    let (shop, batch, list) = (io.shop.clone(), io.config.batch(), wanted.clone());
    let written: Vec<(String, Written)> = io
        .ctx
        .step("write_stock_activation", &io.p.shop, || async move {
            shop.set_active(&list, batch).await
        })
        .await?;
    let active: HashMap<String, bool> = wanted.into_iter().collect();
    Ok(written
        .into_iter()
        .filter_map(|(r, w)| {
            let on = active.get(&r).copied()?;
            let note = match (w, on) {
                (Written::Updated(_), false) => {
                    "désactivé : rupture de stock (out of stock)".to_string()
                }
                (Written::Updated(_), true) => {
                    "réactivé : stock revenu (back in stock)".to_string()
                }
                (Written::Refused(e), _) => format!("activation refusée : {e}"),
                _ => return None,
            };
            Some((r, note))
        })
        .collect())
}
