//! The `ShopOrder` aggregate (id: `profile:shop order id`): whether a shop order is in the
//! ERP, under which document, and the support resets that make it importable again
//! (FEATURES §8). The `transferred_orders` projection is fed by its events.

use crate::decider::Decider;
use crate::orders::updates::{SentState, UpdatePlan};
use crate::orders::DocumentKind;
use chrono::NaiveDate;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// Events of a shop order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShopOrderEvent {
    /// The order was written into the ERP (or linked to the document found there).
    OrderTransferred {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// Shop order reference.
        order_reference: String,
        /// ERP document number.
        document_number: String,
        /// ERP document type.
        kind: DocumentKind,
        /// The run that did it (`None` for a support repair).
        run_id: Option<String>,
    },
    /// Support reset: the next import takes the order again. Who is in the metadata.
    TransferReset {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// The document it was linked to.
        document_number: String,
        /// Why (mandatory).
        reason: String,
    },
    /// The shop order was told that its ERP document reached a further type (FEATURES §5).
    OrderStatusSent {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// Document type reached.
        kind: DocumentKind,
        /// Its number.
        document_number: String,
        /// Shop status set (`None`: the mapping leaves the status unchanged).
        state_id: Option<String>,
        /// Run.
        run_id: Option<String>,
    },
    /// The carrier tracking number was sent to the shop order.
    TrackingSent {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// Tracking number (first parcel).
        number: String,
        /// Shop status set with it.
        state_id: Option<String>,
        /// Run.
        run_id: Option<String>,
    },
    /// The ERP document number was written on the shop order.
    DocumentNumberSent {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// ERP document number.
        number: String,
        /// It also replaced the shop order reference.
        replaced_reference: bool,
        /// Run.
        run_id: Option<String>,
    },
    /// The ERP delivery date was written on the shop order.
    DeliveryDateSent {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// Delivery date.
        date: NaiveDate,
        /// Run.
        run_id: Option<String>,
    },
    /// An ERP invoice PDF was attached to the shop order.
    InvoiceSent {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// ERP invoice number.
        invoice_number: String,
        /// Size of the PDF sent, in bytes.
        bytes: u64,
        /// Run.
        run_id: Option<String>,
    },
}

impl DomainEvent for ShopOrderEvent {
    fn event_type(&self) -> String {
        match self {
            ShopOrderEvent::OrderTransferred { .. } => "OrderTransferred",
            ShopOrderEvent::TransferReset { .. } => "TransferReset",
            ShopOrderEvent::OrderStatusSent { .. } => "OrderStatusSent",
            ShopOrderEvent::TrackingSent { .. } => "TrackingSent",
            ShopOrderEvent::DocumentNumberSent { .. } => "DocumentNumberSent",
            ShopOrderEvent::DeliveryDateSent { .. } => "DeliveryDateSent",
            ShopOrderEvent::InvoiceSent { .. } => "InvoiceSent",
        }
        .into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopOrderCommand {
    /// Record the transfer (idempotent for the same document).
    RecordTransfer {
        /// Profile.
        profile_id: String,
        /// Shop order id.
        order_id: String,
        /// Shop order reference.
        order_reference: String,
        /// ERP document number.
        document_number: String,
        /// ERP document type.
        kind: DocumentKind,
        /// Run.
        run_id: Option<String>,
    },
    /// Reset the transfer.
    Reset {
        /// Why.
        reason: String,
    },
    /// Record what an order-status update sent (only what differs from the state is
    /// recorded, so a replayed step adds nothing).
    RecordUpdate {
        /// What was sent.
        plan: UpdatePlan,
        /// Run.
        run_id: Option<String>,
    },
    /// Record an attached invoice PDF (idempotent per invoice number).
    RecordInvoice {
        /// ERP invoice number.
        invoice_number: String,
        /// PDF size.
        bytes: u64,
        /// Run.
        run_id: Option<String>,
    },
}

/// Refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopOrderRefusal {
    /// Reset of an order that is not transferred.
    #[error("commande non transférée : rien à réinitialiser (order not transferred)")]
    NotTransferred,
    /// A reset needs a reason.
    #[error("une raison est obligatoire pour réinitialiser (a reason is required)")]
    ReasonRequired,
}

/// Folded state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopOrderState {
    /// Profile.
    pub profile_id: String,
    /// Shop order id.
    pub order_id: String,
    /// Current document, when transferred.
    pub document_number: Option<String>,
    /// Resets so far.
    pub resets: u32,
    /// What was sent back to the shop since the transfer.
    #[serde(default)]
    pub sent: SentState,
}

