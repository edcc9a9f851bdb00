//! The plan of an order import (FEATURES §4), pure: shop orders + the profile's settings +
//! what the ERP already holds → ERP documents, customer records, the links to record, the
//! shop write-backs and every order's outcome. The `import-orders` workflow only does the IO
//! between the phases below (each phase is a journaled step's input or output) and
//! journals; the same plan serves pages of orders and the day documents of grouping.
//!
//! A page goes through:
//! 1. [`triage`] — unreadable, already transferred, unselected status or invalid orders get
//!    their outcome; the others are candidates;
//! 2. the ERP look-ups the candidates need ([`KnownItems::to_look_up`], customer keys);
//! 3. [`plan_documents`] — customer resolution and the document rules
//!    ([`super::build`]): documents to write, orders kept for their day document, failures;
//! 4. [`DocumentPlan::grant`] — the import quota granted; orders beyond it are ignored;
//! 5. [`DocumentPlan::batch`] the import, then [`DocumentPlan::settle`] with what the ERP
//!    answered → links to record, write-backs, outcomes;
//! 6. [`page_items`] and [`stock_references`] — the page's items, in page order, and the
//!    articles whose stock goes back to the shop.
//!
//! Day documents: [`GroupPlan::new`] merges the kept orders per day, then
//! [`GroupPlan::grant`] (a group is written whole or not at all) and [`GroupPlan::settle`].

use super::build::{self, BuildContext};
use super::customer::{self, code_to_write_back};
use super::grouping::{self, GroupedDocument};
use super::{
    CustomerRecord, CustomerResolution, DocumentKind, ErpCustomer, ErpDocument, ErpItem,
    OrderSettings, ShopOrder, StatusRule,
};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

/// One order of a page as the shop served it.
#[derive(Debug, Clone, Copy)]
pub enum PageOrder<'a> {
    /// A well-formed order.
    Read(&'a ShopOrder),
    /// An order the shop adapter could not read.
    Unreadable {
        /// Its id (or the best identification available).
        id: &'a str,
        /// Why.
        reason: &'a str,
    },
}

impl PageOrder<'_> {
    /// The order's id.
    pub fn id(&self) -> &str {
        match self {
            PageOrder::Read(o) => &o.id,
            PageOrder::Unreadable { id, .. } => id,
        }
    }

    /// The label of its item in the journal: the shop reference, or the id when unreadable.
    pub fn label(&self) -> &str {
        match self {
            PageOrder::Read(o) => &o.reference,
            PageOrder::Unreadable { id, .. } => id,
        }
    }
}

/// A document in the ERP holding a web order (found before the import, or just created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedDocument {
    /// The web order number (`xx_atoosync_order`): the order id, or a day document's key.
    pub web_order: String,
    /// ERP document number.
    pub number: String,
    /// Document type.
    pub kind: DocumentKind,
}

/// The ERP account number to write on a shop customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerCodeBack {
    /// Shop customer id.
    pub shop_customer_id: String,
    /// ERP account number.
    pub code: String,
}

/// What goes back to the shop for an order written (or found) in the ERP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBack {
    /// The ERP document.
    pub document: LinkedDocument,
    /// The ERP account the document went to (shown in the journal).
    pub customer_code: String,
    /// The account number to write on the shop customer, if any (once per customer and
    /// page; never a shared account).
    pub code_back: Option<CustomerCodeBack>,
    /// Shop status to set, if the status rule says so.
    pub set_state: Option<String>,
    /// The document was already in the ERP before this import (linked, not re-imported).
    pub already_there: bool,
    /// A day document holding several orders (grouping).
    pub day_document: bool,
}

impl WriteBack {
    /// The item's journal line once the write-backs are done.
    pub fn message(&self, order_id: &str) -> String {
        let what = if self.day_document {
            "document du jour"
        } else {
            "document"
        };
        let mut msg = format!(
            "commande {order_id} → {what} {} ({})",
            self.document.number, self.customer_code
        );
        if self.already_there {
            msg.push_str(" — déjà présent dans l'ERP, relié sans doublon");
        }
        msg
    }
}

/// What becomes of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    /// In the ERP: the shop gets the write-backs, then the item succeeds.
    Written(WriteBack),
    /// Fails with this reason.
    Failed(String),
    /// Ignored for this reason.
    Ignored(String),
    /// Kept for its day document (its outcome comes after the last page).
    Grouped,
}

