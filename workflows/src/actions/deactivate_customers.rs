//! `deactivate-customers` (FEATURES §2): an ERP customer asleep or blocked (`ActiveState`
//! ≠ 0) has its shop account disabled (`active = 0`), and enabled again once it is no
//! longer. Never creates nor deletes: customers missing from the shop are ignored with a
//! log line. Accounts are found by e-mail, like the export; the incremental option reads
//! only customers modified since the last run of this action.

use super::catalog::next_offset;
use super::customers::{CustomerConnectors, CustomerIo};
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{Counter, CustomerRead, Quotas, Written};
use passerelle_domain::customer_export::{check_codes, is_valid_email, should_be_active};
use passerelle_domain::{ItemOutcome, SyncAction};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow.
pub struct DeactivateCustomers {
    connectors: Arc<dyn CustomerConnectors>,
    quotas: Arc<dyn Quotas>,
}

impl DeactivateCustomers {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn CustomerConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self { connectors, quotas }
    }
}

impl Workflow for DeactivateCustomers {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        Box::pin(async move {
            let io = CustomerIo::open(
                &ctx,
                &connectors,
                quotas,
                input,
                SyncAction::DeactivateCustomers,
            )
            .await?;
            let query = io.query(false, false);
            let mut seen = BTreeSet::new();
            let (mut offset, mut page_no) = (0u32, 0u32);
            loop {
                page_no += 1;
                let page = io.read_page(&query, offset).await?;
                if page.customers.is_empty() {
                    break;
                }
                process_page(&io, page_no, page.customers, &mut seen).await?;
                match next_offset(page.next_offset, offset) {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            io.summary("client(s)").await
        })
    }
}

async fn process_page(
    io: &CustomerIo,
    page_no: u32,
    customers: Vec<CustomerRead>,
    seen: &mut BTreeSet<String>,
) -> Result<(), RunError> {
    let keys: Vec<String> = customers.iter().map(|c| c.code().to_string()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; customers.len()];
    let (mut readable, mut positions) = (Vec::new(), Vec::new());
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
    let mut states: Vec<(usize, String, String, bool)> = Vec::new();
    for (j, c) in readable.into_iter().enumerate() {
        let i = positions[j];
        if let Some(e) = bad.get(&j) {
            outcome[i] = Some(ItemOutcome::Failed(e.to_string()));
            continue;
        }
        let email = c.email.trim().to_lowercase();
        if !is_valid_email(&email) {
            outcome[i] = Some(ItemOutcome::Ignored(format!(
                "client {} sans e-mail valide : introuvable dans la boutique (no valid e-mail)",
                c.code
            )));
            continue;
        }
        states.push((i, c.code, email, should_be_active(c.active_state)));
    }
    let reserved = (!states.is_empty()).then_some(Counter::Export);
    let (granted, why) = io.reserve(page_no, states.len(), Counter::Export).await?;
    if granted < states.len() {
        for (i, ..) in states.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0usize;
    if !states.is_empty() {
        let shop = io.shop.clone();
        let list: Vec<(String, String, bool)> = states
            .iter()
            .map(|(_, c, e, a)| (c.clone(), e.clone(), *a))
            .collect();
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_active", &io.p.shop, || async move {
                shop.set_customers_active(&list).await
            })
            .await?;
        let by_code: HashMap<String, Written> = written.into_iter().collect();
        for (i, code, _, active) in &states {
            let label = if *active {
                format!("client {code} actif (active)")
            } else {
                format!("client {code} désactivé (disabled)")
            };
            outcome[*i] = Some(match by_code.get(code) {
                Some(Written::Updated(id)) => {
                    used += 1;
                    ItemOutcome::Succeeded(Some(format!("{label} : mis à jour (compte {id})")))
                }
                Some(Written::Created(id) | Written::Unchanged(id)) => {
                    ItemOutcome::Succeeded(Some(format!("{label} : déjà à jour (compte {id})")))
                }
                Some(Written::Missing) => ItemOutcome::Ignored(format!(
                    "client {code} absent de la boutique : ni créé ni supprimé (not in shop)"
                )),
                Some(Written::Refused(r)) => {
                    ItemOutcome::Failed(format!("{label} : refusé par la boutique : {r}"))
                }
                None => ItemOutcome::Failed(format!(
                    "client {code} : absent de la réponse (not in the answer)"
                )),
            });
        }
    }
    io.finish_page(page_no, reserved, used, keys, outcome).await
}
