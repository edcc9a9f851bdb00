//! `import-prospects` (FEATURES §2): shop accounts created since the profile's start date
//! that never placed an order become ERP customers — through the order import's own
//! customer rules (FEATURES §4.2, `domain::orders::customer`): the same look-ups (SIRET,
//! e-mail, VAT), the same numbering and accounting account, the same Import API write
//! (`Erp::import` with customers only). A prospect already in the ERP (found by those keys,
//! or already linked by the ERP code written back on the shop account) is ignored, so a
//! re-run creates nothing twice.
//!
//! Per page of shop accounts (keyset paging on the shop id): `read_prospects`,
//! `erp_customers` (one batched look-up), `reserve_quota` (import counter: "new customer
//! imported"), `erp_import` (one call for the page), `send_customer_code` (the ERP code
//! into the account's note), `settle_quota`, one item per prospect.

use super::customers::{CustomerConnectors, CustomerIo};
use super::import_orders::{customer_keys, Connectors};
use crate::engine::{RunContext, RunError, Workflow, WorkflowFuture};
use crate::ports::{
    Counter, Erp, ImportBatch, ImportReport, Prospect, ProspectsPage, Quotas, Shop,
};
use passerelle_domain::orders::customer::resolve_customer;
use passerelle_domain::orders::{
    CustomerRecord, CustomerResolution, OrderSettings, OrderTotals, Shipping, ShopCustomer,
    ShopOrder,
};
use passerelle_domain::{ItemOutcome, SyncAction};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The workflow.
pub struct ImportProspects {
    connectors: Arc<dyn CustomerConnectors>,
    orders: Arc<dyn Connectors>,
    quotas: Arc<dyn Quotas>,
}

impl ImportProspects {
    /// A workflow over these ports: the customer connections (shop accounts) and the order
    /// import's (its customer rules and ERP).
    pub fn new(
        connectors: Arc<dyn CustomerConnectors>,
        orders: Arc<dyn Connectors>,
        quotas: Arc<dyn Quotas>,
    ) -> Self {
        Self {
            connectors,
            orders,
            quotas,
        }
    }
}

/// A prospect seen as the customer of an order without lines: what the order import's
/// customer rules read (the customer and its addresses).
pub fn prospect_as_order(p: &Prospect) -> ShopOrder {
    let address = p
        .address
        .clone()
        .unwrap_or_else(|| passerelle_domain::orders::Address {
            firstname: p.firstname.clone(),
            lastname: p.lastname.clone(),
            company: Some(p.company.clone()).filter(|c| !c.is_empty()),
            ..Default::default()
        });
    ShopOrder {
        id: format!("prospect-{}", p.id),
        reference: String::new(),
        shop_id: String::new(),
        state_id: String::new(),
        created_at: Default::default(),
        updated_at: Default::default(),
        invoice_date: None,
        invoice_number: None,
        currency: String::new(),
        conversion_rate: Decimal::ONE,
        customer: ShopCustomer {
            id: p.id.clone(),
            email: p.email.clone(),
            firstname: p.firstname.clone(),
            lastname: p.lastname.clone(),
            company: Some(p.company.clone()).filter(|c| !c.is_empty()),
            siret: Some(p.siret.clone()).filter(|c| !c.is_empty()),
            vat_number: None,
            is_guest: false,
            erp_code: p.erp_code.clone(),
        },
        billing: address.clone(),
        delivery: address,
        lines: Vec::new(),
        discounts: Vec::new(),
        shipping: Shipping {
            carrier_id: String::new(),
            carrier_name: String::new(),
            amount_tax_excl: Decimal::ZERO,
            amount_tax_incl: Decimal::ZERO,
            tax_rate: Decimal::ZERO,
        },
        wrapping: None,
        payment_module: String::new(),
        payment_label: String::new(),
        payments: Vec::new(),
        totals: OrderTotals {
            products_tax_excl: Decimal::ZERO,
            products_tax_incl: Decimal::ZERO,
            paid_tax_excl: Decimal::ZERO,
            paid_tax_incl: Decimal::ZERO,
        },
        messages: Vec::new(),
    }
}

impl Workflow for ImportProspects {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let connectors = self.connectors.clone();
        let orders = self.orders.clone();
        let quotas = self.quotas.clone();
        Box::pin(async move {
            let io = CustomerIo::open(
                &ctx,
                &connectors,
                quotas,
                input,
                SyncAction::ImportProspects,
            )
            .await?;
            let Some(day) = io.config.settings.prospects_since else {
                return Err(RunError::failed(
                    "date de début des prospects absente : prospects_since = \"AAAA-MM-JJ\" dans [export.customers] (prospects start date missing)",
                ));
            };
            let since = day.and_hms_opt(0, 0, 0).unwrap_or_default();
            let (account, profile) = (ctx.account_id().clone(), ctx.profile_id().clone());
            let o = orders.clone();
            let settings: OrderSettings = ctx
                .step("load_import_config", &io.p.read, || async move {
                    o.import_config(&account, &profile)
                        .await
                        .map(|c| c.settings)
                })
                .await?;
            let (account, profile) = (ctx.account_id(), ctx.profile_id());
            let erp = orders
                .erp(account, profile)
                .await
                .map_err(|e| RunError::failed(format!("connexion ERP : {e}")))?;
            let shop = orders
                .shop(account, profile)
                .await
                .map_err(|e| RunError::failed(format!("connexion boutique : {e}")))?;
            ctx.note(format!(
                "comptes boutique créés depuis le {} sans commande (accounts without orders)",
                day.format("%d/%m/%Y")
            ))
            .await?;
            let (mut after, mut page_no) = (0u64, 0u32);
            loop {
                page_no += 1;
                let s = io.shop.clone();
                let page: ProspectsPage = ctx
                    .step("read_prospects", &io.p.read, || async move {
                        s.prospects(since, after).await
                    })
                    .await?;
                let next = page.next_after.filter(|n| *n > after);
                if !page.prospects.is_empty() {
                    process_page(&io, page_no, page.prospects, &settings, &erp, &shop).await?;
                }
                match next {
                    Some(n) => after = n,
                    None => break,
                }
            }
            io.summary("prospect(s)").await
        })
    }
}

