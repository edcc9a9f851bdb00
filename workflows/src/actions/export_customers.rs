//! `export-customers` and `export-new-customers` (FEATURES §2, §3.2): ERP customers (and
//! their contacts when asked) become shop accounts — created or updated, found by e-mail
//! and tied to their ERP code, with their group and addresses.
//!
//! Once per run: `erp_groups` + `shop_groups` when the profile maps groups (family or
//! price category label → shop group id; a group missing from the shop leaves the
//! customer in the default group, with a warning in its log line).
//!
//! Per ERP page (≤ 100 customers):
//!
//! 1. `read_customers` — the page (query filter and incremental date applied by the ERP,
//!    contacts read along in one batched query when contacts are exported);
//! 2. codes are checked (empty, padded, duplicated: that item fails, the run goes on);
//!    asleep/blocked customers and those without a valid e-mail are ignored with the
//!    reason (pure rules of `domain::customer_export`);
//! 3. `reserve_quota` — customers beyond the account's export units are ignored
//!    (*quota épuisé*) before anything is written;
//! 4. `write_customers` — idempotent (looked up by e-mail first, absolute values);
//! 5. `settle_quota`, then the page's item outcomes (one per ERP customer).

use super::catalog::next_offset;
use super::customers::{account_outcome, CustomerConnectors, CustomerIo};
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{Counter, CustomerRead, Quotas, Written};
use passerelle_domain::customer_export::{
    check_codes, customer_drafts, fit_customer, group_name_of, CustomerDraft, DraftsOutcome,
    ErpAccount, GroupSource,
};
use passerelle_domain::{ItemOutcome, SyncAction};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow (one type for both actions: "new customers" reads by creation date).
pub struct ExportCustomers {
    connectors: Arc<dyn CustomerConnectors>,
    quotas: Arc<dyn Quotas>,
    only_new: bool,
}

impl ExportCustomers {
    /// `export-customers`.
    pub fn new(connectors: Arc<dyn CustomerConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self {
            connectors,
            quotas,
            only_new: false,
        }
    }

    /// `export-new-customers`: only customers created since the last transfer of this
    /// action.
    pub fn only_new(connectors: Arc<dyn CustomerConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self {
            connectors,
            quotas,
            only_new: true,
        }
    }
}

/// ERP group label → shop group id, and the ERP id → label table.
struct Groups {
    labels: BTreeMap<String, String>,
    shop: HashMap<String, String>,
}