impl Decider for ShopOrderState {
    type Command = ShopOrderCommand;
    type Event = ShopOrderEvent;
    type Refusal = ShopOrderRefusal;
    const TYPE: &'static str = "ShopOrder";

    fn decide(&self, cmd: ShopOrderCommand) -> Result<Vec<ShopOrderEvent>, ShopOrderRefusal> {
        match cmd {
            ShopOrderCommand::RecordTransfer {
                profile_id,
                order_id,
                order_reference,
                document_number,
                kind,
                run_id,
            } => {
                if self.document_number.as_deref() == Some(document_number.as_str()) {
                    return Ok(vec![]);
                }
                Ok(vec![ShopOrderEvent::OrderTransferred {
                    profile_id,
                    order_id,
                    order_reference,
                    document_number,
                    kind,
                    run_id,
                }])
            }
            ShopOrderCommand::Reset { reason } => {
                if reason.trim().is_empty() {
                    return Err(ShopOrderRefusal::ReasonRequired);
                }
                let Some(doc) = &self.document_number else {
                    return Err(ShopOrderRefusal::NotTransferred);
                };
                Ok(vec![ShopOrderEvent::TransferReset {
                    profile_id: self.profile_id.clone(),
                    order_id: self.order_id.clone(),
                    document_number: doc.clone(),
                    reason,
                }])
            }
            ShopOrderCommand::RecordUpdate { plan, run_id } => {
                if self.document_number.is_none() {
                    return Err(ShopOrderRefusal::NotTransferred);
                }
                Ok(self.update_events(plan, run_id))
            }
            ShopOrderCommand::RecordInvoice {
                invoice_number,
                bytes,
                run_id,
            } => {
                if self.document_number.is_none() {
                    return Err(ShopOrderRefusal::NotTransferred);
                }
                if self.sent.invoices.contains(&invoice_number) {
                    return Ok(vec![]);
                }
                Ok(vec![ShopOrderEvent::InvoiceSent {
                    profile_id: self.profile_id.clone(),
                    order_id: self.order_id.clone(),
                    invoice_number,
                    bytes,
                    run_id,
                }])
            }
        }
    }

    fn apply_event(&mut self, e: &ShopOrderEvent) {
        match e {
            ShopOrderEvent::OrderTransferred {
                profile_id,
                order_id,
                document_number,
                kind,
                ..
            } => {
                self.profile_id = profile_id.clone();
                self.order_id = order_id.clone();
                self.document_number = Some(document_number.clone());
                // The import itself put the order at this document type (its status rule
                // set the shop status, its write-back sent the number): updates start there.
                self.sent.stage = Some(*kind);
                self.sent.document_number = Some(document_number.clone());
            }
            ShopOrderEvent::TransferReset { .. } => {
                self.document_number = None;
                self.resets += 1;
                // A reset order is imported again under a new document: its updates start over.
                self.sent = SentState::default();
            }
            ShopOrderEvent::OrderStatusSent { kind, .. } => self.sent.stage = Some(*kind),
            ShopOrderEvent::TrackingSent { number, .. } => {
                self.sent.tracking = Some(number.clone())
            }
            ShopOrderEvent::DocumentNumberSent { number, .. } => {
                self.sent.document_number = Some(number.clone())
            }
            ShopOrderEvent::DeliveryDateSent { date, .. } => self.sent.delivery_date = Some(*date),
            ShopOrderEvent::InvoiceSent { invoice_number, .. } => {
                self.sent.invoices.push(invoice_number.clone())
            }
        }
    }
}