/// The plan once the ERP answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Orders to record as transferred.
    pub links: Vec<Link>,
    /// Every order's outcome.
    pub outcomes: BTreeMap<String, OrderOutcome>,
    /// The items, for day documents (every kept order, by numeric id); empty for a page,
    /// whose items are [`page_items`].
    pub items: Vec<PlannedItem>,
}

/// An order to record as transferred (`OrderTransferred`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Shop order id.
    pub order_id: String,
    /// Shop order reference.
    pub order_reference: String,
    /// ERP document number.
    pub document_number: String,
    /// ERP document type.
    pub kind: DocumentKind,
}

/// What the ERP answered to an import: the documents holding the batch's web orders (found
/// before the import or created by it), the web orders found already there, and the
/// refusals by web order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportResult {
    /// Documents found or created.
    pub documents: Vec<LinkedDocument>,
    /// Web orders whose document was already in the ERP.
    pub already_there: BTreeSet<String>,
    /// Refused web orders and why.
    pub rejected: BTreeMap<String, String>,
}

/// ERP articles known so far in the run (found, or looked up and absent): each reference is
/// asked once per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownItems {
    /// Found, by code.
    pub items: BTreeMap<String, ErpItem>,
    /// Looked up and absent.
    pub unknown: BTreeSet<String>,
}

impl KnownItems {
    /// The references of these orders not asked yet, sorted.
    pub fn to_look_up(&self, orders: &[&ShopOrder]) -> Vec<String> {
        orders
            .iter()
            .flat_map(|o| o.lines.iter().map(|l| l.reference.clone()))
            .filter(|r| !self.items.contains_key(r) && !self.unknown.contains(r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Records the answer to a look-up of `asked`.
    pub fn learn(&mut self, asked: Vec<String>, found: Vec<ErpItem>) {
        for it in found {
            self.items.insert(it.id.clone(), it);
        }
        for r in asked {
            if !self.items.contains_key(&r) {
                self.unknown.insert(r);
            }
        }
    }
}

/// The page after triage.
#[derive(Debug, Clone)]
pub struct Triage<'o> {
    /// Orders that go on to the document rules, in page order.
    pub candidates: Vec<&'o ShopOrder>,
    /// Outcomes already decided.
    pub outcomes: BTreeMap<String, OrderOutcome>,
}

fn status_rule<'s>(settings: &'s OrderSettings, state: &str) -> Option<&'s StatusRule> {
    settings.statuses.iter().find(|r| r.state_id == state)
}

/// Phase 1: the orders that cannot go further get their outcome — unreadable (failed),
/// already transferred (ignored: the ledger is the truth), status not selected (ignored),
/// invalid data (failed, every problem listed).
pub fn triage<'o>(
    orders: &[PageOrder<'o>],
    transferred: &BTreeSet<String>,
    settings: &OrderSettings,
) -> Triage<'o> {
    let mut t = Triage {
        candidates: Vec::new(),
        outcomes: BTreeMap::new(),
    };
    for o in orders {
        match *o {
            PageOrder::Unreadable { id, reason } => {
                t.outcomes
                    .insert(id.to_string(), OrderOutcome::Failed(reason.to_string()));
            }
            PageOrder::Read(order) if transferred.contains(&order.id) => {
                t.outcomes.insert(
                    order.id.clone(),
                    OrderOutcome::Ignored("déjà transférée (already transferred)".into()),
                );
            }
            PageOrder::Read(order) if status_rule(settings, &order.state_id).is_none() => {
                t.outcomes.insert(
                    order.id.clone(),
                    OrderOutcome::Ignored(format!(
                        "statut {} non sélectionné (status not selected)",
                        order.state_id
                    )),
                );
            }
            PageOrder::Read(order) => match build::validate_order(order) {
                Ok(()) => t.candidates.push(order),
                Err(e) => {
                    t.outcomes
                        .insert(order.id.clone(), OrderOutcome::Failed(e.to_string()));
                }
            },
        }
    }
    t
}

/// What the document rules read besides the orders.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// The profile's settings.
    pub settings: &'a OrderSettings,
    /// ERP articles known, by code.
    pub items: &'a BTreeMap<String, ErpItem>,
    /// ERP customers found by the page's look-ups.
    pub customers: &'a [ErpCustomer],
    /// The day of the import (Europe/Paris).
    pub today: NaiveDate,
    /// Write the ERP account number back on shop customers.
    pub send_customer_code: bool,
}

