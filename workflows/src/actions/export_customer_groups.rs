//! `export-customer-groups` (FEATURES §2): shop customer groups from the ERP customer
//! families or price categories (the profile's choice), so that customers land in the
//! right group and group prices apply. Groups are looked up by name (any case) first:
//! never created twice; an existing group is left as the merchant set it.
//!
//! Steps: `erp_groups` (every family or price category, one batched read),
//! `reserve_quota`, `write_groups` (one shop look-up, then one create per missing group),
//! `settle_quota`, one item per ERP group.

use super::customers::{CustomerConnectors, CustomerIo};
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{Counter, Quotas, Written};
use passerelle_domain::customer_export::{GroupDraft, GroupSource};
use passerelle_domain::{ItemOutcome, SyncAction};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The workflow.
pub struct ExportCustomerGroups {
    connectors: Arc<dyn CustomerConnectors>,
    quotas: Arc<dyn Quotas>,
}

impl ExportCustomerGroups {
    /// A workflow over these ports.
    pub fn new(connectors: Arc<dyn CustomerConnectors>, quotas: Arc<dyn Quotas>) -> Self {
        Self { connectors, quotas }
    }
}

impl Workflow for ExportCustomerGroups {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let quotas = self.quotas.clone();
        Box::pin(async move {
            let io = CustomerIo::open(
                &ctx,
                &connectors,
                quotas,
                input,
                SyncAction::ExportCustomerGroups,
            )
            .await?;
            let s = &io.config.settings;
            if s.groups_from == GroupSource::None {
                return Err(RunError::failed(
                    "aucune source de groupes dans le profil : groups_from = \"family\" ou \"price-category\" dans [export.customers] (no group source)",
                ));
            }
            run_groups(&io).await?;
            io.summary("groupe(s)").await
        })
    }
}

async fn run_groups(io: &CustomerIo) -> Result<(), RunError> {
    let s = &io.config.settings;
    let (erp, source) = (io.erp.clone(), s.groups_from);
    let groups = io
        .ctx
        .step("erp_groups", &io.p.read, || async move {
            erp.customer_groups(source).await
        })
        .await?;
    let keys: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; groups.len()];
    let mut names = BTreeSet::new();
    let mut drafts: Vec<(usize, GroupDraft)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let name = g.name.trim();
        if g.id.trim().is_empty() {
            outcome[i] = Some(ItemOutcome::Failed(
                "code de groupe vide (empty group id)".into(),
            ));
        } else if name.is_empty() {
            outcome[i] = Some(ItemOutcome::Failed(format!(
                "groupe {} sans libellé (group without label)",
                g.id
            )));
        } else if !names.insert(name.to_lowercase()) {
            outcome[i] = Some(ItemOutcome::Ignored(format!(
                "groupe {} : libellé « {name} » en double, déjà traité (duplicate label)",
                g.id
            )));
        } else {
            drafts.push((
                i,
                GroupDraft {
                    erp_id: g.id.clone(),
                    name: name.to_string(),
                    price_display_method: s.group_price_display,
                    show_prices: s.group_show_prices,
                },
            ));
        }
    }
    let reserved = (!drafts.is_empty()).then_some(Counter::Export);
    let (granted, why) = io.reserve(1, drafts.len(), Counter::Export).await?;
    if granted < drafts.len() {
        for (i, _) in drafts.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0usize;
    if !drafts.is_empty() {
        let (shop, list) = (
            io.shop.clone(),
            drafts.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
        );
        let written: Vec<(String, Written)> = io
            .ctx
            .step("write_groups", &io.p.shop, || async move {
                shop.ensure_groups(&list).await
            })
            .await?;
        let by_name: HashMap<String, Written> = written
            .into_iter()
            .map(|(n, w)| (n.to_lowercase(), w))
            .collect();
        for (i, d) in &drafts {
            let what = format!("groupe « {} »", d.name);
            outcome[*i] = Some(match by_name.get(&d.name.to_lowercase()) {
                Some(Written::Created(id)) => {
                    used += 1;
                    ItemOutcome::Succeeded(Some(format!("{what} : créé (groupe {id})")))
                }
                Some(Written::Updated(id) | Written::Unchanged(id)) => {
                    ItemOutcome::Succeeded(Some(format!("{what} : existe déjà (groupe {id})")))
                }
                Some(Written::Refused(r)) => {
                    ItemOutcome::Failed(format!("{what} : refusé par la boutique : {r}"))
                }
                Some(Written::Missing) | None => ItemOutcome::Failed(format!(
                    "{what} : absent de la réponse (not in the answer)"
                )),
            });
        }
    }
    io.finish_page(1, reserved, used, keys, outcome).await
}
