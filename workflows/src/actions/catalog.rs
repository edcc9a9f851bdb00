//! What the catalogue export workflows share (`export-articles`, `export-new-articles`,
//! `update-prices`, `update-stock`, `activate-articles`): their configuration, where they
//! get their connections, retry policies, the quota block per page and the per-item
//! outcome loop.
//!
//! Every workflow reads the ERP one page (≤ 100 articles, EBP's page size) per journaled
//! step and handles the page as a batch: one shop look-up and one write per `batch_size`
//! products, then the page's item outcomes. A page is the unit of resumption: a step run
//! twice writes the same absolute values again (set-to, looked up by reference first).

use crate::engine::{RetryPolicy, RunContext, RunError, StepError};
use crate::ports::{ArticleQuery, ArticlesPage, Counter, Quotas, Reservation};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::{CatalogSettings, FilterClause};
use passerelle_domain::{AccountId, ItemOutcome, ProfileId, SyncAction};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{
    CatalogErp, CatalogShop, LinksErp, LinksShop, SpecificPricesErp, SpecificPricesShop,
};

/// Everything a catalogue run needs to know about its profile, resolved once by the
/// `load_config` step (a replay sees the same settings and dates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogConfig {
    /// The profile's export settings.
    pub settings: CatalogSettings,
    /// The parsed ERP-side filter.
    pub filter: Vec<FilterClause>,
    /// Start of the incremental window (the last transfer of this action, UTC as the ERP's
    /// `sysModifiedDate`); `None`: everything.
    pub since: Option<NaiveDateTime>,
    /// Parts the shop platform cannot do (already switched off in `settings`), noted once
    /// in the run log.
    #[serde(default)]
    pub platform_notes: Vec<String>,
}

impl CatalogConfig {
    /// The article query of a run reading `columns`.
    pub fn query(&self, columns: Vec<String>, published_only: bool) -> ArticleQuery {
        ArticleQuery {
            columns,
            filter: self.filter.clone(),
            published_only,
            modified_since: self.since,
            created_since: None,
        }
    }

    /// Shop writes per call, within what a URL and a request body comfortably hold.
    pub fn batch(&self) -> usize {
        self.settings.batch_size.clamp(1, 100) as usize
    }
}

