//! `EbpClient`: reqwest client of EBP Gestion Commerciale SaaS, implementing the [`Erp`]
//! port. Every API call takes the subscription's [`CallGate`] slot first, carries the bearer
//! token and `ebp-subscription-key`, and is classified once into [`StepError`] (STYLE §7).
//!
//! Tokens: refreshed 60 s before expiry through [`TokenStore::refresh_with`] (one refresh
//! for all workers of a connection, the rotated pair stored before use); on 401 the client
//! refreshes once and replays; 403 never refreshes. Tokens, the client secret and the
//! subscription key are never logged (the gate sees a SHA-256 prefix of the key).

use super::assumptions as a;
use super::files;
use super::gate::{CallGate, GateError, RefreshFn, TokenPair, TokenStore};
use super::import_request::{self, ImportShape};
use super::models::{self, FileSpec, ModelCheck};
use super::query::{self, chunks, chunks_of, query_string, Operator, Where};
use crate::mail::Secret;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use passerelle_domain::orders::reconcile::ErpSide;
use passerelle_domain::orders::updates::{ChainDocument, ChainKind};
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::orders::{ErpCustomer, ErpItem};
use passerelle_domain::profile::{ImportFileFormat, ImportModelNames};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{
    ChainQuery, CustomerKeys, Erp, ExistingDocument, ImportBatch, ImportFile, ImportPoll,
    ImportReport, PendingImport, StockLevel,
};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Largest page EBP serves (§3: more is an error).
pub const PAGE_LIMIT: usize = 100;

/// Web orders per `documents_for_web_orders` call: each one puts 1 value in the
/// `xx_atoosync_order In` list and 2 in the `Reference In` fallback list, which stays
/// within [`super::query::MAX_IN_VALUES`].
pub const WEB_ORDERS_PER_CALL: usize = 50;

/// Connection settings of one EBP folder.
#[derive(Debug, Clone)]
pub struct EbpConfig {
    /// API base, `https://api-developpeurs.ebp.com` (no trailing slash).
    pub api_base: String,
    /// Login base, `https://api-login.ebp.com` (token endpoint `/connect/token`).
    pub login_base: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// APIM subscription key (`ebp-subscription-key`).
    pub subscription_key: Secret,
    /// Folder (dossier) id.
    pub folder_id: String,
    /// Key of the token pair in the [`TokenStore`] (one per profile connection).
    pub connection_id: String,
    /// OAuth scopes.
    pub scopes: String,
    /// Timeout of one HTTP call.
    pub timeout: Duration,
    /// Refresh this long before the access token expires.
    pub refresh_margin: Duration,
    /// How import files are sent (one call per file by default).
    pub import_shape: ImportShape,
    /// The import model the profile names for each file (checked against the folder's
    /// `EbpSysGenericImportSettings` before the first upload of a run).
    pub models: ImportModelNames,
    /// The file format used when a model's definition cannot be read.
    pub format: ImportFileFormat,
    /// The document kinds the profile imports (their models are checked at the first
    /// import of a run, so a run fails before writing anything); empty: every kind.
    pub kinds: Vec<DocumentKind>,
}

impl EbpConfig {
    /// Settings with EBP's production hosts, 30 s timeout and a 60 s refresh margin.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Secret,
        subscription_key: Secret,
        folder_id: impl Into<String>,
        connection_id: impl Into<String>,
    ) -> Self {
        Self {
            api_base: "https://api-developpeurs.ebp.com".into(),
            login_base: "https://api-login.ebp.com".into(),
            client_id: client_id.into(),
            client_secret,
            subscription_key,
            folder_id: folder_id.into(),
            connection_id: connection_id.into(),
            scopes: "openid profile offline_access".into(),
            timeout: Duration::from_secs(30),
            refresh_margin: Duration::from_secs(60),
            import_shape: ImportShape::PerFile,
            models: ImportModelNames::default(),
            format: ImportFileFormat::default(),
            kinds: Vec::new(),
        }
    }

    /// Same settings against other hosts (preprod, simulator).
    pub fn with_bases(mut self, api_base: &str, login_base: &str) -> Self {
        self.api_base = api_base.trim_end_matches('/').to_string();
        self.login_base = login_base.trim_end_matches('/').to_string();
        self
    }
}

/// A folder of the account (`GET /gescom/api/v1/Folders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    /// Folder id (numeric string).
    pub id: String,
    /// Company name.
    pub name: String,
    /// Product code (`INV30` = Gestion SaaS Pro).
    #[serde(default)]
    pub short_name: String,
    /// Database engine flag.
    #[serde(default)]
    pub is_maria_db: bool,
}

/// One row of a set-up table (VAT code, settlement mode, …) for the mapping screens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// Code (`Id`).
    pub id: String,
    /// Label (`Caption`, else `Description`, else `Name`).
    pub caption: String,
    /// The full row, for extra columns (`Rate` of a VAT code, `Main` of a warehouse…).
    pub row: Value,
}

/// What the mapping screens list (FEATURES §3.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EbpConfiguration {
    /// VAT codes (`Vat`).
    pub vat_codes: Vec<ConfigEntry>,
    /// Accounting categories: EBP's built-in list ([`a::ACCOUNTING_CATEGORIES`]).
    pub accounting_categories: Vec<ConfigEntry>,
    /// Settlement modes (`SettlementMode`).
    pub settlement_modes: Vec<ConfigEntry>,
    /// Payment types (`PaymentType`).
    pub payment_types: Vec<ConfigEntry>,
    /// Document series / souches (`DocumentSerial`).
    pub series: Vec<ConfigEntry>,
    /// Warehouses (`Storehouse`).
    pub warehouses: Vec<ConfigEntry>,
    /// Currencies (`CurrencyTable`).
    pub currencies: Vec<ConfigEntry>,
    /// Shipping modes (`Shipping`).
    pub shipping: Vec<ConfigEntry>,
}

/// An import with what the [`ImportReport`] cannot hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOutcome {
    /// The port's report (files sent, created documents, rejected web orders).
    pub report: ImportReport,
    /// Characters replaced by `?`, rejected customer/address/payment rows.
    pub warnings: Vec<String>,
    /// `StatutResultImport.status`.
    pub status: String,
    /// The import id EBP gave.
    pub import_id: Option<String>,
}

/// Client of one EBP folder.
#[derive(Clone)]
pub struct EbpClient {
    cfg: Arc<EbpConfig>,
    http: reqwest::Client,
    gate: Arc<dyn CallGate>,
    tokens: Arc<dyn TokenStore>,
    subscription_id: String,
    /// The folder's models checked against the profile, read once per client (a client is
    /// built per run, so once per run: one GenericQuery call).
    models: Arc<tokio::sync::Mutex<Option<Arc<Vec<ModelCheck>>>>>,
}

impl std::fmt::Debug for EbpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbpClient")
            .field("folder_id", &self.cfg.folder_id)
            .field("subscription", &self.subscription_id)
            .finish_non_exhaustive()
    }
}

