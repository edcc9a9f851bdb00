//! The import workflows' connections, from the profile: its settings (resolved period,
//! today), its shop client and its EBP client with the limits and the token pair shared by
//! every worker of the subscription (kept in the database).

use crate::profiles::{Profiles, ERP_CLIENT_SECRET, ERP_SUBSCRIPTION_KEY, SHOP_KEY};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration as ChronoDuration, Months, NaiveDate, TimeZone, Utc};
use passerelle_adapters::ebp::client::{EbpClient, EbpConfig};
use passerelle_adapters::ebp::gate::{CallGate, TokenStore};
use passerelle_adapters::secrets::SecretBox;
use passerelle_adapters::store::{Db, SqlCallGate, SqlTokenStore};
use passerelle_domain::platform::Capability;
use passerelle_domain::profile::ImportPeriod;
use passerelle_domain::{AccountId, ProfileId, SyncAction};
use passerelle_workflows::actions::import_orders::{Connectors, ImportConfig, UpdateConfig};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{Clock, DateField, Erp, OrderQuery, Shop, ShopConnection};
use std::sync::Arc;
use std::time::Duration;

/// Connections built from the profiles in the database.
pub struct DbConnectors {
    db: Db,
    profiles: Profiles,
    secrets: Arc<SecretBox>,
    gate: Arc<dyn CallGate>,
    tokens: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
}

/// The EBP limits in force: 1 call/s and 10,000 calls/day unless the operator says
/// otherwise (settings `ebp.min_interval_ms`, `ebp.daily_budget`; tests and benchmarks lower
/// them).
#[derive(Debug, Clone, Copy)]
pub struct EbpLimits {
    /// Minimum spacing of calls per subscription.
    pub min_interval: Duration,
    /// Calls per subscription and UTC day.
    pub daily_budget: u32,
}

impl EbpLimits {
    /// The limits of `settings`.
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        Self {
            min_interval: Duration::from_millis(settings.ebp_min_interval_ms),
            daily_budget: u32::try_from(settings.ebp_daily_budget).unwrap_or(u32::MAX),
        }
    }
}

impl DbConnectors {
    /// Connections over `db`, with the EBP `limits`.
    pub fn new(db: Db, secrets: Arc<SecretBox>, clock: Arc<dyn Clock>, limits: EbpLimits) -> Self {
        let (interval, budget) = (limits.min_interval, limits.daily_budget);
        // The gate spaces the *sends*; EBP measures *arrivals*. A first request that opens
        // its connection arrives later than the next one, so keep a margin for that jitter.
        let interval = if interval.is_zero() {
            interval
        } else {
            interval + Duration::from_millis(60)
        };
        Self {
            db: db.clone(),
            profiles: Profiles::new(db.clone()),
            gate: Arc::new(SqlCallGate::new(db.clone(), interval, budget)),
            tokens: Arc::new(SqlTokenStore::new(db, (*secrets).clone())),
            secrets,
            clock,
        }
    }

