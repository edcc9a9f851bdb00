//! Reconciliation of the shop with the ERP (issue 17.4), pure: what the shop holds over a
//! window, what our ledger says was transferred, and the sale documents the ERP holds for
//! those web orders → the findings a merchant must look at, each with its evidence.
//!
//! The reads (shop pages, ERP `SaleDocument` batches, `EbpSysDeletedRecord`) are done by the
//! caller; this module only compares. Five kinds of finding:
//! * **missing** — an order of a selected status has no ERP document and no transfer link;
//! * **duplicate** — two imported documents carry the same web order number
//!   (`xx_atoosync_order`); documents transformed from another (`OriginDocumentNumber`) are
//!   the same sale's later stages, not duplicates, and the caller leaves them out;
//! * **total mismatch** — the document's total incl. tax differs from the shop's amount paid
//!   by more than the allowed gap;
//! * **deleted document** — our ledger links the order to a document the ERP no longer has;
//! * **absent from the shop** — an order we transferred that the shop no longer returns.

use super::DocumentKind;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One shop order as read for the reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSide {
    /// Shop order id (the web order number of its ERP document).
    pub id: String,
    /// Shop reference (or the id when unreadable).
    pub reference: String,
    /// Shop status id (None when the order could not be read).
    pub state_id: Option<String>,
    /// Creation date, when read.
    pub created_at: Option<DateTime<Utc>>,
    /// Amount paid incl. tax, when read.
    pub total_tax_incl: Option<Decimal>,
    /// Why the order could not be read, if so.
    pub unreadable: Option<String>,
}

/// A transfer link of our ledger (`OrderTransferred`, not reset since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSide {
    /// Shop order id.
    pub order_id: String,
    /// Shop reference.
    pub order_reference: String,
    /// ERP document number recorded.
    pub document_number: String,
    /// When it was recorded (RFC 3339).
    pub transferred_at: String,
}

/// An imported ERP sale document holding a web order number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpSide {
    /// `xx_atoosync_order`.
    pub web_order: String,
    /// `DocumentNumber`.
    pub number: String,
    /// Type.
    pub kind: DocumentKind,
    /// `AmountVatIncluded` (None when not read, e.g. from our own records).
    pub total_tax_incl: Option<Decimal>,
}

/// What the comparison reads.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileInput<'a> {
    /// Shop orders of the window (every status read).
    pub shop: &'a [ShopSide],
    /// The profile's selected statuses (orders the import must transfer).
    pub selected_states: &'a BTreeSet<String>,
    /// Ledger links in scope (orders of the window, or transferred in it).
    pub links: &'a [LedgerSide],
    /// ERP documents of those web orders.
    pub documents: &'a [ErpSide],
    /// The shop was read live over the window: an order it did not return is absent.
    pub shop_is_complete: bool,
    /// Allowed gap between the shop's amount paid and the document's total.
    pub tolerance: Decimal,
    /// Deletions recorded by the ERP (`EbpSysDeletedRecord`) since the earliest link whose
    /// document is gone, shown as evidence.
    pub deletions_recorded: Option<u32>,
}

/// The kind of a finding (stable kebab-case names in `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// No ERP document for an order of a selected status.
    MissingInErp,
    /// Two imported documents for one web order.
    Duplicate,
    /// The totals differ beyond the allowed gap.
    TotalMismatch,
    /// The ledger links a document the ERP no longer has.
    DeletedDocument,
    /// Transferred, but the shop no longer returns the order.
    AbsentFromShop,
}

impl FindingKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MissingInErp => "missing-in-erp",
            FindingKind::Duplicate => "duplicate",
            FindingKind::TotalMismatch => "total-mismatch",
            FindingKind::DeletedDocument => "deleted-document",
            FindingKind::AbsentFromShop => "absent-from-shop",
        }
    }

    /// French label shown to merchants.
    pub fn label_fr(self) -> &'static str {
        match self {
            FindingKind::MissingInErp => "absente de l'ERP",
            FindingKind::Duplicate => "doublon dans l'ERP",
            FindingKind::TotalMismatch => "montants différents",
            FindingKind::DeletedDocument => "document supprimé dans l'ERP",
            FindingKind::AbsentFromShop => "absente de la boutique",
        }
    }
}

/// One finding with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What is wrong.
    pub kind: FindingKind,
    /// Shop order id.
    pub order_id: String,
    /// Shop reference.
    pub order_reference: String,
    /// ERP document numbers involved (the linked one first when there is one).
    pub documents: Vec<String>,
    /// Shop amount paid incl. tax, when known.
    pub shop_total: Option<Decimal>,
    /// ERP document total incl. tax, when known.
    pub erp_total: Option<Decimal>,
    /// The evidence in words (French).
    pub evidence: String,
}