/// A SHA-256 prefix of the subscription key: the gate's id, never the clear key.
pub fn subscription_fingerprint(key: &Secret) -> String {
    let digest = Sha256::digest(key.expose().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("ebp-sub-{hex}")
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: i64,
}

fn default_expires_in() -> i64 {
    3600
}

#[derive(Deserialize)]
struct Page {
    #[serde(default, alias = "folders")]
    results: Vec<Value>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    total: usize,
}

/// `StatutResultImport` as assumed in [`a::STATUS_COMPLETED`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// Import id.
    #[serde(default)]
    pub import_id: Option<String>,
    /// `Completed`, `CompletedWithErrors`, `Failed`.
    pub status: String,
    /// Per file.
    #[serde(default)]
    pub files: Vec<ImportFileResult>,
    /// Global message (a `Failed` import).
    #[serde(default)]
    pub message: Option<String>,
}

/// Result of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportFileResult {
    /// File name.
    pub file_name: String,
    /// Model applied.
    #[serde(default)]
    pub model: String,
    /// Data rows read.
    #[serde(default)]
    pub rows_read: usize,
    /// Records created (or updated, for customers).
    #[serde(default)]
    pub created: Vec<ImportCreated>,
    /// Rows refused.
    #[serde(default)]
    pub errors: Vec<ImportRowError>,
}

/// A created record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportCreated {
    /// Web order number (documents), customer code (customers).
    pub key: String,
    /// Document number given by EBP.
    #[serde(default)]
    pub document_number: Option<String>,
    /// API `DocumentType`.
    #[serde(default)]
    pub document_type: Option<i64>,
    /// File rows.
    #[serde(default)]
    pub rows: Vec<usize>,
}

/// A refused row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRowError {
    /// File row (header = 1).
    pub row: usize,
    /// Web order number / customer code.
    #[serde(default)]
    pub key: String,
    /// Reason.
    pub message: String,
}

fn transport(e: reqwest::Error) -> StepError {
    if e.is_decode() {
        StepError::permanent(format!("EBP : réponse illisible : {e}"))
    } else if e.is_timeout() {
        StepError::transient("EBP : délai dépassé (timeout)")
    } else {
        // Connection refused/reset, DNS…: `reqwest::Error` Display holds no header value.
        StepError::transient(format!("EBP : erreur réseau : {e}"))
    }
}

/// Our own daily budget being spent is *permanent* for the run: parking it until midnight
/// would hold the profile's only active-run slot for hours; failing the batch step stops the
/// run cleanly (nothing half-written: the gate refuses before the call leaves) with the
/// message in the journal, and the next run resumes where it stopped. A 429 from EBP itself
/// stays transient.
fn gate_error(e: GateError) -> StepError {
    match &e {
        GateError::BudgetExhausted { .. } => StepError::permanent(format!(
            "{e} — tâche arrêtée, la prochaine exécution reprendra (run stopped; the next run resumes)"
        )),
        GateError::Store(_) => StepError::transient(e.to_string()),
    }
}

/// The readable part of an EBP error body (`message`, `errors[].errorMessage`; OAuth
/// `error`/`error_description`), else a snippet.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let mut parts: Vec<String> = Vec::new();
        for k in ["message", "title", "error_description", "error"] {
            if let Some(s) = v.get(k).and_then(Value::as_str) {
                if !s.is_empty() {
                    parts.push(s.to_string());
                    break;
                }
            }
        }
        if let Some(errs) = v.get("errors").and_then(Value::as_array) {
            parts.extend(
                errs.iter()
                    .filter_map(|e| e.get("errorMessage").and_then(Value::as_str))
                    .map(str::to_string),
            );
        }
        if !parts.is_empty() {
            return parts.join(" ; ");
        }
    }
    body.chars().take(200).collect()
}

/// Classifies a non-success answer (STYLE §7).
pub fn classify(status: StatusCode, retry_after: Option<&str>, body: &str) -> StepError {
    let msg = error_message(body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let wait = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(a::DEFAULT_RETRY_AFTER_SECS);
        return StepError::Transient {
            message: format!("EBP : trop d'appels (HTTP 429) : {msg}"),
            retry_after: Some(Duration::from_secs(wait)),
        };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return StepError::transient(format!("EBP : HTTP {} : {msg}", status.as_u16()));
    }
    let what = match status.as_u16() {
        400 => "paramètre refusé",
        401 => "authentification refusée",
        403 => "droits insuffisants",
        404 => "dossier ou ressource introuvable",
        _ => "requête refusée",
    };
    StepError::permanent(format!("EBP : {what} (HTTP {}) : {msg}", status.as_u16()))
}