/// Where catalogue runs get their configuration and connections. Implemented by the
/// binary's wiring; separate from the order import's `Connectors`.
#[async_trait]
pub trait CatalogConnectors: Send + Sync {
    /// The profile's export configuration for `action`, with its incremental start.
    async fn catalog_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        action: SyncAction,
    ) -> Result<CatalogConfig, StepError>;
    /// The profile's shop, as a catalogue.
    async fn catalog_shop(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CatalogShop>, StepError>;
    /// The profile's ERP, as a catalogue.
    async fn catalog_erp(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CatalogErp>, StepError>;
    /// The profile's ERP and shop specific prices (refused by default: a platform without
    /// them says so and the run goes on without specific prices).
    async fn specific_prices(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<(Arc<dyn SpecificPricesErp>, Arc<dyn SpecificPricesShop>), StepError> {
        let _ = (account, profile);
        Err(StepError::permanent(
            "prix spécifiques non pris en charge par ces connecteurs (specific prices not supported)",
        ))
    }
    /// The profile's ERP and shop links (cross-selling, packs); refused by default.
    async fn links(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<(Arc<dyn LinksErp>, Arc<dyn LinksShop>), StepError> {
        let _ = (account, profile);
        Err(StepError::permanent(
            "accessoires et packs non pris en charge par ces connecteurs (links not supported)",
        ))
    }
    /// The profile's media connections (images, documents); `None`: none configured.
    async fn catalog_media(
        &self,
        _account: &AccountId,
        _profile: &ProfileId,
    ) -> Result<Option<crate::ports::MediaConnections>, StepError> {
        Ok(None)
    }
}

/// Input of a catalogue run (the run request's payload).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CatalogInput {
    /// Retry delay override in milliseconds (tests and the demo keep it short).
    #[serde(default)]
    pub retry_initial_ms: Option<u64>,
}

/// Retry policies of one run.
#[derive(Clone, Copy)]
pub(crate) struct Policies {
    pub(crate) read: RetryPolicy,
    pub(crate) shop: RetryPolicy,
}

impl Policies {
    pub(crate) fn new(input: &CatalogInput) -> Self {
        let mut p = Policies {
            read: RetryPolicy::READ,
            shop: RetryPolicy::SHOP,
        };
        if let Some(ms) = input.retry_initial_ms {
            for r in [&mut p.read, &mut p.shop] {
                r.initial = Duration::from_millis(ms);
                r.max_delay = Duration::from_millis(ms * 20);
                r.jitter = 0.0;
            }
        }
        p
    }
}

/// The connections and configuration of one run.
pub(crate) struct Io {
    pub(crate) ctx: RunContext,
    pub(crate) shop: Arc<dyn CatalogShop>,
    pub(crate) erp: Arc<dyn CatalogErp>,
    pub(crate) quotas: Arc<dyn Quotas>,
    pub(crate) p: Policies,
    pub(crate) config: Arc<CatalogConfig>,
    /// Items sent with values adapted to the shop's field rules (the summary counts them).
    pub(crate) adapted: std::sync::atomic::AtomicUsize,
}

impl Io {
    /// Loads the configuration (journaled) and opens the connections.
    pub(crate) async fn open(
        ctx: &RunContext,
        connectors: &Arc<dyn CatalogConnectors>,
        quotas: Arc<dyn Quotas>,
        input: serde_json::Value,
        action: SyncAction,
    ) -> Result<Io, RunError> {
        let input: CatalogInput = serde_json::from_value(input)
            .map_err(|e| RunError::failed(format!("entrée invalide : {e}")))?;
        let p = Policies::new(&input);
        let (account, profile) = (ctx.account_id().clone(), ctx.profile_id().clone());
        let c = connectors.clone();
        let config: CatalogConfig = ctx
            .step("load_config", &p.read, || async move {
                c.catalog_config(&account, &profile, action).await
            })
            .await?;
        let (account, profile) = (ctx.account_id(), ctx.profile_id());
        let shop = connectors
            .catalog_shop(account, profile)
            .await
            .map_err(|e| RunError::failed(format!("connexion boutique : {e}")))?;
        let erp = connectors
            .catalog_erp(account, profile)
            .await
            .map_err(|e| RunError::failed(format!("connexion ERP : {e}")))?;
        let what = match action {
            SyncAction::ExportNewArticles => "articles créés",
            SyncAction::UpdateStock => "stocks modifiés",
            _ => "articles modifiés",
        };
        note_since(ctx, config.since, what).await?;
        for n in &config.platform_notes {
            ctx.note(n.clone()).await?;
        }
        Ok(Io {
            ctx: ctx.clone(),
            shop,
            erp,
            quotas,
            p,
            config: Arc::new(config),
            adapted: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Reserves `wanted` export units for page `page_no` (before any write); returns how
    /// many were granted and why fewer.
    pub(crate) async fn reserve(
        &self,
        page_no: u32,
        wanted: usize,
    ) -> Result<(usize, String), RunError> {
        reserve_units(
            &self.ctx,
            &self.quotas,
            &self.p,
            page_no,
            wanted,
            Counter::Export,
        )
        .await
    }

    /// One page of ERP articles from `offset` (the `read_articles` step).
    pub(crate) async fn read_page(
        &self,
        query: &ArticleQuery,
        offset: u32,
    ) -> Result<ArticlesPage, RunError> {
        let (erp, q) = (self.erp.clone(), query.clone());
        self.ctx
            .step("read_articles", &self.p.read, || async move {
                erp.articles_page(&q, offset).await
            })
            .await
    }

    /// The end of a page: settles its quota block when one was reserved, then journals the
    /// outcome of every reference (an article left without one failed).
    pub(crate) async fn finish_page(
        &self,
        page_no: u32,
        reserved: bool,
        used: usize,
        refs: Vec<String>,
        outcome: Vec<Option<ItemOutcome>>,
    ) -> Result<(), RunError> {
        let counter = reserved.then_some(Counter::Export);
        let unhandled = "article non traité (article not handled)";
        finish_items(
            &self.ctx,
            &self.quotas,
            &self.p,
            page_no,
            counter,
            used,
            refs,
            outcome,
            unhandled,
        )
        .await
    }

    /// The end-of-run summary line.
    pub(crate) async fn summary(&self, what: &str) -> Result<(), RunError> {
        let adapted = self.adapted.load(std::sync::atomic::Ordering::SeqCst);
        summary_with(&self.ctx, what, adapted).await
    }
}

/// The note saying where the incremental window of a run starts (`what`: « articles
/// modifiés », « clients créés »…).
pub(crate) async fn note_since(
    ctx: &RunContext,
    since: Option<NaiveDateTime>,
    what: &str,
) -> Result<(), RunError> {
    match since {
        Some(since) => {
            ctx.note(format!(
                "{what} depuis le {} (UTC) seulement — dernier transfert (incremental)",
                since.format("%d/%m/%Y %H:%M:%S")
            ))
            .await
        }
        None => Ok(()),
    }
}

/// Reserves `wanted` units of `counter` for page `page_no` of a run (the `reserve_quota`
/// step, before any write); returns how many were granted and why fewer. Shared by the
/// catalogue and customer flows.
pub(crate) async fn reserve_units(
    ctx: &RunContext,
    quotas: &Arc<dyn Quotas>,
    p: &Policies,
    page_no: u32,
    wanted: usize,
    counter: Counter,
) -> Result<(usize, String), RunError> {
    if wanted == 0 {
        return Ok((0, String::new()));
    }
    let (quotas, acc, run) = (quotas.clone(), ctx.account_id().clone(), ctx.run_id());
    let key = format!("page-{page_no}");
    let r: Reservation = ctx
        .step("reserve_quota", &p.read, || async move {
            quotas
                .reserve(&acc, run, &key, counter, wanted as u32)
                .await
        })
        .await?;
    Ok((
        r.granted as usize,
        r.limited_by
            .unwrap_or_else(|| "quota épuisé (quota exhausted)".into()),
    ))
}

/// The end of a page: settles its quota block of `counter` when one was reserved
/// (consuming `used`, releasing the rest: the `settle_quota` step), then journals the
/// outcome of every key in page order; a key left without one fails with `unhandled`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish_items(
    ctx: &RunContext,
    quotas: &Arc<dyn Quotas>,
    p: &Policies,
    page_no: u32,
    reserved: Option<Counter>,
    used: usize,
    keys: Vec<String>,
    outcome: Vec<Option<ItemOutcome>>,
    unhandled: &str,
) -> Result<(), RunError> {
    if let Some(counter) = reserved {
        let (quotas, acc, prof, run) = (
            quotas.clone(),
            ctx.account_id().clone(),
            ctx.profile_id().clone(),
            ctx.run_id(),
        );
        let key = format!("page-{page_no}");
        ctx.step("settle_quota", &p.read, || async move {
            quotas
                .settle(&acc, &prof, run, &key, counter, used as u32)
                .await
        })
        .await?;
    }
    let items: Vec<(String, ItemOutcome)> = keys
        .into_iter()
        .zip(outcome)
        .map(|(k, o)| (k, o.unwrap_or(ItemOutcome::Failed(unhandled.to_string()))))
        .collect();
    ctx.for_each_item(
        items,
        |(key, _)| {
            let key = if key.is_empty() {
                "(vide)".to_string()
            } else {
                key.clone()
            };
            (key.clone(), key)
        },
        |_ictx, _item, (_, outcome)| async move { Ok(outcome) },
    )
    .await
    .map(|_| ())
}

/// The end-of-run summary line, saying how many of the items that went through had
/// values adapted to the shop's field rules (issue 21) when there were some.
pub(crate) async fn summary_with(
    ctx: &RunContext,
    what: &str,
    adapted: usize,
) -> Result<(), RunError> {
    let t = ctx.totals();
    let adapted = if adapted > 0 {
        format!(" (dont {adapted} avec adaptation(s) aux règles de la boutique)")
    } else {
        String::new()
    };
    ctx.note(format!(
        "{} {what} : {} réussi(s){adapted}, {} en échec, {} ignoré(s)",
        t.total, t.succeeded, t.failed, t.ignored
    ))
    .await
}

/// The outcome of a write, for the log.
pub(crate) fn written_outcome(
    w: &crate::ports::Written,
    what: &str,
    missing: &str,
) -> (ItemOutcome, bool) {
    use crate::ports::Written;
    match w {
        Written::Created(id) => (
            ItemOutcome::Succeeded(Some(format!("{what} : créé (produit {id})"))),
            true,
        ),
        Written::Updated(id) => (
            ItemOutcome::Succeeded(Some(format!("{what} : mis à jour (produit {id})"))),
            true,
        ),
        Written::Unchanged(id) => (
            ItemOutcome::Succeeded(Some(format!("{what} : déjà à jour (produit {id})"))),
            false,
        ),
        Written::Missing => (ItemOutcome::Ignored(missing.to_string()), false),
        Written::Refused(r) => (
            ItemOutcome::Failed(format!("refusé par la boutique : {r}")),
            false,
        ),
    }
}

/// The next page's offset, or `None` when paging ends (no next page, or one that would not
/// move forward).
pub(crate) fn next_offset(next: Option<u32>, offset: u32) -> Option<u32> {
    next.filter(|n| *n > offset)
}
