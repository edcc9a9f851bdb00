//! The catalogue workflows' connections and configuration, from the profile: its
//! `[export]` settings, the incremental start of each action (`last_transfer`) and its
//! shop and EBP clients (built by [`DbConnectors`], which holds the shared EBP limits and
//! token store). Also `passerelle last-transfer`: the user-editable date, recorded as a
//! `LastTransferSet` event on the profile so it is audited and replayed like the rest.

use crate::connectors::DbConnectors;
use crate::profiles::Profiles;
use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use passerelle_adapters::ebp::client::EbpPricing;
use passerelle_adapters::store::{AggregateError, AggregateStore, Db, Origin};
use passerelle_domain::catalog::parse_query_filter;
use passerelle_domain::platform::Capability;
use passerelle_domain::profile::{Profile, ProfileCommand};
use passerelle_domain::{AccountId, Actor, ProfileId, SyncAction};
use passerelle_workflows::actions::catalog::{CatalogConfig, CatalogConnectors};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    CatalogErp, CatalogShop, LinksErp, LinksShop, SpecificPricesErp, SpecificPricesShop,
};
use std::sync::Arc;

/// Catalogue connections built from the profiles in the database.
pub struct DbCatalogConnectors {
    db: Db,
    profiles: Profiles,
    inner: Arc<DbConnectors>,
}

impl DbCatalogConnectors {
    /// Over `db`, the clients coming from `inner`.
    pub fn new(db: Db, inner: Arc<DbConnectors>) -> Self {
        Self {
            profiles: Profiles::new(db.clone()),
            db,
            inner,
        }
    }

    async fn profile(&self, account: &AccountId, id: &ProfileId) -> Result<Profile, StepError> {
        self.profiles
            .get(account, id)
            .await
            .map_err(|e| StepError::transient(e.to_string()))?
            .ok_or_else(|| StepError::permanent(format!("profil inconnu : {id}")))
    }
}

/// The start of the incremental window of `action`: the start of its last successful run,
/// unless a date was set by hand after that run started (then that date).
pub async fn last_transfer(
    db: &Db,
    account: &AccountId,
    profile: &Profile,
    profile_id: &ProfileId,
    action: SyncAction,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let runs =
        passerelle_projections::orders::last_transfers(db, account.as_str(), profile_id.as_str())
            .await?;
    let by_run = runs
        .iter()
        .find(|(a, ..)| a == action.as_str())
        .and_then(|(_, at, _)| DateTime::parse_from_rfc3339(at).ok())
        .map(|d| d.with_timezone(&Utc));
    let by_hand = profile
        .last_transfer_overrides
        .get(action.as_str())
        .copied();
    Ok(match (by_run, by_hand) {
        (Some(run), Some((at, set_at))) if set_at > run => Some(at),
        (Some(run), _) => Some(run),
        (None, Some((at, _))) => Some(at),
        (None, None) => None,
    })
}