impl ShopOrderState {
    /// The events of an update: each part only when it changes something (forward only for
    /// the document type).
    fn update_events(&self, plan: UpdatePlan, run_id: Option<String>) -> Vec<ShopOrderEvent> {
        let (profile_id, order_id) = (self.profile_id.clone(), self.order_id.clone());
        let mut ev = Vec::new();
        if let Some((kind, document_number, state_id)) = plan.stage {
            if self.sent.stage.is_none_or(|s| kind > s) {
                ev.push(ShopOrderEvent::OrderStatusSent {
                    profile_id: profile_id.clone(),
                    order_id: order_id.clone(),
                    kind,
                    document_number,
                    state_id,
                    run_id: run_id.clone(),
                });
            }
        }
        if let Some((number, state_id)) = plan.tracking {
            if self.sent.tracking.as_deref() != Some(number.as_str()) {
                ev.push(ShopOrderEvent::TrackingSent {
                    profile_id: profile_id.clone(),
                    order_id: order_id.clone(),
                    number,
                    state_id,
                    run_id: run_id.clone(),
                });
            }
        }
        if let Some((number, replaced_reference)) = plan.document_number {
            if self.sent.document_number.as_deref() != Some(number.as_str()) {
                ev.push(ShopOrderEvent::DocumentNumberSent {
                    profile_id: profile_id.clone(),
                    order_id: order_id.clone(),
                    number,
                    replaced_reference,
                    run_id: run_id.clone(),
                });
            }
        }
        if let Some(date) = plan.delivery_date {
            if self.sent.delivery_date != Some(date) {
                ev.push(ShopOrderEvent::DeliveryDateSent {
                    profile_id,
                    order_id,
                    date,
                    run_id,
                });
            }
        }
        ev
    }
}

/// The aggregate id of a shop order of a profile.
pub fn shop_order_id(profile_id: &str, order_id: &str) -> String {
    format!("{profile_id}:{order_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(doc: &str) -> ShopOrderCommand {
        ShopOrderCommand::RecordTransfer {
            profile_id: "p".into(),
            order_id: "12".into(),
            order_reference: "ABC".into(),
            document_number: doc.into(),
            kind: DocumentKind::Order,
            run_id: None,
        }
    }

    #[test]
    fn recording_the_same_document_twice_is_one_event() {
        let mut s = ShopOrderState::default();
        let ev = s.decide(record("CM1")).unwrap_or_default();
        assert_eq!(ev.len(), 1);
        s.apply_event(&ev[0]);
        assert!(s.decide(record("CM1")).unwrap_or_default().is_empty());
    }

    #[test]
    fn reset_needs_a_transfer_and_a_reason_then_allows_a_new_transfer() {
        let mut s = ShopOrderState::default();
        assert_eq!(
            s.decide(ShopOrderCommand::Reset { reason: "x".into() }),
            Err(ShopOrderRefusal::NotTransferred)
        );
        let ev = s.decide(record("CM1")).unwrap_or_default();
        s.apply_event(&ev[0]);
        assert_eq!(
            s.decide(ShopOrderCommand::Reset { reason: " ".into() }),
            Err(ShopOrderRefusal::ReasonRequired)
        );
        let ev = s
            .decide(ShopOrderCommand::Reset {
                reason: "doublon supprimé".into(),
            })
            .unwrap_or_default();
        assert_eq!(ev.len(), 1);
        s.apply_event(&ev[0]);
        assert_eq!(s.document_number, None);
        assert_eq!(s.decide(record("CM1")).unwrap_or_default().len(), 1);
    }
}