async fn process_page(
    io: &CustomerIo,
    page_no: u32,
    prospects: Vec<Prospect>,
    settings: &OrderSettings,
    erp: &Arc<dyn Erp>,
    shop: &Arc<dyn Shop>,
) -> Result<(), RunError> {
    let keys: Vec<String> = prospects.iter().map(|p| p.id.clone()).collect();
    let mut outcome: Vec<Option<ItemOutcome>> = vec![None; prospects.len()];
    let orders: Vec<ShopOrder> = prospects.iter().map(prospect_as_order).collect();
    let refs: Vec<&ShopOrder> = orders.iter().collect();
    let lookup = customer_keys(&refs, &settings.customers);
    let found = if lookup.sirets.is_empty() && lookup.emails.is_empty() && lookup.vats.is_empty() {
        Vec::new()
    } else {
        let e = erp.clone();
        io.ctx
            .step("erp_customers", &io.p.read, || async move {
                e.find_customers(&lookup).await
            })
            .await?
    };
    let mut new: Vec<(usize, CustomerRecord)> = Vec::new();
    let mut codes = BTreeSet::new();
    for (i, o) in orders.iter().enumerate() {
        match resolve_customer(o, settings, &found) {
            CustomerResolution::Existing { code, found_by, .. } => {
                outcome[i] = Some(ItemOutcome::Ignored(format!(
                    "compte {} <{}> : déjà client ERP {code} ({found_by}) (already an ERP customer)",
                    o.customer.id, o.customer.email
                )));
            }
            CustomerResolution::New(r) => {
                if !codes.insert(r.code.clone()) {
                    outcome[i] = Some(ItemOutcome::Failed(format!(
                        "code client {} en double dans la page (duplicate customer code)",
                        r.code
                    )));
                } else {
                    new.push((i, r));
                }
            }
        }
    }
    let reserved = (!new.is_empty()).then_some(Counter::Import);
    let (granted, why) = io.reserve(page_no, new.len(), Counter::Import).await?;
    if granted < new.len() {
        for (i, _) in new.drain(granted..) {
            outcome[i] = Some(ItemOutcome::Ignored(why.clone()));
        }
    }
    let mut used = 0usize;
    if !new.is_empty() {
        let (e, batch) = (
            erp.clone(),
            ImportBatch {
                customers: new.iter().map(|(_, r)| r.clone()).collect(),
                documents: Vec::new(),
                only_files: None,
            },
        );
        let report: ImportReport = io
            .ctx
            .step("erp_import", &io.p.read, || async move {
                e.import(&batch).await
            })
            .await?;
        if report.pending.is_some() || report.rest.is_some() {
            // Accepted asynchronously (or sent file by file): polled until applied, the run
            // parking between polls, then the files that had to wait.
            let outcome = super::import_orders::ImportOutcome {
                existing: Vec::new(),
                report,
            };
            // The status policy, as short as the run's reads when a test shortened them.
            let poll = crate::engine::RetryPolicy {
                initial: io
                    .p
                    .read
                    .initial
                    .min(crate::engine::RetryPolicy::ERP_IMPORT_STATUS.initial),
                max_delay: io
                    .p
                    .read
                    .max_delay
                    .min(crate::engine::RetryPolicy::ERP_IMPORT_STATUS.max_delay),
                ..crate::engine::RetryPolicy::ERP_IMPORT_STATUS
            };
            super::erp_import::complete(&io.ctx, erp, &poll, &io.p.read, outcome).await?;
        }
        // The ERP code back on the shop account: the next run links it without a look-up.
        let (s, links) = (
            shop.clone(),
            new.iter()
                .map(|(i, r)| (orders[*i].customer.id.clone(), r.code.clone()))
                .collect::<Vec<_>>(),
        );
        let refused: Vec<(String, String)> = io
            .ctx
            .step("send_customer_code", &io.p.shop, || async move {
                let mut refused = Vec::new();
                for (id, code) in &links {
                    match s.set_customer_erp_code(id, code).await {
                        Ok(()) => {}
                        Err(crate::engine::StepError::Permanent(m)) => {
                            refused.push((id.clone(), m))
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(refused)
            })
            .await?;
        for (i, r) in &new {
            used += 1;
            let o = &orders[*i];
            let mut msg = format!(
                "compte {} <{}> : client ERP {} créé ({})",
                o.customer.id, o.customer.email, r.code, r.name
            );
            if let Some((_, m)) = refused.iter().find(|(id, _)| *id == o.customer.id) {
                msg.push_str(&format!(" ; code non renvoyé à la boutique : {m}"));
            }
            outcome[*i] = Some(ItemOutcome::Succeeded(Some(msg)));
        }
    }
    io.finish_page(page_no, reserved, used, keys, outcome).await
}