/// A document to write for one order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDocument<'o> {
    /// The order.
    pub order: &'o ShopOrder,
    /// Its document.
    pub document: ErpDocument,
    /// The customer record to create or update first, if any.
    pub customer: Option<CustomerRecord>,
    /// The account number to write on the shop customer once the document is in, if any.
    pub code_back: Option<String>,
    /// Shop status to set once imported.
    pub set_state: Option<String>,
}

/// An order kept for its day document.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedOrder {
    /// Shop order id.
    pub id: String,
    /// Shop order reference.
    pub reference: String,
    /// Its day (Europe/Paris).
    pub day: NaiveDate,
    /// Its own document, merged into the day's.
    pub document: ErpDocument,
    /// Shop status to set once imported.
    pub set_state: Option<String>,
}

/// A page's documents before the import.
#[derive(Debug, Clone)]
pub struct DocumentPlan<'o> {
    /// Documents to write, in page order.
    pub to_write: Vec<PlannedDocument<'o>>,
    /// Orders kept for their day document.
    pub grouped: Vec<GroupedOrder>,
    /// Outcomes decided so far (triage, failures, grouping, quota).
    pub outcomes: BTreeMap<String, OrderOutcome>,
}

/// Phase 3: the candidates' customers and documents. An order whose document cannot be
/// built fails with the reason; an order grouped per day is kept aside, or ignored until its
/// day has ended.
pub fn plan_documents<'o>(triage: Triage<'o>, cx: &PlanContext<'_>) -> DocumentPlan<'o> {
    let s = cx.settings;
    let mut plan = DocumentPlan {
        to_write: Vec::new(),
        grouped: Vec::new(),
        outcomes: triage.outcomes,
    };
    for order in triage.candidates {
        let Some(status) = status_rule(s, &order.state_id) else {
            continue;
        };
        let resolution = customer::resolve_customer(order, s, cx.customers);
        let bcx = BuildContext {
            settings: s,
            status,
            customer: &resolution,
            items: cx.items,
            today: cx.today,
        };
        let document = match build::build_document(order, &bcx) {
            Ok(d) => d,
            Err(e) => {
                plan.outcomes
                    .insert(order.id.clone(), OrderOutcome::Failed(e.to_string()));
                continue;
            }
        };
        if let Some(g) = s.grouping.as_ref().filter(|g| g.applies_to(order)) {
            let day = g.day_of(order);
            if day >= cx.today {
                plan.outcomes.insert(
                    order.id.clone(),
                    OrderOutcome::Ignored(format!(
                        "regroupement par jour : la journée du {} n'est pas terminée, commande reprise demain (day not ended yet)",
                        day.format("%d/%m/%Y")
                    )),
                );
            } else {
                plan.grouped.push(GroupedOrder {
                    id: order.id.clone(),
                    reference: order.reference.clone(),
                    day,
                    document,
                    set_state: status.set_shop_state.clone(),
                });
                plan.outcomes
                    .insert(order.id.clone(), OrderOutcome::Grouped);
            }
            continue;
        }
        let customer = match resolution {
            CustomerResolution::New(r) => Some(r),
            CustomerResolution::Existing { update, .. } => update,
        };
        let code_back =
            code_to_write_back(order, s, &document.customer_code).filter(|_| cx.send_customer_code);
        plan.to_write.push(PlannedDocument {
            order,
            document,
            customer,
            code_back,
            set_state: status.set_shop_state.clone(),
        });
    }
    plan
}

const QUOTA_EXHAUSTED: &str = "quota épuisé (quota exhausted)";

impl<'o> DocumentPlan<'o> {
    /// How many import units the page's documents need (one per order).
    pub fn units_wanted(&self) -> u32 {
        self.to_write.len() as u32
    }

    /// Phase 4: `granted` units were reserved; the documents beyond them are not written and
    /// their orders are ignored with `why` (*quota épuisé* by default).
    pub fn grant(&mut self, granted: u32, why: Option<String>) {
        let granted = granted as usize;
        if granted >= self.to_write.len() {
            return;
        }
        let why = why.unwrap_or_else(|| QUOTA_EXHAUSTED.into());
        for d in self.to_write.drain(granted..) {
            self.outcomes.insert(
                d.document.atoosync_order.clone(),
                OrderOutcome::Ignored(why.clone()),
            );
        }
    }

