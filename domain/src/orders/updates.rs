//! Order updates ERP → shop (FEATURES §3.5, §5): what to send back to a shop order once its
//! ERP document moved along the chain quote → order → delivery note → invoice.
//!
//! Pure: [`plan_update`] takes what was already sent (the `ShopOrder` aggregate's state) and
//! the order's ERP documents as read, and says what to send now. Forward only: a document
//! type earlier in the chain than the one already reported never moves the shop status back.

use super::DocumentKind;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The profile's order-update settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateSettings {
    /// ERP document type reached → shop status id to set (absent: leave unchanged).
    pub status_by_document: BTreeMap<DocumentKind, String>,
    /// The ERP sale-document column holding the carrier tracking number (a custom field such
    /// as `xx_numero_suivi`: EBP has no tracking column, see the reference §6). `None`: no
    /// tracking sent.
    pub tracking_field: Option<String>,
    /// Shop status to set when a tracking number is sent (e.g. "Expédié").
    pub tracking_state: Option<String>,
    /// Take the tracking number from the shop (a carrier module filled it) instead of the
    /// ERP: then it only drives `tracking_state`.
    pub tracking_from_shop: bool,
    /// Send the ERP document number of the furthest document to the shop order.
    pub send_document_number: bool,
    /// Also replace the shop order reference by that number (PrestaShop stores 9
    /// characters: a longer number is shortened to its first 9, with a warning on the item).
    pub replace_reference: bool,
    /// Send the ERP delivery date (of delivery notes and invoices made from the transferred
    /// document) to the shop order.
    pub send_delivery_date: bool,
    /// Ask the shop to e-mail the customer on status and tracking changes.
    pub notify_customer: bool,
}

/// The kind of an ERP sale document as the chain reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainKind {
    /// A document type of the order chain.
    Stage(DocumentKind),
    /// Avoir: cancels the invoice it was made from.
    CreditNote,
    /// Any other sale document type (deposit invoice, return note…): not part of the chain.
    Other,
}

/// One ERP sale document carrying a web order number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDocument {
    /// `SaleDocument.Id`.
    pub id: String,
    /// `DocumentNumber`.
    pub number: String,
    /// Type.
    pub kind: ChainKind,
    /// The web order number (`xx_atoosync_order`).
    pub web_order: String,
    /// `DocumentDate`.
    pub date: NaiveDate,
    /// `DeliveryDate`.
    pub delivery_date: Option<NaiveDate>,
    /// The tracking field's raw value (several parcels may be listed).
    pub tracking: Option<String>,
    /// `OriginDocumentNumber`: the document it was transformed from.
    pub origin_number: Option<String>,
    /// `sysModifiedDate` (ISO, ERP clock), the incremental reader's watermark.
    pub modified: String,
}

/// What was already sent for an order (folded from its events).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SentState {
    /// Furthest document type reported to the shop.
    pub stage: Option<DocumentKind>,
    /// Tracking number sent.
    pub tracking: Option<String>,
    /// Document number sent.
    pub document_number: Option<String>,
    /// Delivery date sent.
    pub delivery_date: Option<NaiveDate>,
    /// Invoice PDFs attached (ERP invoice numbers).
    pub invoices: Vec<String>,
}

/// What to send to one shop order now.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdatePlan {
    /// The furthest document type reached now, with its number, when it is further than the
    /// one already reported; and the status to set for it (None: leave unchanged).
    pub stage: Option<(DocumentKind, String, Option<String>)>,
    /// Tracking number to send (first parcel), with the status to set with it.
    pub tracking: Option<(String, Option<String>)>,
    /// Document number to send, and whether it replaces the order reference.
    pub document_number: Option<(String, bool)>,
    /// Delivery date to send.
    pub delivery_date: Option<NaiveDate>,
}

impl UpdatePlan {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.stage.is_none()
            && self.tracking.is_none()
            && self.document_number.is_none()
            && self.delivery_date.is_none()
    }

    /// One line for the journal (`statut 4 (bon de livraison BL00012), suivi 6A123…`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((kind, number, state)) = &self.stage {
            match state {
                Some(s) => parts.push(format!("statut {s} ({} {number})", kind_label(*kind))),
                None => parts.push(format!("{} {number}", kind_label(*kind))),
            }
        }
        if let Some((t, state)) = &self.tracking {
            match state {
                Some(s) => parts.push(format!("suivi {t} (statut {s})")),
                None => parts.push(format!("suivi {t}")),
            }
        }
        if let Some((n, replace)) = &self.document_number {
            parts.push(if *replace {
                format!("référence remplacée par {n}")
            } else {
                format!("numéro {n}")
            });
        }
        if let Some(d) = self.delivery_date {
            parts.push(format!("livraison le {}", d.format("%d/%m/%Y")));
        }
        parts.join(", ")
    }
}

/// The French label of a document type.
pub fn kind_label(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Quote => "devis",
        DocumentKind::Order => "commande",
        DocumentKind::DeliveryNote => "bon de livraison",
        DocumentKind::Invoice => "facture",
    }
}