/// A cell as text (strings as is, numbers printed, null/absent → None).
pub fn cell(row: &Value, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn cell_decimal(row: &Value, key: &str) -> Decimal {
    cell(row, key)
        .and_then(|s| {
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .ok()
        })
        .unwrap_or_default()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The web order number hidden in an imported document's reference, if it has the
/// "Document importé n° …" form.
pub fn web_order_from_reference(reference: &str) -> Option<String> {
    let rest = reference
        .trim()
        .strip_prefix(a::IMPORTED_REFERENCE_PREFIX.trim_end())?;
    let rest = rest.strip_suffix(a::PRICE_DIFFERS_SUFFIX).unwrap_or(rest);
    non_empty(Some(rest.to_string()))
}

impl EbpClient {
    /// A client sharing `gate` and `tokens` with the other workers of the subscription.
    pub fn new(
        cfg: EbpConfig,
        gate: Arc<dyn CallGate>,
        tokens: Arc<dyn TokenStore>,
    ) -> Result<Self, StepError> {
        let http = crate::http::builder(cfg.timeout)
            .build()
            .map_err(|e| StepError::permanent(format!("client HTTP : {e}")))?;
        Ok(Self {
            subscription_id: subscription_fingerprint(&cfg.subscription_key),
            cfg: Arc::new(cfg),
            http,
            gate,
            tokens,
            models: Arc::default(),
        })
    }

    /// The gate id of the subscription (SHA-256 prefix of the key).
    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    // ------------------------------------------------------------ OAuth

    /// The EBP login page URL to send the merchant to (authorization code flow).
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}/connect/authorize?{}",
            self.cfg.login_base,
            query_string(&[
                ("response_type", "code".into()),
                ("client_id", self.cfg.client_id.clone()),
                ("redirect_uri", redirect_uri.into()),
                ("scope", self.cfg.scopes.clone()),
                ("state", state.into()),
            ])
        )
    }

    /// Exchanges the code returned to `redirect_uri` for a token pair and stores it.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenPair, StepError> {
        let (access, refresh, expires_at) = token_request(
            &self.http,
            &self.cfg,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
        )
        .await?;
        self.tokens
            .store_initial(&self.cfg.connection_id, &access, &refresh, expires_at)
            .await
            .map_err(|e| StepError::transient(format!("stockage des jetons EBP : {e}")))
    }

    /// Refreshes unless another worker already replaced version `seen`.
    async fn refresh(&self, seen: i64) -> Result<TokenPair, StepError> {
        let failure: Arc<std::sync::Mutex<Option<StepError>>> = Arc::default();
        let slot = failure.clone();
        let http = self.http.clone();
        let cfg = self.cfg.clone();
        let refresh: RefreshFn = Box::new(move |refresh_token: String| {
            Box::pin(async move {
                let r = token_request(
                    &http,
                    &cfg,
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &refresh_token),
                    ],
                )
                .await;
                r.map_err(|e| {
                    let msg = e.to_string();
                    if let Ok(mut g) = slot.lock() {
                        *g = Some(e);
                    }
                    msg
                })
            })
        });
        let result = self
            .tokens
            .refresh_with(&self.cfg.connection_id, seen, refresh)
            .await;
        result.map_err(|m| {
            failure
                .lock()
                .ok()
                .and_then(|mut g| g.take())
                .unwrap_or_else(|| StepError::transient(format!("stockage des jetons EBP : {m}")))
        })
    }

    /// A pair valid for at least the refresh margin.
    async fn valid_pair(&self) -> Result<TokenPair, StepError> {
        let pair = self
            .tokens
            .current(&self.cfg.connection_id)
            .await
            .map_err(|e| StepError::transient(format!("stockage des jetons EBP : {e}")))?
            .ok_or_else(|| {
                StepError::permanent(
                    "connexion EBP non autorisée : connectez le compte EBP (OAuth) dans le profil",
                )
            })?;
        let margin = chrono::Duration::from_std(self.cfg.refresh_margin).unwrap_or_default();
        if pair.expires_at - margin <= Utc::now() {
            return self.refresh(pair.version).await;
        }
        Ok(pair)
    }

    // ------------------------------------------------------------ transport

    /// Sends one API call (gate, headers, one refresh + replay on 401) and returns the
    /// body of a success.
    async fn execute<F>(&self, build: F) -> Result<String, StepError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let bytes = self.execute_raw(build).await?;
        String::from_utf8(bytes)
            .map_err(|e| StepError::permanent(format!("EBP : réponse non UTF-8 : {e}")))
    }

    /// [`Self::execute`] returning the raw body (files of the Export API).
    async fn execute_raw<F>(&self, build: F) -> Result<Vec<u8>, StepError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        Ok(self.execute_with_status(build).await?.1)
    }

    /// [`Self::execute_raw`] with the success status (`202 Accepted` of an asynchronous
    /// import is not a `200`).
    async fn execute_with_status<F>(&self, build: F) -> Result<(StatusCode, Vec<u8>), StepError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let mut pair = self.valid_pair().await?;
        let mut replayed = false;
        loop {
            // Labels: the subscription's SHA-256 prefix (bounded, never the key).
            let sub = self.subscription_id.clone();
            let waited = std::time::Instant::now();
            self.gate
                .acquire(&self.subscription_id)
                .await
                .map_err(gate_error)?;
            metrics::histogram!("passerelle_ebp_gate_wait_seconds", "subscription" => sub.clone())
                .record(waited.elapsed().as_secs_f64());
            metrics::counter!("passerelle_ebp_calls_total", "subscription" => sub.clone())
                .increment(1);
            let resp = build()
                .bearer_auth(&pair.access_token)
                .header("ebp-subscription-key", self.cfg.subscription_key.expose())
                .header("Accept-Language", a::ACCEPT_LANGUAGE)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                metrics::counter!("passerelle_ebp_rate_limited_total", "subscription" => sub)
                    .increment(1);
            }
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.bytes().await.map_err(transport)?.to_vec();
            // A 401 from the gateway about the subscription key is not a token problem:
            // refreshing would only burn a rotation.
            if status == StatusCode::UNAUTHORIZED
                && !replayed
                && !String::from_utf8_lossy(&body)
                    .to_ascii_lowercase()
                    .contains("subscription key")
            {
                replayed = true;
                pair = self.refresh(pair.version).await?;
                continue;
            }
            if status.is_success() {
                return Ok((status, body));
            }
            let err = classify(
                status,
                retry_after.as_deref(),
                &String::from_utf8_lossy(&body),
            );
            tracing::warn!(status = status.as_u16(), error = %err, "appel EBP refusé");
            return Err(err);
        }
    }

    fn folder_url(&self, rest: &str) -> String {
        format!(
            "{}/gescom/api/v1/Folders/{}/{rest}",
            self.cfg.api_base,
            query::encode_path(&self.cfg.folder_id)
        )
    }

    /// Every page of a list endpoint (`Offset`/`Limit` ≤ 100 until `paging.total`).
    async fn get_all(&self, url: &str, params: &[(&str, String)]) -> Result<Vec<Value>, StepError> {
        let mut out = Vec::new();
        let mut offset = 0usize;
        loop {
            let mut p = params.to_vec();
            p.push(("Offset", offset.to_string()));
            p.push(("Limit", PAGE_LIMIT.to_string()));
            let full = format!("{url}?{}", query_string(&p));
            let body = self.execute(|| self.http.get(&full)).await?;
            let page: Page = serde_json::from_str(&body)
                .map_err(|e| StepError::permanent(format!("EBP : page illisible : {e}")))?;
            let n = page.results.len();
            out.extend(page.results);
            offset += n;
            match page.paging {
                Some(p) if n > 0 && offset < p.total => {}
                _ => return Ok(out),
            }
        }
    }

    fn common_params<'a>(
        columns: &[&str],
        filter: Option<&Where>,
        order_by: Option<&str>,
    ) -> Vec<(&'a str, String)> {
        let mut p = Vec::new();
        if !columns.is_empty() {
            p.push(("Columns", columns.join(",")));
        }
        if let Some(o) = order_by {
            p.push(("OrderByValue", o.to_string()));
        }
        if let Some(w) = filter {
            p.push(("WhereCondition", w.to_yaml()));
        }
        p
    }

    fn iso(d: NaiveDateTime) -> String {
        d.format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    // ------------------------------------------------------------ reads

    /// The folders of the authorised account.
    pub async fn folders(&self) -> Result<Vec<Folder>, StepError> {
        let url = format!("{}/gescom/api/v1/Folders", self.cfg.api_base);
        self.get_all(&url, &[])
            .await?
            .into_iter()
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| StepError::permanent(format!("EBP : dossier illisible : {e}")))
            })
            .collect()
    }

    /// Checks the token, the subscription key and the folder (FEATURES §3.7 "test
    /// connection"): the configured folder must be among the account's.
    pub async fn test_connection(&self) -> Result<Folder, StepError> {
        let folders = self.folders().await?;
        folders
            .into_iter()
            .find(|f| f.id == self.cfg.folder_id)
            .ok_or_else(|| {
                StepError::permanent(format!(
                    "EBP : le dossier {} n'est pas accessible avec ce compte",
                    self.cfg.folder_id
                ))
            })
    }

    /// `GenericQuery` on any table, every page. `order_by` keeps paging deterministic.
    pub async fn generic_query(
        &self,
        table: &str,
        columns: &[&str],
        filter: Option<&Where>,
        order_by: &str,
        from_modified: Option<NaiveDateTime>,
    ) -> Result<Vec<Value>, StepError> {
        let mut p = vec![("TableName", table.to_string())];
        p.extend(Self::common_params(columns, filter, Some(order_by)));
        if let Some(d) = from_modified {
            p.push(("FromModifiedDate", Self::iso(d)));
        }
        self.get_all(&self.folder_url("GenericQuery"), &p).await
    }

    /// One page of `GenericQuery` (`Offset` 0, at most `limit` ≤ 100 rows): a sample,
    /// one call (`profile ebp-check`).
    pub async fn generic_query_sample(
        &self,
        table: &str,
        columns: &[&str],
        order_by: &str,
        limit: usize,
    ) -> Result<Vec<Value>, StepError> {
        let mut p = vec![("TableName", table.to_string())];
        p.extend(Self::common_params(columns, None, Some(order_by)));
        p.push(("Offset", "0".to_string()));
        p.push(("Limit", limit.clamp(1, PAGE_LIMIT).to_string()));
        let full = format!("{}?{}", self.folder_url("GenericQuery"), query_string(&p));
        let body = self.execute(|| self.http.get(&full)).await?;
        let page: Page = serde_json::from_str(&body)
            .map_err(|e| StepError::permanent(format!("EBP : page illisible : {e}")))?;
        Ok(page.results)
    }

    /// `Clients/ExtendedQuery` (raw `Customer` rows), every page.
    pub async fn customers_extended(
        &self,
        columns: &[&str],
        filter: Option<&Where>,
        from_modified: Option<NaiveDateTime>,
    ) -> Result<Vec<Value>, StepError> {
        let mut p = Self::common_params(columns, filter, Some("Id"));
        if let Some(d) = from_modified {
            p.push(("FromModifiedDate", Self::iso(d)));
        }
        self.get_all(&self.folder_url("Clients/ExtendedQuery"), &p)
            .await
    }

    /// `Items/ItemsExtentedQuery` (sic; raw `Item` rows), every page.
    pub async fn items_extended(
        &self,
        columns: &[&str],
        filter: Option<&Where>,
        sys_modified: Option<NaiveDateTime>,
    ) -> Result<Vec<Value>, StepError> {
        let mut p = Self::common_params(columns, filter, Some("Id"));
        if let Some(d) = sys_modified {
            p.push(("SysModifiedDate", Self::iso(d)));
        }
        self.get_all(&self.folder_url("Items/ItemsExtentedQuery"), &p)
            .await
    }

    /// `Documents/SaleDocument/WithLines` over the last `duration_days` (required by EBP),
    /// every page; each row carries its lines (see [`a::LINES_KEYS`]).
    pub async fn sale_documents_with_lines(
        &self,
        duration_days: u32,
        document_type: Option<i64>,
        filter: Option<&Where>,
        sys_modified: Option<NaiveDateTime>,
    ) -> Result<Vec<Value>, StepError> {
        let mut p = vec![("Duration", duration_days.to_string())];
        if let Some(t) = document_type {
            p.push(("DocumentType", t.to_string()));
        }
        p.extend(Self::common_params(&[], filter, Some("DocumentNumber")));
        if let Some(d) = sys_modified {
            p.push(("SysModifiedDate", Self::iso(d)));
        }
        self.get_all(&self.folder_url("Documents/SaleDocument/WithLines"), &p)
            .await
    }

    /// The set-up tables the mapping screens need (7 calls at least, one per table).
    pub async fn read_configuration(&self) -> Result<EbpConfiguration, StepError> {
        Ok(EbpConfiguration {
            vat_codes: self.config_table("Vat").await?,
            // Built into EBP, not a table (no call).
            accounting_categories: a::ACCOUNTING_CATEGORIES
                .iter()
                .map(|(id, caption)| ConfigEntry {
                    id: id.to_string(),
                    caption: caption.to_string(),
                    row: serde_json::json!({ "Id": id, "Caption": caption }),
                })
                .collect(),
            settlement_modes: self.config_table("SettlementMode").await?,
            payment_types: self.config_table("PaymentType").await?,
            series: self.config_table("DocumentSerial").await?,
            warehouses: self.config_table("Storehouse").await?,
            currencies: self.config_table("CurrencyTable").await?,
            shipping: self.config_table("Shipping").await?,
        })
    }

    async fn config_table(&self, table: &str) -> Result<Vec<ConfigEntry>, StepError> {
        let rows = self.generic_query(table, &[], None, "Id", None).await?;
        Ok(rows
            .into_iter()
            .map(|row| ConfigEntry {
                id: cell(&row, "Id").unwrap_or_default(),
                caption: ["Caption", "Description", "Name"]
                    .iter()
                    .find_map(|k| non_empty(cell(&row, k)))
                    .unwrap_or_default(),
                row,
            })
            .collect())
    }

    // ------------------------------------------------------------ import models

    /// The folder's import models (`EbpSysGenericImportSettings`, one call per 100).
    pub async fn import_models(&self) -> Result<Vec<models::ImportModel>, StepError> {
        models::read_models(self).await
    }

    /// The profile's model of every file checked against the folder (read once per
    /// client; a failed read is not kept, so the next call reads again).
    pub async fn model_checks(&self) -> Result<Arc<Vec<ModelCheck>>, StepError> {
        let mut cached = self.models.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let found = self.import_models().await?;
        let checks = Arc::new(models::check(&found, &self.cfg.models, &self.cfg.format));
        *cached = Some(checks.clone());
        Ok(checks)
    }

    /// The spec of every file a batch may send: customers, addresses, payments, and the
    /// documents of the profile's kinds and of the batch. Any of them whose model is
    /// missing, of another category or unusable refuses the import before anything is
    /// sent, naming model and file (a permanent error: the run fails, nothing written).
    async fn file_specs(
        &self,
        batch: &ImportBatch,
    ) -> Result<BTreeMap<String, FileSpec>, StepError> {
        let checks = self.model_checks().await?;
        let mut kinds: Vec<DocumentKind> = if self.cfg.kinds.is_empty() {
            a::ALL_KINDS.to_vec()
        } else {
            self.cfg.kinds.clone()
        };
        kinds.extend(batch.documents.iter().map(|d| d.kind));
        let needed: HashSet<&str> = [a::CUSTOMERS_FILE, a::ADDRESSES_FILE, a::PAYMENTS_FILE]
            .into_iter()
            .chain(kinds.into_iter().map(a::document_file))
            .collect();
        let mut specs = BTreeMap::new();
        let mut refused = Vec::new();
        for c in checks.iter().filter(|c| needed.contains(c.file.as_str())) {
            match &c.outcome {
                Ok(spec) => {
                    specs.insert(c.file.clone(), spec.clone());
                }
                Err(e) => refused.push(e.clone()),
            }
        }
        if !refused.is_empty() {
            return Err(StepError::permanent(format!(
                "EBP : import refusé avant tout envoi : {}",
                refused.join(" ; ")
            )));
        }
        Ok(specs)
    }

    // ------------------------------------------------------------ import

    /// Imports a batch in one call and returns the report plus warnings.
    ///
    /// A transient failure of this call (timeout, 5xx) may come after EBP applied the
    /// files: callers must look the web orders up with `documents_for_web_orders` before
    /// importing again (FEATURES §4 step 4). An answer `202 {importId}` (or a pending status)
    /// means EBP accepted the files without applying them yet: the report carries it in
    /// `pending`, to poll with [`Self::import_status_of`].
    pub async fn import_batch(&self, batch: &ImportBatch) -> Result<ImportOutcome, StepError> {
        let mut outcome = ImportOutcome::default();
        let mut batch = batch.clone();
        batch.documents.retain(|d| {
            let ok = !d.atoosync_order.trim().is_empty()
                && d.atoosync_order.chars().count() <= a::ATOOSYNC_MAX_LEN;
            if !ok {
                outcome.report.rejected.push((
                    d.atoosync_order.clone(),
                    format!(
                        "numéro de commande web vide ou de plus de {} caractères ({})",
                        a::ATOOSYNC_MAX_LEN,
                        a::ATOOSYNC_COLUMN
                    ),
                ));
            }
            ok
        });
        if batch.customers.is_empty() && batch.documents.is_empty() {
            return Ok(outcome);
        }
        let specs = self.file_specs(&batch).await?;
        let mut files = files::write_batch_with(&batch, &|file: &str| {
            specs
                .get(file)
                .cloned()
                .unwrap_or_else(|| FileSpec::default_for(file))
        });
        if let Some(only) = &batch.only_files {
            files.retain(|f| only.contains(&f.name));
        }
        if files.is_empty() {
            return Ok(outcome);
        }
        for f in &files {
            for r in &f.replaced {
                outcome.warnings.push(format!(
                    "{} ligne {} : caractère « {} » remplacé par « {} » (hors {})",
                    f.name,
                    r.row,
                    r.character,
                    a::REPLACEMENT,
                    f.charset
                ));
            }
        }
        let shape = self.cfg.import_shape;
        let url = format!("{}{}", self.cfg.api_base, a::IMPORT_PATH);
        let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        let calls = import_request::calls(shape, files);
        let mut sent_count = 0usize;
        for call in calls {
            let sent: Vec<ImportFile> = call
                .iter()
                .map(|f| ImportFile {
                    name: f.name.clone(),
                    content: f.text.clone(),
                })
                .collect();
            let answer = self
                .execute_with_status(|| {
                    self.http.post(&url).multipart(import_request::form(
                        shape,
                        &self.cfg.folder_id,
                        &call,
                    ))
                })
                .await;
            let (status, body) = match answer {
                Ok(a) => a,
                // Earlier files were applied: they are journaled with this report, and the
                // files from this one on are sent again by a later step (after the
                // existence check), never the applied ones.
                Err(e @ StepError::Transient { .. }) if sent_count > 0 => {
                    tracing::warn!(error = %e, file = %sent[0].name, "import EBP interrompu, suite reportée");
                    set_rest(&mut outcome.report, &batch, &names[sent_count..]);
                    break;
                }
                Err(e) => return Err(e),
            };
            sent_count += call.len();
            outcome.report.files.extend(sent.iter().cloned());
            match read_import_answer(status, &body)? {
                Answer::Pending(import_id) => {
                    let web_orders = batch
                        .documents
                        .iter()
                        .filter(|d| sent.iter().any(|f| f.name == a::document_file(d.kind)))
                        .map(|d| d.atoosync_order.clone())
                        .collect();
                    outcome.import_id = Some(import_id.clone());
                    outcome.status = "Accepted".into();
                    outcome.report.pending = Some(PendingImport {
                        import_id,
                        files: sent,
                        web_orders,
                    });
                    set_rest(&mut outcome.report, &batch, &names[sent_count..]);
                    break;
                }
                Answer::Done(result) => apply_result(&mut outcome, result, &sent, &specs)?,
            }
        }
        for w in &outcome.warnings {
            tracing::warn!(warning = %w, "import EBP");
        }
        Ok(outcome)
    }

    /// The status of an import EBP accepted asynchronously (one call, never an upload):
    /// still pending, or applied with its created documents and refused rows (row errors
    /// without a key are matched to their web order through the file sent).
    pub async fn import_status_of(
        &self,
        pending: &PendingImport,
    ) -> Result<(ImportPoll, Vec<String>), StepError> {
        let url = format!("{}{}", self.cfg.api_base, a::IMPORT_STATUS_PATH);
        let (status, body) = self
            .execute_with_status(|| {
                self.http
                    .get(&url)
                    .query(&[(a::PARAM_IMPORT_ID, pending.import_id.as_str())])
            })
            .await?;
        match read_import_answer(status, &body)? {
            Answer::Pending(_) => {
                let word = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| cell(&v, "status"))
                    .unwrap_or_else(|| "Accepted".into());
                Ok((ImportPoll::Pending(word), Vec::new()))
            }
            Answer::Done(result) => {
                let mut outcome = ImportOutcome::default();
                // The files were written to the folder's models: read with the same specs
                // (the models are read once per client; unreadable: the default specs).
                let specs: BTreeMap<String, FileSpec> = match self.model_checks().await {
                    Ok(checks) => checks
                        .iter()
                        .filter_map(|c| {
                            c.outcome.as_ref().ok().map(|s| (c.file.clone(), s.clone()))
                        })
                        .collect(),
                    Err(_) => BTreeMap::new(),
                };
                apply_result(&mut outcome, result, &pending.files, &specs)?;
                for w in &outcome.warnings {
                    tracing::warn!(warning = %w, import = %pending.import_id, "import EBP");
                }
                Ok((ImportPoll::Done(outcome.report), outcome.warnings))
            }
        }
    }
}