#[async_trait]
impl CatalogConnectors for DbCatalogConnectors {
    async fn catalog_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        action: SyncAction,
    ) -> Result<CatalogConfig, StepError> {
        let p = self.profile(account, profile).await?;
        let mut settings = p.export.clone().ok_or_else(|| {
            StepError::permanent(
                "le profil n'a pas d'options d'export d'articles ([export]) (profile export options missing)",
            )
        })?;
        let filter = parse_query_filter(settings.query_filter.as_deref().unwrap_or(""))
            .map_err(StepError::permanent)?;
        // "New articles" always reads from its last transfer; the others when asked.
        let since = if settings.incremental || action == SyncAction::ExportNewArticles {
            last_transfer(&self.db, account, &p, profile, action)
                .await
                .map_err(|e| StepError::transient(e.to_string()))?
                .map(|d| d.naive_utc())
        } else {
            None
        };
        // What the platform cannot do is switched off here, once, and noted by the run.
        let (caps, platform_notes) = crate::platforms::partial(&p, action);
        let u = &mut settings.update;
        u.specific_prices &= caps.has(Capability::SpecificPrices);
        u.packs &= caps.has(Capability::Packs);
        u.images &= caps.has(Capability::Images);
        u.documents &= caps.has(Capability::Documents);
        u.category &= caps.has(Capability::Categories);
        u.quantity &= caps.has(Capability::Stock);
        settings.create_categories &= caps.has(Capability::Categories);
        Ok(CatalogConfig {
            settings,
            filter,
            since,
            platform_notes,
        })
    }

    async fn catalog_shop(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CatalogShop>, StepError> {
        self.inner
            .shop_connection(account, profile)
            .await?
            .catalog()
    }

    async fn catalog_erp(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn CatalogErp>, StepError> {
        Ok(Arc::new(self.inner.ebp_client(account, profile).await?))
    }

    async fn specific_prices(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<(Arc<dyn SpecificPricesErp>, Arc<dyn SpecificPricesShop>), StepError> {
        let shop = self.inner.shop_connection(account, profile).await?;
        let erp = self.inner.ebp_client(account, profile).await?;
        Ok((Arc::new(EbpPricing::new(erp)), shop.specific_prices()?))
    }

    async fn links(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<(Arc<dyn LinksErp>, Arc<dyn LinksShop>), StepError> {
        let shop = self.inner.shop_connection(account, profile).await?;
        let erp = self.inner.ebp_client(account, profile).await?;
        Ok((Arc::new(erp), shop.links()?))
    }

    async fn catalog_media(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Option<passerelle_workflows::ports::MediaConnections>, StepError> {
        let p = self.profile(account, profile).await?;
        let Some(export) = p.export else {
            return Ok(None);
        };
        let (db, inner) = (&self.db, &self.inner);
        crate::media_connectors::media_connections(db, inner, account, profile, &export.media).await
    }
}

/// Reads `2026-03-01`, `2026-03-01T08:00:00` or an RFC 3339 date (UTC when no offset).
pub fn parse_date(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .with_context(|| format!("date invalide « {t} » (AAAA-MM-JJ[THH:MM:SS])"))?;
    Ok(Utc.from_utc_datetime(&naive))
}

/// `passerelle last-transfer PROFILE --set FLOW DATE`: records the date by hand.
pub async fn set_last_transfer(
    db: &Db,
    account: &AccountId,
    profile: &ProfileId,
    action: SyncAction,
    at: DateTime<Utc>,
    actor: Actor,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let origin = Origin {
        actor,
        correlation: format!("profile:{profile}"),
        at: now,
    };
    AggregateStore::new(db.clone())
        .execute::<Profile>(
            account,
            profile.as_str(),
            ProfileCommand::SetLastTransfer {
                action: action.as_str().to_string(),
                at,
                now,
            },
            &origin,
        )
        .await
        .map_err(|e| match e {
            AggregateError::Refused(r) => anyhow::anyhow!("{r}"),
            other => anyhow::anyhow!("{other}"),
        })?;
    Ok(())
}

/// The last transfer date of every action of the profile (by run or set by hand).
pub async fn last_transfers(
    db: &Db,
    account: &AccountId,
    profile_id: &ProfileId,
) -> anyhow::Result<Vec<(SyncAction, DateTime<Utc>)>> {
    let p = Profiles::new(db.clone())
        .get(account, profile_id)
        .await?
        .with_context(|| format!("profil inconnu : {profile_id}"))?;
    let mut out = Vec::new();
    for a in SyncAction::ALL {
        if let Some(at) = last_transfer(db, account, &p, profile_id, a).await? {
            out.push((a, at));
        }
    }
    Ok(out)
}

/// The catalogue actions this version runs (the customer actions are in
/// [`crate::customer_connectors::AVAILABLE`]).
pub const AVAILABLE: [SyncAction; 5] = [
    SyncAction::ExportArticles,
    SyncAction::ExportNewArticles,
    SyncAction::UpdatePrices,
    SyncAction::UpdateStock,
    SyncAction::ActivateArticles,
];

/// `passerelle last-transfer PROFILE [--set FLOW DATE]`.
pub async fn last_transfer_cmd(
    settings: &crate::settings::Settings,
    acc: &AccountId,
    profile: &str,
    set: &Option<Vec<String>>,
) -> anyhow::Result<std::process::ExitCode> {
    use crate::commands::{t, usage};
    let profile = ProfileId::parse(profile).map_err(|e| usage(e.to_string()))?;
    let app = crate::app::App::open(settings).await?;
    app.projector.catch_up().await?;
    if Profiles::new(app.db.clone())
        .get(acc, &profile)
        .await?
        .is_none()
    {
        return Err(usage(format!("profil inconnu : {profile}")));
    }
    if let Some([flow, date]) = set.as_deref() {
        let action: SyncAction = flow
            .parse()
            .map_err(|e: passerelle_domain::action::UnknownAction| usage(e.to_string()))?;
        let at = parse_date(date).map_err(|e| usage(e.to_string()))?;
        set_last_transfer(&app.db, acc, &profile, action, at, Actor::Cli).await?;
        println!(
            "{} {action} : {}",
            t(
                "Date du dernier transfert fixée pour",
                "Last transfer date set for"
            ),
            at.to_rfc3339()
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let all = last_transfers(&app.db, acc, &profile).await?;
    if all.is_empty() {
        println!("{}", t("Aucun transfert.", "No transfer yet."));
    }
    for (a, at) in all {
        println!("{:<24} {}", a.as_str(), at.to_rfc3339());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