    async fn profile(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<passerelle_domain::profile::Profile, StepError> {
        self.profiles
            .get(account, profile)
            .await
            .map_err(|e| StepError::transient(e.to_string()))?
            .ok_or_else(|| StepError::permanent(format!("profil inconnu : {profile}")))
    }

    /// The import configuration and both clients of a profile, for commands that call the
    /// shop and the ERP outside a run (`repair-keys`, benchmarks).
    pub async fn clients(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> anyhow::Result<(ImportConfig, Arc<dyn Shop>, EbpClient)> {
        let e = |e: StepError| anyhow::anyhow!("{e}");
        Ok((
            self.import_config(account, profile).await.map_err(e)?,
            self.shop_connection(account, profile)
                .await
                .and_then(|c| c.orders())
                .map_err(e)?,
            self.ebp_client(account, profile).await.map_err(e)?,
        ))
    }

    /// The EBP client of a profile (also for `test-connection`, `refresh-config`, login).
    pub async fn ebp_client(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<EbpClient, StepError> {
        let p = self.profile(account, profile).await?;
        let erp = p
            .erp
            .ok_or_else(|| StepError::permanent("profil sans connexion EBP"))?;
        let secret = self.secret(account, profile, ERP_CLIENT_SECRET).await?;
        let key = self.secret(account, profile, ERP_SUBSCRIPTION_KEY).await?;
        // One token pair per EBP login of the account, not per profile: two profiles on the
        // same EBP folder share it, so their workers must (and do) serialise its refreshes.
        let connection = format!(
            "{}/ebp/{}/{}/{}",
            account.as_str(),
            erp.login_url.trim_end_matches('/'),
            erp.client_id,
            erp.folder_id
        );
        let mut cfg = EbpConfig::new(erp.client_id, secret, key, erp.folder_id, connection)
            .with_bases(&erp.api_url, &erp.login_url);
        cfg.import_shape = erp.import_shape;
        cfg.models = erp.import_models;
        cfg.format = erp.import_format;
        // The kinds the profile's statuses import: their models are checked at a run's
        // first import (before anything is sent).
        cfg.kinds = p
            .import
            .as_ref()
            .map(|o| o.settings.statuses.iter().map(|r| r.document).collect())
            .unwrap_or_default();
        EbpClient::new(cfg, self.gate.clone(), self.tokens.clone())
    }

    /// The shop connection of a profile, whatever its platform (built by the one wiring
    /// function, [`crate::platforms::connect`]).
    pub async fn shop_connection(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<ShopConnection, StepError> {
        let p = self.profile(account, profile).await?;
        let key = self.secret(account, profile, SHOP_KEY).await?;
        crate::platforms::connect(&p, key.expose(), &self.db)
    }

    /// A credential of the profile, in clear (memory only).
    pub async fn secret(
        &self,
        account: &AccountId,
        profile: &ProfileId,
        name: &str,
    ) -> Result<passerelle_adapters::secrets::Secret, StepError> {
        self.profiles
            .secret(account, profile, name, &self.secrets)
            .await
            .map_err(|e| StepError::permanent(e.to_string()))
    }
}

/// Start of the period at `now` (UTC days; FEATURES §3.4).
pub fn period_start(period: ImportPeriod, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.date_naive();
    let first_of = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1);
    let day = match period {
        ImportPeriod::All => return None,
        ImportPeriod::Last15Days => today - ChronoDuration::days(15),
        ImportPeriod::ThisMonth => first_of(today.year(), today.month())?,
        ImportPeriod::LastMonth => {
            first_of(today.year(), today.month())?.checked_sub_months(Months::new(1))?
        }
        ImportPeriod::Last3Months => today.checked_sub_months(Months::new(3))?,
        ImportPeriod::Last6Months => today.checked_sub_months(Months::new(6))?,
        ImportPeriod::ThisYear => first_of(today.year(), 1)?,
        ImportPeriod::LastYear => first_of(today.year() - 1, 1)?,
    };
    Utc.from_local_datetime(&day.and_hms_opt(0, 0, 0)?).single()
}

#[async_trait]
impl Connectors for DbConnectors {
    async fn import_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<ImportConfig, StepError> {
        let p = self.profile(account, profile).await?;
        // What the platform cannot do is switched off here, once, and noted by the run.
        let (caps, platform_notes) = crate::platforms::partial(&p, SyncAction::ImportOrders);
        let mut opts = p.import.ok_or_else(|| {
            StepError::permanent("le profil n'a pas d'options d'import de commandes (profile import options missing)")
        })?;
        if !caps.has(Capability::StatusWriteBack) {
            for s in opts.settings.statuses.iter_mut() {
                s.set_shop_state = None;
            }
        }
        if !caps.has(Capability::Stock) {
            opts.settings.push_stock = false;
        }
        let now = self.clock.now();
        let to = match opts.period {
            // "Last month" / "last year" end where they end; the others run to now.
            ImportPeriod::LastMonth => period_start(ImportPeriod::ThisMonth, now),
            ImportPeriod::LastYear => period_start(ImportPeriod::ThisYear, now),
            _ => None,
        }
        .map(|t| t - ChronoDuration::seconds(1));
        Ok(ImportConfig {
            query: OrderQuery {
                states: opts
                    .settings
                    .statuses
                    .iter()
                    .map(|s| s.state_id.clone())
                    .collect(),
                shops: opts.shops.clone(),
                from: period_start(opts.period, now),
                to,
                date_field: if opts.by_update_date {
                    DateField::Updated
                } else {
                    DateField::Created
                },
            },
            page_size: opts.page_size.clamp(1, 1000),
            today: now.with_timezone(&chrono_tz::Europe::Paris).date_naive(),
            send_customer_code: opts.send_customer_code,
            send_document_number: opts.send_document_number && caps.has(Capability::DocumentNumber),
            notify_customer: opts.notify_customer,
            settings: opts.settings,
            platform_notes,
        })
    }

    async fn update_config(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<UpdateConfig, StepError> {
        let p = self.profile(account, profile).await?;
        let (caps, platform_notes) = crate::platforms::partial(&p, SyncAction::UpdateOrderStatuses);
        let opts = p.import.ok_or_else(|| {
            StepError::permanent(
                "le profil n'a pas d'options de commandes (profile order options missing)",
            )
        })?;
        let mut settings = opts.updates;
        if !caps.has(Capability::Tracking) {
            settings.tracking_field = None;
            settings.tracking_state = None;
            settings.tracking_from_shop = false;
        }
        if !caps.has(Capability::DocumentNumber) {
            settings.send_document_number = false;
            settings.replace_reference = false;
            settings.send_delivery_date = false;
        }
        Ok(UpdateConfig {
            settings,
            batch_size: opts.page_size.clamp(1, 100),
            platform_notes,
        })
    }

    async fn shop(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn Shop>, StepError> {
        self.shop_connection(account, profile).await?.orders()
    }

    async fn erp(
        &self,
        account: &AccountId,
        profile: &ProfileId,
    ) -> Result<Arc<dyn Erp>, StepError> {
        Ok(Arc::new(self.ebp_client(account, profile).await?))
    }
}