/// Puts the files `names` of `batch` still to send in the report's rest (none: no rest).
fn set_rest(report: &mut ImportReport, batch: &ImportBatch, names: &[String]) {
    if names.is_empty() {
        return;
    }
    report.rest_is_payments = names.iter().all(|n| n == a::PAYMENTS_FILE);
    report.rest = Some(ImportBatch {
        customers: batch.customers.clone(),
        documents: batch.documents.clone(),
        only_files: Some(names.to_vec()),
    });
}

/// What `createImport` or the status call answered.
enum Answer {
    /// Accepted, not applied yet: the import id.
    Pending(String),
    /// Applied.
    Done(ImportResult),
}

/// Reads an import answer: `202` with an import id, a pending status, or a final result.
/// An accepted import without an id is a permanent error (it could be neither polled nor
/// safely sent again).
fn read_import_answer(status: StatusCode, body: &[u8]) -> Result<Answer, StepError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        StepError::permanent(format!(
            "EBP : résultat d'import illisible (HTTP {}) : {e}",
            status.as_u16()
        ))
    })?;
    let id = cell(&value, "importId").or_else(|| cell(&value, "id"));
    let word = cell(&value, "status").unwrap_or_default();
    if status == StatusCode::ACCEPTED || a::STATUS_PENDING.contains(&word.as_str()) {
        return match id {
            Some(id) if !id.trim().is_empty() => Ok(Answer::Pending(id)),
            _ => Err(StepError::permanent(
                "EBP : import accepté sans identifiant : son statut ne peut pas être suivi ; vérifier dans EBP avant de relancer (import accepted without an id)",
            )),
        };
    }
    let result: ImportResult = serde_json::from_value(value)
        .map_err(|e| StepError::permanent(format!("EBP : résultat d'import illisible : {e}")))?;
    Ok(Answer::Done(result))
}