/// The findings, sorted by order id (numeric ids in number order) then kind.
pub fn reconcile(input: &ReconcileInput<'_>) -> Vec<Finding> {
    let mut docs: BTreeMap<&str, Vec<&ErpSide>> = BTreeMap::new();
    for d in input.documents {
        let v = docs.entry(d.web_order.as_str()).or_default();
        if !v.iter().any(|x| x.number == d.number) {
            v.push(d);
        }
    }
    let links: BTreeMap<&str, &LedgerSide> = input
        .links
        .iter()
        .map(|l| (l.order_id.as_str(), l))
        .collect();
    let shop_ids: BTreeSet<&str> = input.shop.iter().map(|s| s.id.as_str()).collect();
    let mut out = Vec::new();
    for s in input.shop {
        let found = docs.get(s.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let link = links.get(s.id.as_str()).copied();
        let selected = match &s.state_id {
            Some(state) => input.selected_states.contains(state),
            // Unreadable: it was returned by a read of the selected statuses.
            None => true,
        };
        if found.is_empty() && link.is_none() && selected {
            let why = match &s.unreadable {
                Some(r) => format!("commande illisible dans la boutique ({r}), jamais transférée"),
                None => format!(
                    "statut {} sélectionné, aucun document dans l'ERP (xx_atoosync_order = {}) et aucun transfert enregistré",
                    s.state_id.as_deref().unwrap_or("?"),
                    s.id
                ),
            };
            out.push(finding(FindingKind::MissingInErp, s, Vec::new(), None, why));
        }
        if found.len() > 1 {
            let mut numbers: Vec<String> = found.iter().map(|d| d.number.clone()).collect();
            if let Some(l) = link {
                // The linked document first: it is the one the shop was told about.
                numbers.sort_by_key(|n| *n != l.document_number);
            }
            let why = format!(
                "{} documents importés portent la commande web {} : {}",
                found.len(),
                s.id,
                numbers.join(", ")
            );
            out.push(finding(FindingKind::Duplicate, s, numbers, None, why));
        }
        // The total of the linked document (or of the only one).
        let compared = link
            .and_then(|l| found.iter().find(|d| d.number == l.document_number))
            .or_else(|| found.first().filter(|_| found.len() == 1));
        if let (Some(d), Some(shop_total)) = (compared, s.total_tax_incl) {
            if let Some(erp_total) = d.total_tax_incl {
                let gap = (erp_total - shop_total).abs();
                if gap > input.tolerance {
                    let why = format!(
                        "payé dans la boutique {shop_total}, total TTC du document {} : {erp_total} (écart {gap}, toléré {})",
                        d.number, input.tolerance
                    );
                    let mut f = finding(
                        FindingKind::TotalMismatch,
                        s,
                        vec![d.number.clone()],
                        Some(erp_total),
                        why,
                    );
                    f.shop_total = Some(shop_total);
                    out.push(f);
                }
            }
        }
    }
    for l in input.links {
        let found = docs
            .get(l.order_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if !found.iter().any(|d| d.number == l.document_number) {
            let mut numbers = vec![l.document_number.clone()];
            numbers.extend(found.iter().map(|d| d.number.clone()));
            let deletions = input
                .deletions_recorded
                .map(|n| format!(" ; {n} suppression(s) enregistrée(s) par l'ERP (EbpSysDeletedRecord) depuis le premier transfert disparu"))
                .unwrap_or_default();
            let why = format!(
                "transférée le {} vers le document {}, introuvable dans l'ERP{deletions}",
                l.transferred_at, l.document_number
            );
            out.push(Finding {
                kind: FindingKind::DeletedDocument,
                order_id: l.order_id.clone(),
                order_reference: l.order_reference.clone(),
                documents: numbers,
                shop_total: None,
                erp_total: None,
                evidence: why,
            });
        }
        if input.shop_is_complete && !shop_ids.contains(l.order_id.as_str()) {
            let why = format!(
                "transférée le {} (document {}) mais absente de la boutique sur la période : supprimée, ou sortie des statuts suivis",
                l.transferred_at, l.document_number
            );
            out.push(Finding {
                kind: FindingKind::AbsentFromShop,
                order_id: l.order_id.clone(),
                order_reference: l.order_reference.clone(),
                documents: vec![l.document_number.clone()],
                shop_total: None,
                erp_total: None,
                evidence: why,
            });
        }
    }
    out.sort_by(|a, b| (id_key(&a.order_id), a.kind).cmp(&(id_key(&b.order_id), b.kind)));
    out
}

fn id_key(id: &str) -> (u64, &str) {
    (id.parse().unwrap_or(u64::MAX), id)
}

fn finding(
    kind: FindingKind,
    s: &ShopSide,
    documents: Vec<String>,
    erp_total: Option<Decimal>,
    evidence: String,
) -> Finding {
    Finding {
        kind,
        order_id: s.id.clone(),
        order_reference: s.reference.clone(),
        documents,
        shop_total: s.total_tax_incl,
        erp_total,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn shop(id: &str, state: &str, total: Decimal) -> ShopSide {
        ShopSide {
            id: id.into(),
            reference: format!("REF{id}"),
            state_id: Some(state.into()),
            created_at: None,
            total_tax_incl: Some(total),
            unreadable: None,
        }
    }

    fn link(id: &str, number: &str) -> LedgerSide {
        LedgerSide {
            order_id: id.into(),
            order_reference: format!("REF{id}"),
            document_number: number.into(),
            transferred_at: "2026-03-01T10:00:00Z".into(),
        }
    }

    fn doc(id: &str, number: &str, total: Decimal) -> ErpSide {
        ErpSide {
            web_order: id.into(),
            number: number.into(),
            kind: DocumentKind::Order,
            total_tax_incl: Some(total),
        }
    }

    fn run(
        shop: &[ShopSide],
        links: &[LedgerSide],
        docs: &[ErpSide],
        complete: bool,
    ) -> Vec<(String, FindingKind)> {
        let states: BTreeSet<String> = ["2".to_string()].into();
        reconcile(&ReconcileInput {
            shop,
            selected_states: &states,
            links,
            documents: docs,
            shop_is_complete: complete,
            tolerance: dec!(0.01),
            deletions_recorded: Some(1),
        })
        .into_iter()
        .map(|f| (f.order_id, f.kind))
        .collect()
    }

    #[test]
    fn given_a_world_in_agreement_when_reconciled_then_nothing_is_found() {
        let s = [shop("1", "2", dec!(12.00)), shop("2", "6", dec!(5))];
        let l = [link("1", "CO1")];
        let d = [doc("1", "CO1", dec!(12.00))];
        assert!(run(&s, &l, &d, true).is_empty());
    }

    #[test]
    fn given_one_of_each_anomaly_when_reconciled_then_each_is_named_once() {
        let s = [
            shop("1", "2", dec!(10)), // missing
            shop("2", "2", dec!(20)), // duplicate
            shop("3", "2", dec!(30)), // mismatch
            shop("4", "2", dec!(40)), // deleted
            shop("5", "6", dec!(50)), // unselected status: not missing
        ];
        let l = [
            link("2", "CO2"),
            link("3", "CO3"),
            link("4", "CO4"),
            link("9", "CO9"),
        ];
        let d = [
            doc("2", "CO2", dec!(20)),
            doc("2", "CO7", dec!(20)),
            doc("3", "CO3", dec!(30.50)),
            doc("9", "CO9", dec!(1)),
        ];
        assert_eq!(
            run(&s, &l, &d, true),
            vec![
                ("1".into(), FindingKind::MissingInErp),
                ("2".into(), FindingKind::Duplicate),
                ("3".into(), FindingKind::TotalMismatch),
                ("4".into(), FindingKind::DeletedDocument),
                ("9".into(), FindingKind::AbsentFromShop),
            ]
        );
    }

    #[test]
    fn given_a_gap_within_tolerance_when_reconciled_then_no_mismatch() {
        let s = [shop("3", "2", dec!(30))];
        let l = [link("3", "CO3")];
        let d = [doc("3", "CO3", dec!(30.01))];
        assert!(run(&s, &l, &d, true).is_empty());
    }

    #[test]
    fn given_a_partial_shop_read_when_reconciled_then_absence_is_not_claimed() {
        let l = [link("9", "CO9")];
        let d = [doc("9", "CO9", dec!(1))];
        assert!(run(&[], &l, &d, false).is_empty());
    }

    #[test]
    fn given_a_duplicate_when_reconciled_then_the_linked_document_comes_first_with_evidence() {
        let s = [shop("2", "2", dec!(20))];
        let l = [link("2", "CO7")];
        let d = [doc("2", "CO2", dec!(20)), doc("2", "CO7", dec!(20))];
        let states: BTreeSet<String> = ["2".to_string()].into();
        let f = reconcile(&ReconcileInput {
            shop: &s,
            selected_states: &states,
            links: &l,
            documents: &d,
            shop_is_complete: true,
            tolerance: dec!(0.01),
            deletions_recorded: None,
        });
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].documents, vec!["CO7".to_string(), "CO2".to_string()]);
        assert!(f[0].evidence.contains("CO2, CO7") || f[0].evidence.contains("CO7, CO2"));
    }

    #[test]
    fn given_an_unreadable_order_when_reconciled_then_it_is_missing_with_the_reason() {
        let s = [ShopSide {
            id: "61".into(),
            reference: "61".into(),
            state_id: None,
            created_at: None,
            total_tax_incl: None,
            unreadable: Some("JSON coupé".into()),
        }];
        let states: BTreeSet<String> = ["2".to_string()].into();
        let f = reconcile(&ReconcileInput {
            shop: &s,
            selected_states: &states,
            links: &[],
            documents: &[],
            shop_is_complete: true,
            tolerance: dec!(0.01),
            deletions_recorded: None,
        });
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::MissingInErp);
        assert!(f[0].evidence.contains("JSON coupé"));
    }
}
