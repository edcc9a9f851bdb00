//! The `ShopOrder` aggregate (id: `profile:shop order id`): whether a shop order is in the
//! ERP, under which document, and the support resets that make it importable again
//! (FEATURES §8). The `transferred_orders` projection is fed by its events.

use crate::decider::Decider;
use crate::orders::DocumentKind;
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
}

impl DomainEvent for ShopOrderEvent {
    fn event_type(&self) -> String {
        match self {
            ShopOrderEvent::OrderTransferred { .. } => "OrderTransferred",
            ShopOrderEvent::TransferReset { .. } => "TransferReset",
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
        }
    }

    fn apply_event(&mut self, e: &ShopOrderEvent) {
        match e {
            ShopOrderEvent::OrderTransferred {
                profile_id,
                order_id,
                document_number,
                ..
            } => {
                self.profile_id = profile_id.clone();
                self.order_id = order_id.clone();
                self.document_number = Some(document_number.clone());
            }
            ShopOrderEvent::TransferReset { .. } => {
                self.document_number = None;
                self.resets += 1;
            }
        }
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