/// The web order number of a data row of a sent documents file (`row` counts the header as
/// 1), for row errors that carry no key.
/// The file is read with the spec it was written to (its separator, qualifier and the
/// caption of the web order column).
fn key_of_row(
    sent: &[ImportFile],
    specs: &BTreeMap<String, FileSpec>,
    file: &str,
    row: usize,
) -> Option<String> {
    let f = sent.iter().find(|f| f.name == file)?;
    let spec = specs
        .get(file)
        .cloned()
        .unwrap_or_else(|| FileSpec::default_for(file));
    let t = files::parse_with(&f.content, &spec.format).ok()?;
    let i = row.checked_sub(2)?;
    if i >= t.rows.len() {
        return None;
    }
    let caption = spec.caption_of(files::D_ATOOSYNC)?;
    non_empty(Some(t.get(i, caption).to_string()))
}

fn apply_result(
    outcome: &mut ImportOutcome,
    result: ImportResult,
    sent: &[ImportFile],
    specs: &BTreeMap<String, FileSpec>,
) -> Result<(), StepError> {
    outcome.status = result.status.clone();
    outcome.import_id = result.import_id.clone();
    if result.status == a::STATUS_FAILED && result.files.is_empty() {
        return Err(StepError::permanent(format!(
            "EBP : import refusé : {}",
            result.message.unwrap_or_default()
        )));
    }
    for f in result.files {
        match a::kind_of_file(&f.file_name) {
            Some(kind) => {
                for c in f.created {
                    outcome.report.created.push(ExistingDocument {
                        atoosync_order: c.key,
                        number: c.document_number.unwrap_or_default(),
                        kind: c.document_type.and_then(a::kind_of_type).unwrap_or(kind),
                    });
                }
                for e in f.errors {
                    let key = if e.key.trim().is_empty() {
                        key_of_row(sent, specs, &f.file_name, e.row).unwrap_or_default()
                    } else {
                        e.key
                    };
                    outcome.report.rejected.push((
                        key,
                        format!("{} ligne {} : {}", f.file_name, e.row, e.message),
                    ));
                }
            }
            None => {
                for e in f.errors {
                    outcome.warnings.push(format!(
                        "{} ligne {} ({}) : {}",
                        f.file_name, e.row, e.key, e.message
                    ));
                }
            }
        }
    }
    Ok(())
}