/// Why an order cannot be updated (reported on that order; the run goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainProblem {
    /// None of the order's documents is in the ERP any more.
    #[error("document {0} introuvable dans l'ERP (supprimé ?) (document deleted in the ERP)")]
    Deleted(String),
    /// The invoice was cancelled by a credit note.
    #[error("facture {invoice} annulée par l'avoir {credit_note} (invoice cancelled)")]
    Cancelled {
        /// Invoice number.
        invoice: String,
        /// Credit note number.
        credit_note: String,
    },
}

/// The first parcel's number when the field lists several (`;`, `,`, `/`, spaces or lines).
pub fn first_parcel(raw: &str) -> Option<String> {
    raw.split(|c: char| matches!(c, ';' | ',' | '/' | '|') || c.is_whitespace())
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// The furthest stage of a chain: the latest document of the furthest type (two invoices of
/// a backorder: the later one, by number).
fn furthest(chain: &[ChainDocument]) -> Option<(DocumentKind, &ChainDocument)> {
    chain
        .iter()
        .filter_map(|d| match d.kind {
            ChainKind::Stage(k) => Some((k, d)),
            _ => None,
        })
        .max_by(|(ka, a), (kb, b)| {
            ka.cmp(kb)
                .then_with(|| a.date.cmp(&b.date))
                .then_with(|| a.number.cmp(&b.number))
        })
}

/// What to send for one order. `transferred_number` is the document the order was linked to
/// at import (reported when the chain is empty); `shop_tracking` is the shop's own tracking
/// number when the settings take it from the shop.
pub fn plan_update(
    settings: &UpdateSettings,
    sent: &SentState,
    transferred_number: &str,
    chain: &[ChainDocument],
    shop_tracking: Option<&str>,
) -> Result<UpdatePlan, ChainProblem> {
    let Some((kind, doc)) = furthest(chain) else {
        return Err(ChainProblem::Deleted(transferred_number.to_string()));
    };
    // A credit note made from one of the chain's invoices cancels the order's flow.
    let invoices: Vec<&ChainDocument> = chain
        .iter()
        .filter(|d| d.kind == ChainKind::Stage(DocumentKind::Invoice))
        .collect();
    for cn in chain.iter().filter(|d| d.kind == ChainKind::CreditNote) {
        if let Some(inv) = invoices
            .iter()
            .find(|i| cn.origin_number.as_deref() == Some(i.number.as_str()))
        {
            return Err(ChainProblem::Cancelled {
                invoice: inv.number.clone(),
                credit_note: cn.number.clone(),
            });
        }
    }
    let mut plan = UpdatePlan::default();
    if sent.stage.is_none_or(|s| kind > s) {
        plan.stage = Some((
            kind,
            doc.number.clone(),
            settings.status_by_document.get(&kind).cloned(),
        ));
    }
    let tracking = if settings.tracking_from_shop {
        shop_tracking.and_then(first_parcel)
    } else if settings.tracking_field.is_some() {
        // The latest document holding a number (delivery note or invoice).
        chain
            .iter()
            .filter(|d| matches!(d.kind, ChainKind::Stage(_)))
            .filter_map(|d| d.tracking.as_deref().and_then(first_parcel).map(|t| (d, t)))
            .max_by(|(a, _), (b, _)| a.modified.cmp(&b.modified))
            .map(|(_, t)| t)
    } else {
        None
    };
    if let Some(t) = tracking {
        if sent.tracking.as_deref() != Some(t.as_str()) {
            plan.tracking = Some((t, settings.tracking_state.clone()));
        }
    }
    if settings.send_document_number && sent.document_number.as_deref() != Some(&doc.number) {
        // Only forward: an earlier document's number never replaces a later one's.
        if sent.stage.is_none_or(|s| kind >= s) {
            plan.document_number = Some((doc.number.clone(), settings.replace_reference));
        }
    }
    if settings.send_delivery_date {
        // The delivery date of a delivery made in the ERP: delivery notes and invoices
        // transformed there (the transferred document's date is the one the import wrote
        // from the shop).
        let date = chain
            .iter()
            .filter(|d| d.origin_number.is_some())
            .filter(|d| {
                matches!(
                    d.kind,
                    ChainKind::Stage(DocumentKind::DeliveryNote | DocumentKind::Invoice)
                )
            })
            .filter_map(|d| d.delivery_date)
            .max();
        // A status change may reset the shop's date: PrestaShop's delivery states
        // (`delivery=1`) set it to the time of the change, even when it was set before.
        // The date goes again after any status this plan sets (the write is absolute and
        // skipped by the adapter when the shop already holds it).
        let status_set = plan.stage.as_ref().is_some_and(|(_, _, s)| s.is_some())
            || plan.tracking.as_ref().is_some_and(|(_, s)| s.is_some());
        if date.is_some() && (date != sent.delivery_date || status_set) {
            plan.delivery_date = date;
        }
    }
    Ok(plan)
}

/// The invoices of a chain not attached yet, oldest first.
pub fn invoices_to_send<'a>(
    sent: &SentState,
    chain: &'a [ChainDocument],
) -> Vec<&'a ChainDocument> {
    let cancelled: Vec<&str> = chain
        .iter()
        .filter(|d| d.kind == ChainKind::CreditNote)
        .filter_map(|d| d.origin_number.as_deref())
        .collect();
    let mut v: Vec<&ChainDocument> = chain
        .iter()
        .filter(|d| d.kind == ChainKind::Stage(DocumentKind::Invoice))
        .filter(|d| !sent.invoices.contains(&d.number))
        .filter(|d| !cancelled.contains(&d.number.as_str()))
        .collect();
    v.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.number.cmp(&b.number)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(number: &str, kind: ChainKind, tracking: Option<&str>, modified: &str) -> ChainDocument {
        ChainDocument {
            id: format!("id-{number}"),
            number: number.into(),
            kind,
            web_order: "12".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default(),
            delivery_date: None,
            tracking: tracking.map(str::to_string),
            origin_number: None,
            modified: modified.into(),
        }
    }

    fn settings() -> UpdateSettings {
        UpdateSettings {
            status_by_document: [
                (DocumentKind::DeliveryNote, "4".to_string()),
                (DocumentKind::Invoice, "5".to_string()),
            ]
            .into_iter()
            .collect(),
            tracking_field: Some("xx_numero_suivi".into()),
            send_document_number: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_furthest_document_sets_the_status_once() {
        let s = settings();
        let chain = vec![
            doc("CM1", ChainKind::Stage(DocumentKind::Order), None, "1"),
            doc(
                "BL1",
                ChainKind::Stage(DocumentKind::DeliveryNote),
                Some("6A1; 6A2"),
                "2",
            ),
        ];
        let p = plan_update(&s, &SentState::default(), "CM1", &chain, None).unwrap_or_default();
        assert_eq!(
            p.stage,
            Some((DocumentKind::DeliveryNote, "BL1".into(), Some("4".into())))
        );
        assert_eq!(p.tracking, Some(("6A1".into(), None)));
        assert_eq!(p.document_number, Some(("BL1".into(), false)));
        let sent = SentState {
            stage: Some(DocumentKind::DeliveryNote),
            tracking: Some("6A1".into()),
            document_number: Some("BL1".into()),
            ..Default::default()
        };
        let again = plan_update(&s, &sent, "CM1", &chain, None).unwrap_or_default();
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn an_earlier_document_never_moves_the_order_back() {
        let s = settings();
        let chain = vec![doc("CM1", ChainKind::Stage(DocumentKind::Order), None, "1")];
        let sent = SentState {
            stage: Some(DocumentKind::Invoice),
            document_number: Some("FA1".into()),
            ..Default::default()
        };
        let p = plan_update(&s, &sent, "CM1", &chain, None).unwrap_or_default();
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn deleted_and_cancelled_documents_are_problems() {
        let s = settings();
        assert_eq!(
            plan_update(&s, &SentState::default(), "CM9", &[], None),
            Err(ChainProblem::Deleted("CM9".into()))
        );
        let mut cn = doc("AV1", ChainKind::CreditNote, None, "3");
        cn.origin_number = Some("FA1".into());
        let chain = vec![
            doc("FA1", ChainKind::Stage(DocumentKind::Invoice), None, "2"),
            cn,
        ];
        assert!(matches!(
            plan_update(&s, &SentState::default(), "CM1", &chain, None),
            Err(ChainProblem::Cancelled { .. })
        ));
        assert!(invoices_to_send(&SentState::default(), &chain).is_empty());
    }

    #[test]
    fn two_invoices_are_each_sent_once() {
        let chain = vec![
            doc("FA2", ChainKind::Stage(DocumentKind::Invoice), None, "2"),
            doc("FA1", ChainKind::Stage(DocumentKind::Invoice), None, "1"),
        ];
        let all: Vec<&str> = invoices_to_send(&SentState::default(), &chain)
            .iter()
            .map(|d| d.number.as_str())
            .collect();
        assert_eq!(all, ["FA1", "FA2"]);
        let sent = SentState {
            invoices: vec!["FA1".into()],
            ..Default::default()
        };
        assert_eq!(invoices_to_send(&sent, &chain).len(), 1);
    }

    #[test]
    fn tracking_from_the_shop_takes_the_first_parcel() {
        let s = UpdateSettings {
            tracking_from_shop: true,
            tracking_state: Some("4".into()),
            ..Default::default()
        };
        let chain = vec![doc(
            "CM1",
            ChainKind::Stage(DocumentKind::Order),
            Some("ERP"),
            "1",
        )];
        let p = plan_update(&s, &SentState::default(), "CM1", &chain, Some(" X1 X2"))
            .unwrap_or_default();
        assert_eq!(p.tracking, Some(("X1".into(), Some("4".into()))));
    }
}