impl Workflow for ExportCustomers {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        let only_new = self.only_new;
        Box::pin(async move {
            let action = if only_new {
                SyncAction::ExportNewCustomers
            } else {
                SyncAction::ExportCustomers
            };
            let io = CustomerIo::open(&ctx, &connectors, quotas, input, action).await?;
            let s = &io.config.settings;
            let groups = read_groups(&io, s.groups_from).await?;
            let query = io.query(s.create_contacts, only_new);
            let mut seen = BTreeSet::new();
            let (mut offset, mut page_no) = (0u32, 0u32);
            loop {
                page_no += 1;
                let page = io.read_page(&query, offset).await?;
                if page.customers.is_empty() {
                    break;
                }
                process_page(&io, page_no, page.customers, &mut seen, &groups).await?;
                match next_offset(page.next_offset, offset) {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            io.summary("client(s)").await
        })
    }
}

async fn read_groups(io: &CustomerIo, source: GroupSource) -> Result<Groups, RunError> {
    if source == GroupSource::None {
        return Ok(Groups {
            labels: BTreeMap::new(),
            shop: HashMap::new(),
        });
    }
    let erp = io.erp.clone();
    let erp_groups = io
        .ctx
        .step("erp_groups", &io.p.read, || async move {
            erp.customer_groups(source).await
        })
        .await?;
    let shop = io.shop.clone();
    let shop_groups: Vec<(String, String)> = io
        .ctx
        .step(
            "shop_groups",
            &io.p.read,
            || async move { shop.groups().await },
        )
        .await?;
    Ok(Groups {
        labels: erp_groups.into_iter().map(|g| (g.id, g.name)).collect(),
        shop: shop_groups
            .into_iter()
            .map(|(name, id)| (name.trim().to_lowercase(), id))
            .collect(),
    })
}

async fn process_page(
    io: &CustomerIo,
    page_no: u32,
    customers: Vec<CustomerRead>,
    seen: &mut BTreeSet<String>,
    groups: &Groups,
) -> Result<(), RunError> {
    let s = &io.config.settings;
    let keys: Vec<String> = customers.iter().map(|c| c.code().to_string()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; customers.len()];
    let (mut readable, mut positions): (Vec<ErpAccount>, Vec<usize>) = (Vec::new(), Vec::new());
    for (i, c) in customers.into_iter().enumerate() {
        match c {
            CustomerRead::Ok(c) => {
                readable.push(*c);
                positions.push(i);
            }
            CustomerRead::Invalid { reason, .. } => outcome[i] = Some(ItemOutcome::Failed(reason)),
        }
    }
    let bad = check_codes(&readable, seen);
    let rules = io.shop.field_rules();
    let mut adapted: BTreeSet<usize> = BTreeSet::new();
    // (position, drafts, notes for the log)
    let mut plan: Vec<(usize, Vec<CustomerDraft>, Vec<String>)> = Vec::new();
    for (j, c) in readable.iter().enumerate() {
        let i = positions[j];
        if let Some(e) = bad.get(&j) {
            outcome[i] = Some(ItemOutcome::Failed(e.to_string()));
            continue;
        }
        let mut notes = Vec::new();
        let group = group_name_of(c, s.groups_from, &groups.labels).and_then(|name| {
            match groups.shop.get(&name.trim().to_lowercase()) {
                Some(id) => Some(id.clone()),
                None => {
                    notes.push(format!(
                        "groupe « {name} » absent de la boutique : groupe par défaut (group missing in shop: default group)"
                    ));
                    None
                }
            }
        });
        // No (found) group: the profile's default group.
        // No (found) group: the profile's default group, else the platform's own default.
        let group = group.or_else(|| s.default_group.clone().filter(|g| !g.is_empty()));
        match customer_drafts(c, s, group) {
            DraftsOutcome::Skip(reason) => outcome[i] = Some(ItemOutcome::Ignored(reason)),
            DraftsOutcome::Write(drafts, more) => {
                notes.extend(more);
                // The shop's field rules before anything is written (issue 21).
                let mut kept = Vec::new();
                let mut failed = None;
                let mut was_adapted = false;
                for mut d in drafts {
                    let who = match &d.contact {
                        Some(k) => format!("contact {k} : "),
                        None => String::new(),
                    };
                    match fit_customer(&mut d, &rules, &s.name_placeholder) {
                        Ok(w) => {
                            was_adapted |= !w.is_empty();
                            notes.extend(w.into_iter().map(|w| format!("{who}{w}")));
                            kept.push(d);
                        }
                        // A contact the shop would refuse stays out; the customer goes on.
                        Err(e) if d.contact.is_some() => {
                            notes.push(format!("{who}non créé : {e}"));
                        }
                        Err(e) => failed = Some(format!("client {} : {e}", d.erp_code)),
                    }
                }
                match failed {
                    Some(e) => outcome[i] = Some(ItemOutcome::Failed(e)),
                    None => {
                        if was_adapted {
                            adapted.insert(i);
                        }
                        plan.push((i, kept, notes));
                    }
                }
            }
        }
    }

    // Quota before writing: beyond the grant, ignored.
    let reserved = (!plan.is_empty()).then_some(Counter::Export);
    let (granted, why) = io.reserve(page_no, plan.len(), Counter::Export).await?;
    if granted < plan.len() {
        for (i, ..) in plan.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0usize;
    if !plan.is_empty() {
        let drafts: Vec<CustomerDraft> = plan.iter().flat_map(|(_, d, _)| d.clone()).collect();
        let (shop, create, update) = (io.shop.clone(), s.create_customers, s.update.clone());
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_customers", &io.p.shop, || async move {
                shop.upsert_customers(&drafts, create, &update).await
            })
            .await?;
        let by_key: HashMap<String, Written> = written.into_iter().collect();
        let missing = || Written::Refused("absent de la réponse (not in the answer)".into());
        for (i, drafts, notes) in &plan {
            let mut lines: Vec<String> = Vec::new();
            let mut main: Option<(Result<String, String>, bool)> = None;
            for d in drafts {
                let w = by_key.get(&d.key()).cloned().unwrap_or_else(missing);
                let what = match &d.contact {
                    Some(k) => format!("contact {k} <{}>", d.email),
                    None => format!("client {} <{}>", d.erp_code, d.email),
                };
                let (text, consumed) = account_outcome(&w, &what);
                if d.contact.is_none() {
                    main = Some((text, consumed));
                } else {
                    lines.push(text.unwrap_or_else(|e| e));
                }
            }
            lines.extend(notes.iter().cloned());
            let tail = if lines.is_empty() {
                String::new()
            } else {
                format!(" ; {}", lines.join(" ; "))
            };
            outcome[*i] = Some(match main {
                Some((Ok(msg), consumed)) => {
                    used += usize::from(consumed);
                    if adapted.contains(i) {
                        io.adapted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    ItemOutcome::Succeeded(Some(format!("{msg}{tail}")))
                }
                Some((Err(msg), _)) if msg.starts_with("absent de la boutique") => {
                    ItemOutcome::Ignored(format!("{msg}{tail}"))
                }
                Some((Err(msg), _)) => ItemOutcome::Failed(format!("{msg}{tail}")),
                None => ItemOutcome::Failed("client non traité (customer not handled)".into()),
            });
        }
    }
    io.finish_page(page_no, reserved, used, keys, outcome).await
}