async fn token_request(
    http: &reqwest::Client,
    cfg: &EbpConfig,
    grant: &[(&str, &str)],
) -> Result<(String, String, DateTime<Utc>), StepError> {
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    form.push(("client_id", &cfg.client_id));
    form.push(("client_secret", cfg.client_secret.expose()));
    let resp = http
        .post(format!("{}/connect/token", cfg.login_base))
        .form(&form)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    let body = resp.text().await.map_err(transport)?;
    if !status.is_success() {
        let msg = error_message(&body);
        return Err(
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                StepError::transient(format!("EBP login : HTTP {} : {msg}", status.as_u16()))
            } else if msg.contains(a::INVALID_GRANT) {
                StepError::permanent(format!(
                    "EBP login : jeton refusé ({msg}) : reconnectez le compte EBP (OAuth)"
                ))
            } else {
                StepError::permanent(format!("EBP login : HTTP {} : {msg}", status.as_u16()))
            },
        );
    }
    let t: TokenResponse = serde_json::from_str(&body)
        .map_err(|e| StepError::permanent(format!("EBP login : réponse illisible : {e}")))?;
    Ok((
        t.access_token,
        t.refresh_token,
        Utc::now() + chrono::Duration::seconds(t.expires_in),
    ))
}

#[path = "catalog.rs"]
mod catalog;
pub use catalog::EbpPricing;
#[path = "customers.rs"]
mod customers;