    /// The import batch: customer records (each code once, first record wins) and the
    /// documents, in page order.
    pub fn batch(&self) -> (Vec<CustomerRecord>, Vec<ErpDocument>) {
        let mut customers: BTreeMap<String, CustomerRecord> = BTreeMap::new();
        for d in &self.to_write {
            if let Some(r) = &d.customer {
                customers.entry(r.code.clone()).or_insert_with(|| r.clone());
            }
        }
        let documents = self.to_write.iter().map(|d| d.document.clone()).collect();
        (customers.into_values().collect(), documents)
    }

    /// Phase 5: what the ERP answered. Each order whose document is there is linked (to
    /// record) and gets its write-backs — the ERP account number once per shop customer in
    /// the page (many orders share customers); the others fail with the ERP's reason.
    pub fn settle(mut self, result: &ImportResult) -> Settled {
        let by_order: BTreeMap<&str, &LinkedDocument> = result
            .documents
            .iter()
            .map(|d| (d.web_order.as_str(), d))
            .collect();
        let mut links = Vec::new();
        let mut coded: BTreeSet<&str> = BTreeSet::new();
        for d in &self.to_write {
            let order = d.order;
            let Some(doc) = by_order.get(order.id.as_str()) else {
                let reason = result
                    .rejected
                    .get(&order.id)
                    .cloned()
                    .unwrap_or_else(|| "document absent du retour de l'import ERP".into());
                self.outcomes.insert(
                    order.id.clone(),
                    OrderOutcome::Failed(format!("refusée par l'ERP : {reason}")),
                );
                continue;
            };
            let code_back = d
                .code_back
                .as_ref()
                .filter(|_| coded.insert(order.customer.id.as_str()))
                .map(|code| CustomerCodeBack {
                    shop_customer_id: order.customer.id.clone(),
                    code: code.clone(),
                });
            links.push(Link {
                order_id: order.id.clone(),
                order_reference: order.reference.clone(),
                document_number: doc.number.clone(),
                kind: doc.kind,
            });
            self.outcomes.insert(
                order.id.clone(),
                OrderOutcome::Written(WriteBack {
                    document: (*doc).clone(),
                    customer_code: d.document.customer_code.clone(),
                    code_back,
                    set_state: d.set_state.clone(),
                    already_there: result.already_there.contains(&order.id),
                    day_document: false,
                }),
            );
        }
        Settled {
            links,
            outcomes: self.outcomes,
            items: Vec::new(),
        }
    }
}

/// One item of the journal: its key (order id) and label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedItem {
    /// The order id.
    pub id: String,
    /// The shop reference (the id for an unreadable order).
    pub label: String,
}