#[async_trait]
impl Erp for EbpClient {
    async fn items_by_references(&self, references: &[String]) -> Result<Vec<ErpItem>, StepError> {
        let mut out = Vec::new();
        for chunk in chunks(references) {
            let w = Where::in_strings("Id", &chunk);
            for row in self
                .generic_query("Item", &["Id", "Caption"], Some(&w), "Id", None)
                .await?
            {
                out.push(ErpItem {
                    id: cell(&row, "Id").unwrap_or_default(),
                    caption: cell(&row, "Caption").unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    async fn find_customers(&self, keys: &CustomerKeys) -> Result<Vec<ErpCustomer>, StepError> {
        const COLUMNS: [&str; 6] = [
            "Id",
            "Name",
            "MainInvoicingContact_Email",
            "Siren",
            "Nic",
            "IntracommunityVATNumber",
        ];
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let sirets: HashSet<String> = keys.sirets.iter().map(|s| digits(s)).collect();
        let sirens: Vec<String> = sirets
            .iter()
            .filter(|s| s.len() >= 9)
            .map(|s| s[..9].to_string())
            .collect();
        let emails: HashSet<String> = keys.emails.iter().map(|e| e.to_lowercase()).collect();
        let vats: HashSet<String> = keys.vats.iter().cloned().collect();
        // One query per chunk for the three kinds of key together (`Or`): a page of orders
        // costs one call, not three (1 call/s, 10,000/day). SIRET = Siren + Nic (§6): ask by
        // Siren, keep the exact establishments below.
        let kinds = [
            ("Siren", chunks(&sirens)),
            ("MainInvoicingContact_Email", chunks(&keys.emails)),
            ("IntracommunityVATNumber", chunks(&keys.vats)),
        ];
        let rounds = kinds.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
        let mut rows = Vec::new();
        for i in 0..rounds {
            let filters = kinds
                .iter()
                .filter_map(|(column, c)| c.get(i).map(|chunk| Where::in_strings(column, chunk)));
            let Some(w) = Where::any(filters) else {
                continue;
            };
            let found = self
                .generic_query("Customer", &COLUMNS, Some(&w), "Id", None)
                .await?;
            rows.extend(found.into_iter().filter(|r| {
                let siren = digits(&cell(r, "Siren").unwrap_or_default());
                let nic = digits(&cell(r, "Nic").unwrap_or_default());
                let by_siret = !siren.is_empty()
                    && (sirets.contains(&format!("{siren}{nic}")) || sirets.contains(&siren));
                let by_email = cell(r, "MainInvoicingContact_Email")
                    .is_some_and(|e| emails.contains(&e.to_lowercase()));
                let by_vat = cell(r, "IntracommunityVATNumber").is_some_and(|v| vats.contains(&v));
                by_siret || by_email || by_vat
            }));
        }
        let mut seen = HashSet::new();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let code = cell(&r, "Id")?;
                seen.insert(code.clone()).then(|| {
                    let siren = non_empty(cell(&r, "Siren"));
                    let nic = non_empty(cell(&r, "Nic")).unwrap_or_default();
                    ErpCustomer {
                        code,
                        name: cell(&r, "Name").unwrap_or_default(),
                        email: non_empty(cell(&r, "MainInvoicingContact_Email")),
                        siret: siren.map(|s| format!("{s}{nic}")),
                        vat_number: non_empty(cell(&r, "IntracommunityVATNumber")),
                    }
                })
            })
            .collect())
    }

    /// One `GenericQuery` on `SaleDocument` per 50 web orders:
    /// `xx_atoosync_order In [w…]` **Or** `Reference In ["Document importé n° w",
    /// "Document importé n° w (prix article différent)", …]`. The fallback covers documents
    /// imported without the custom field (EBP's own reference convention, §7); exact values
    /// rather than `Like 'Document importé n°%'` keep the answer bounded to the orders
    /// asked instead of every document ever imported.
    async fn documents_for_web_orders(
        &self,
        web_orders: &[String],
    ) -> Result<Vec<ExistingDocument>, StepError> {
        let mut out = Vec::new();
        for chunk in chunks_of(web_orders, WEB_ORDERS_PER_CALL) {
            let wanted: HashSet<&str> = chunk.iter().map(String::as_str).collect();
            let refs: Vec<String> = chunk
                .iter()
                .flat_map(|w| {
                    [
                        format!("{}{w}", a::IMPORTED_REFERENCE_PREFIX),
                        format!(
                            "{}{w}{}",
                            a::IMPORTED_REFERENCE_PREFIX,
                            a::PRICE_DIFFERS_SUFFIX
                        ),
                    ]
                })
                .collect();
            let filter = Where::in_strings(a::ATOOSYNC_COLUMN, &chunk)
                .or(Where::in_strings("Reference", &refs));
            let rows = self
                .generic_query(
                    "SaleDocument",
                    &[
                        "Id",
                        "DocumentNumber",
                        "DocumentType",
                        "Reference",
                        a::ATOOSYNC_COLUMN,
                    ],
                    Some(&filter),
                    "DocumentNumber",
                    None,
                )
                .await?;
            for r in rows {
                let key = non_empty(cell(&r, a::ATOOSYNC_COLUMN)).or_else(|| {
                    web_order_from_reference(&cell(&r, "Reference").unwrap_or_default())
                });
                let kind = cell(&r, "DocumentType")
                    .and_then(|t| t.parse::<i64>().ok())
                    .and_then(a::kind_of_type);
                if let (Some(key), Some(kind)) = (key, kind) {
                    if wanted.contains(key.as_str()) {
                        out.push(ExistingDocument {
                            atoosync_order: key,
                            number: cell(&r, "DocumentNumber").unwrap_or_default(),
                            kind,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    async fn import(&self, batch: &ImportBatch) -> Result<ImportReport, StepError> {
        Ok(self.import_batch(batch).await?.report)
    }

    async fn import_status(&self, pending: &PendingImport) -> Result<ImportPoll, StepError> {
        Ok(self.import_status_of(pending).await?.0)
    }

    /// `GenericQuery` on `StockItem` (`ItemId In` per 100 articles, `And StorehouseId In`
    /// when warehouses are given — only the first 100 warehouses), `RealStock` summed per
    /// article. Every article asked gets a level: 0 when it has no stock row.
    async fn stock_levels(
        &self,
        item_ids: &[String],
        warehouses: &[String],
    ) -> Result<Vec<StockLevel>, StepError> {
        let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut order = Vec::new();
        let houses = chunks(warehouses);
        for chunk in chunks(item_ids) {
            for id in &chunk {
                order.push(id.clone());
                totals.insert(id.clone(), Decimal::ZERO);
            }
            let mut w = Where::in_strings("ItemId", &chunk);
            if let Some(h) = houses.first() {
                w = w.and(Where::in_strings("StorehouseId", h));
            }
            let rows = self
                .generic_query(
                    "StockItem",
                    &["ItemId", "StorehouseId", "RealStock"],
                    Some(&w),
                    "ItemId",
                    None,
                )
                .await?;
            for r in rows {
                let Some(id) = cell(&r, "ItemId") else {
                    continue;
                };
                if let Some(t) = totals.get_mut(&id) {
                    *t += cell_decimal(&r, "RealStock");
                }
            }
        }
        Ok(order
            .into_iter()
            .map(|id| StockLevel {
                quantity: totals.get(&id).copied().unwrap_or_default(),
                item_id: id,
            })
            .collect())
    }

    /// `GenericQuery` on `SaleDocument` with only the chain's columns: per 100 web orders
    /// (`xx_atoosync_order In`) or, without web orders, one scan of the documents holding a
    /// web order number (`IsNotNull`) modified since the watermark, ordered by
    /// `sysModifiedDate` so a document modified during the paging moves to a later page
    /// instead of being skipped.
    async fn document_chains(&self, q: &ChainQuery) -> Result<Vec<ChainDocument>, StepError> {
        let mut columns: Vec<&str> = a::CHAIN_COLUMNS.to_vec();
        if let Some(t) = q.tracking_field.as_deref() {
            check_column(t)?;
            columns.push(t);
        }
        let since = match q.modified_since.as_deref() {
            Some(s) => Some(
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map_err(|e| {
                    StepError::permanent(format!("date de modification illisible « {s} » : {e}"))
                })?,
            ),
            None => None,
        };
        let mut rows = Vec::new();
        if q.web_orders.is_empty() {
            let filter = Where::strings(a::ATOOSYNC_COLUMN, Operator::IsNotNull, &[] as &[&str]);
            rows = self
                .generic_query(
                    "SaleDocument",
                    &columns,
                    Some(&filter),
                    "sysModifiedDate",
                    since,
                )
                .await?;
        } else {
            for chunk in chunks(&q.web_orders) {
                let filter = Where::in_strings(a::ATOOSYNC_COLUMN, &chunk);
                rows.extend(
                    self.generic_query(
                        "SaleDocument",
                        &columns,
                        Some(&filter),
                        "DocumentNumber",
                        since,
                    )
                    .await?,
                );
            }
        }
        Ok(rows
            .iter()
            .filter_map(|r| chain_document(r, q.tracking_field.as_deref()))
            .collect())
    }

    /// `GenericQuery` on `SaleDocument` per 100 web orders (`xx_atoosync_order In` and
    /// `OriginDocumentNumber IsNull`: the documents the imports created, not their later
    /// stages), with `AmountVatIncluded`: one call per 100 orders when each has one document.
    async fn imported_documents(&self, web_orders: &[String]) -> Result<Vec<ErpSide>, StepError> {
        let mut out = Vec::new();
        for chunk in chunks(web_orders) {
            let filter = Where::in_strings(a::ATOOSYNC_COLUMN, &chunk).and(Where::strings(
                "OriginDocumentNumber",
                Operator::IsNull,
                &[] as &[&str],
            ));
            let rows = self
                .generic_query(
                    "SaleDocument",
                    &[
                        "Id",
                        "DocumentNumber",
                        "DocumentType",
                        "AmountVatIncluded",
                        a::ATOOSYNC_COLUMN,
                    ],
                    Some(&filter),
                    "DocumentNumber",
                    None,
                )
                .await?;
            for r in rows {
                let kind = cell(&r, "DocumentType")
                    .and_then(|t| t.parse::<i64>().ok())
                    .and_then(a::kind_of_type);
                if let (Some(web_order), Some(kind)) =
                    (non_empty(cell(&r, a::ATOOSYNC_COLUMN)), kind)
                {
                    out.push(ErpSide {
                        web_order,
                        number: cell(&r, "DocumentNumber").unwrap_or_default(),
                        kind,
                        total_tax_incl: cell(&r, "AmountVatIncluded")
                            .map(|_| cell_decimal(&r, "AmountVatIncluded")),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn deleted_documents_since(&self, since: &str) -> Result<u32, StepError> {
        let at = NaiveDateTime::parse_from_str(since, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|e| StepError::permanent(format!("date illisible « {since} » : {e}")))?;
        // `Kind` is a uuid (F12), so no filter on it: every deletion since the cursor counts.
        // Over-approximate on purpose — a deleted article or customer also triggers the full
        // re-read, which costs calls but never misses a deleted document.
        let rows = self
            .generic_query(
                a::DELETED_TABLE,
                &["Id", "UniqueId"],
                None,
                "UniqueId",
                Some(at),
            )
            .await?;
        Ok(rows.len() as u32)
    }

    /// Export API: create the PDF export, poll its status, read the result. Never creates
    /// a second export for a failed one (EBP's CRON retries it; reference §4.1): a failed
    /// status is a transient error of this run. The bytes must start with `%PDF-`.
    async fn invoice_pdf(&self, number: &str) -> Result<Vec<u8>, StepError> {
        let base = format!("{}{}", self.cfg.api_base, a::EXPORT_BASE);
        let body = serde_json::json!({
            "kind": a::EXPORT_KIND_INVOICE,
            "entityId": number,
            "folderId": self.cfg.folder_id,
        });
        let url = format!("{base}/CreateExport/Pdf");
        let created = self.execute(|| self.http.post(&url).json(&body)).await?;
        let export_id = serde_json::from_str::<Value>(&created)
            .ok()
            .and_then(|v| cell(&v, "exportId"))
            .ok_or_else(|| {
                StepError::permanent(format!("EBP : export sans identifiant : {created}"))
            })?;
        let status_url = format!(
            "{base}/Status?exportId={}",
            query::encode_component(&export_id)
        );
        let mut polls = 0;
        loop {
            polls += 1;
            let st = self.execute(|| self.http.get(&status_url)).await?;
            let status = serde_json::from_str::<Value>(&st)
                .ok()
                .and_then(|v| cell(&v, "status"))
                .unwrap_or_default();
            if status == a::EXPORT_COMPLETED {
                break;
            }
            if !a::EXPORT_PENDING.contains(&status.as_str()) {
                return Err(StepError::transient(format!(
                    "EBP : export PDF de la facture {number} en erreur ({status}) ; EBP le relance, nouvel essai à la prochaine exécution"
                )));
            }
            if polls >= a::EXPORT_MAX_POLLS {
                return Err(StepError::transient(format!(
                    "EBP : export PDF de la facture {number} toujours en cours"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let result_url = format!(
            "{base}/Result?exportId={}",
            query::encode_component(&export_id)
        );
        let bytes = self.execute_raw(|| self.http.get(&result_url)).await?;
        if !bytes.starts_with(b"%PDF-") {
            let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into();
            return Err(StepError::permanent(format!(
                "EBP : la facture {number} n'est pas un PDF (début : « {} »)",
                head.trim()
            )));
        }
        Ok(bytes)
    }
}

/// Custom columns go into `Columns`: letters, digits and `_` only.
fn check_column(name: &str) -> Result<(), StepError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(StepError::permanent(format!(
            "nom de colonne EBP invalide : « {name} »"
        )))
    }
}

fn chain_date(row: &Value, key: &str) -> Option<NaiveDate> {
    let v = cell(row, key)?;
    NaiveDate::parse_from_str(v.get(..10)?, "%Y-%m-%d").ok()
}

/// One row of the chain read; rows without a web order number or a date are skipped.
fn chain_document(row: &Value, tracking: Option<&str>) -> Option<ChainDocument> {
    let web_order = non_empty(cell(row, a::ATOOSYNC_COLUMN))?;
    let t = cell(row, "DocumentType").and_then(|t| t.parse::<i64>().ok())?;
    let kind = match a::kind_of_type(t) {
        Some(k) => ChainKind::Stage(k),
        None if t == a::CREDIT_NOTE_TYPE => ChainKind::CreditNote,
        None => ChainKind::Other,
    };
    Some(ChainDocument {
        id: cell(row, "Id").unwrap_or_default(),
        number: cell(row, "DocumentNumber").unwrap_or_default(),
        kind,
        web_order,
        date: chain_date(row, "DocumentDate")?,
        delivery_date: chain_date(row, "DeliveryDate"),
        tracking: tracking.and_then(|f| non_empty(cell(row, f))),
        origin_number: non_empty(cell(row, "OriginDocumentNumber")),
        modified: cell(row, "sysModifiedDate").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_reference_gives_the_web_order_back() {
        assert_eq!(
            web_order_from_reference("Document importé n° W12 (prix article différent)"),
            Some("W12".into())
        );
        assert_eq!(
            web_order_from_reference("Document importé n°W12"),
            Some("W12".into())
        );
        assert_eq!(web_order_from_reference("Web 187 - John DOE"), None);
    }

    #[test]
    fn ebp_error_bodies_are_summarised() {
        let body = r#"{"title":"Validation","message":"Paramètre invalide",
            "errors":[{"errorCode":"X","errorMessage":"Limit > 100"}]}"#;
        assert_eq!(error_message(body), "Paramètre invalide ; Limit > 100");
        let e = classify(StatusCode::FORBIDDEN, None, body);
        assert!(matches!(e, StepError::Permanent(m) if m.contains("droits insuffisants")));
        let e = classify(StatusCode::TOO_MANY_REQUESTS, Some("3"), "");
        assert_eq!(
            match e {
                StepError::Transient { retry_after, .. } => retry_after,
                StepError::Permanent(_) => None,
            },
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn an_exhausted_budget_stops_the_run() {
        let resets_at = Utc::now() + chrono::Duration::hours(2);
        let e = gate_error(GateError::BudgetExhausted {
            used: 10_000,
            limit: 10_000,
            resets_at,
        });
        let StepError::Permanent(message) = e else {
            panic!("permanent expected");
        };
        assert!(message.starts_with("budget journalier d'appels EBP épuisé (10000/10000)"));
        assert!(message.contains("la prochaine exécution reprendra"));
    }

    #[test]
    fn the_gate_never_sees_the_clear_key() {
        let id = subscription_fingerprint(&Secret::new("abc-secret-key"));
        assert!(id.starts_with("ebp-sub-") && !id.contains("abc"));
        assert_eq!(id.len(), "ebp-sub-".len() + 16);
    }
}