/// Phase 6: the page's items, in page order; orders kept for a day document are not items
/// of the page (they are items of the day documents, after the last page).
pub fn page_items(
    orders: &[PageOrder<'_>],
    outcomes: &BTreeMap<String, OrderOutcome>,
) -> Vec<PlannedItem> {
    orders
        .iter()
        .filter(|o| !matches!(outcomes.get(o.id()), Some(OrderOutcome::Grouped)))
        .map(|o| PlannedItem {
            id: o.id().to_string(),
            label: o.label().to_string(),
        })
        .collect()
}

/// The ERP articles of the page's written orders, whose stock goes back to the shop.
pub fn stock_references(
    orders: &[PageOrder<'_>],
    outcomes: &BTreeMap<String, OrderOutcome>,
    known: &KnownItems,
) -> BTreeSet<String> {
    orders
        .iter()
        .filter_map(|o| match o {
            PageOrder::Read(x) => Some(*x),
            PageOrder::Unreadable { .. } => None,
        })
        .filter(|o| matches!(outcomes.get(&o.id), Some(OrderOutcome::Written(_))))
        .flat_map(|o| o.lines.iter().map(|l| l.reference.clone()))
        .filter(|r| known.items.contains_key(r))
        .collect()
}

/// The day documents of the orders kept aside during the pages.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    /// The account of the day documents.
    account: String,
    /// Per order: its reference and the shop status to set.
    meta: BTreeMap<String, (String, Option<String>)>,
    /// Groups not decided yet, then the groups to write (after [`GroupPlan::grant`]).
    groups: Vec<GroupedDocument>,
    /// Outcomes decided so far.
    outcomes: BTreeMap<String, OrderOutcome>,
    /// Units wanted: one per order.
    wanted: u32,
}

impl GroupPlan {
    /// Merges the kept orders into day documents ([`grouping::group_documents`]). A group
    /// whose total cannot equal what its orders paid fails whole with the reason. `None`
    /// without grouping settings.
    pub fn new(grouped: Vec<GroupedOrder>, settings: &OrderSettings) -> Option<GroupPlan> {
        let g = settings.grouping.as_ref()?;
        let meta = grouped
            .iter()
            .map(|o| (o.id.clone(), (o.reference.clone(), o.set_state.clone())))
            .collect();
        let groups = grouping::group_documents(
            g,
            settings,
            grouped
                .into_iter()
                .map(|o| (o.id, o.day, o.document))
                .collect(),
        );
        let wanted = groups.iter().map(|x| x.orders.len() as u32).sum();
        Some(GroupPlan {
            account: g.account.clone(),
            meta,
            groups,
            outcomes: BTreeMap::new(),
            wanted,
        })
    }

    /// Import units wanted: one per order of every group.
    pub fn units_wanted(&self) -> u32 {
        self.wanted
    }

    /// `granted` units were reserved: groups are taken in day order while they fit whole;
    /// the orders of a group that does not fit are ignored with `why`; a refused group fails.
    pub fn grant(&mut self, granted: u32, why: Option<String>) {
        let mut room = granted as usize;
        let why = why.unwrap_or_else(|| QUOTA_EXHAUSTED.into());
        let mut kept = Vec::new();
        for grp in std::mem::take(&mut self.groups) {
            match &grp.document {
                Err(reason) => {
                    for o in &grp.orders {
                        self.outcomes.insert(
                            o.clone(),
                            OrderOutcome::Failed(format!("document du jour refusé : {reason}")),
                        );
                    }
                }
                Ok(_) if grp.orders.len() <= room => {
                    room -= grp.orders.len();
                    kept.push(grp);
                }
                Ok(_) => {
                    for o in &grp.orders {
                        self.outcomes
                            .insert(o.clone(), OrderOutcome::Ignored(why.clone()));
                    }
                }
            }
        }
        self.groups = kept;
    }

    /// The day documents to import (after [`GroupPlan::grant`]).
    pub fn documents(&self) -> Vec<ErpDocument> {
        self.groups
            .iter()
            .filter_map(|g| g.document.as_ref().ok().cloned())
            .collect()
    }

    /// What the ERP answered: every order of a day document that is there is linked to it
    /// and gets its write-backs (no account number: the day account is shared); the orders
    /// of a refused one fail with the ERP's reason.
    pub fn settle(mut self, result: &ImportResult) -> Settled {
        let by_key: BTreeMap<&str, &LinkedDocument> = result
            .documents
            .iter()
            .map(|d| (d.web_order.as_str(), d))
            .collect();
        let mut links = Vec::new();
        for grp in &self.groups {
            let Ok(document) = &grp.document else {
                continue;
            };
            let key = &document.atoosync_order;
            match by_key.get(key.as_str()) {
                Some(d) => {
                    for o in &grp.orders {
                        let (reference, set_state) = self.meta.get(o).cloned().unwrap_or_default();
                        links.push(Link {
                            order_id: o.clone(),
                            order_reference: reference,
                            document_number: d.number.clone(),
                            kind: d.kind,
                        });
                        self.outcomes.insert(
                            o.clone(),
                            OrderOutcome::Written(WriteBack {
                                document: (*d).clone(),
                                customer_code: self.account.clone(),
                                code_back: None,
                                set_state,
                                already_there: false,
                                day_document: true,
                            }),
                        );
                    }
                }
                None => {
                    let why = result
                        .rejected
                        .get(key)
                        .cloned()
                        .unwrap_or_else(|| "document absent du retour de l'import ERP".into());
                    for o in &grp.orders {
                        self.outcomes.insert(
                            o.clone(),
                            OrderOutcome::Failed(format!(
                                "document du jour refusé par l'ERP : {why}"
                            )),
                        );
                    }
                }
            }
        }
        // Every kept order is an item, by numeric id.
        let mut items: Vec<PlannedItem> = self
            .meta
            .iter()
            .map(|(id, (reference, _))| PlannedItem {
                id: id.clone(),
                label: reference.clone(),
            })
            .collect();
        items.sort_by_key(|i| (i.id.parse::<u64>().unwrap_or(u64::MAX), i.id.clone()));
        Settled {
            links,
            outcomes: self.outcomes,
            items,
        }
    }
}
