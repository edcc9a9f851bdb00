//! `EbpSim`: an in-process axum simulator of EBP Gestion Commerciale SaaS for tests and
//! demos (`reference/ebp-api.md` §10). One server plays the login host and the API host:
//!
//! * `GET /connect/authorize` (redirects at once with a code) and `POST /connect/token`
//!   (`authorization_code` and `refresh_token` grants; refresh tokens single-use: a reused
//!   one answers 400 `{"error":"invalid_grant"}` and is counted);
//! * `GET /gescom/api/v1/Folders`, and under `Folders/{id}/`: `GenericQuery`,
//!   `Clients/ExtendedQuery`, `Items/ItemsExtentedQuery`, `Documents/SaleDocument[/WithLines]`
//!   with `Offset`/`Limit` ≤ 100, `Columns`, `OrderByValue`, `FromModifiedDate` /
//!   `SysModifiedDate` and the `WhereCondition` YAML subset (`In`, `NotIn`, `Equal`,
//!   `Different`, `Like` with `%`/`_`, `IsNull`, `IsNotNull`, `And`/`Or`; string comparisons
//!   ignore case, like SQL Server's default collation);
//! * `POST /import/api/v1/createImport`: the multipart import, parsed with [`super::files`]
//!   and applied to the in-memory store (numbering `DE`/`CM`/`BL`/`FA` + 5 digits).
//!
//! Gateway behaviour per subscription key: 401 without the right `ebp-subscription-key`,
//! 429 above one call per `min_interval` (switchable) or past the daily budget, then the
//! injected faults (queued, or drawn with a seeded RNG), then 401 for an unknown or expired
//! bearer. Every API call is recorded so tests can assert the observed rate.

pub mod contract;
pub mod import_files;
pub mod where_condition;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use contract as a;
use import_files::{self as files, Table};
use passerelle_domain::orders::{Address, CustomerRecord, DocumentKind, ErpDocument};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use where_condition::{Logic, Operator, Where};

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct EbpSimConfig {
    /// Accepted OAuth client id.
    pub client_id: String,
    /// Accepted OAuth client secret.
    pub client_secret: String,
    /// Accepted subscription key.
    pub subscription_key: String,
    /// Folders of the account: (id, name).
    pub folders: Vec<(String, String)>,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Answer 429 to calls closer than `min_interval` (minus `rate_tolerance`).
    pub rate_limit: bool,
    /// Minimum spacing of calls (EBP: 1 s).
    pub min_interval: Duration,
    /// Network jitter tolerated below `min_interval`.
    pub rate_tolerance: Duration,
    /// Calls allowed per day (EBP: 10,000); `None` = unlimited.
    pub daily_budget: Option<u32>,
    /// Share of API calls answered 500.
    pub server_error_rate: f64,
    /// Share of API calls that hang for `timeout_sleep` (then 504).
    pub timeout_rate: f64,
    /// How long a "timeout" call hangs.
    pub timeout_sleep: Duration,
    /// Share of API calls answered 429 (with `throttle_retry_after`).
    pub throttle_rate: f64,
    /// Retry-After (seconds) of injected 429s; `None` = no header.
    pub throttle_retry_after: Option<u64>,
    /// RNG seed of the fault draws and tokens.
    pub seed: u64,
    /// How the folder rounds the VAT of its documents' footers (per rate by default, see
    /// `VAT_ROUNDING` in the EBP client's `assumptions.rs`).
    pub vat_rounding: passerelle_domain::orders::VatRounding,
    /// Whether `createImport` applies the files at once or later (see [`ImportMode`]).
    pub import_mode: ImportMode,
}

/// How the simulated Import API answers (`reference/ebp-import-api-2.md` §3 risk 2: the
/// contract is not public; the sister Export API is asynchronous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// `createImport` applies the files and answers 200 with the `StatutResultImport`.
    #[default]
    Sync,
    /// `createImport` answers **202** `{importId}` and applies nothing; `GET
    /// /import/api/v1/Status?importId=` answers `{"importId", "status": "Waiting"}` until
    /// the import has been polled `pending_polls` times **and** `min_delay` has passed
    /// since it was accepted; the poll after that applies the files and answers the
    /// result, which later polls repeat unchanged.
    Async {
        /// Polls answered "Waiting" before the import is applied.
        pending_polls: u32,
        /// Time after acceptance before the import may be applied.
        min_delay: Duration,
    },
}

impl Default for EbpSimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            subscription_key: "sim-subscription-key".into(),
            folders: vec![("298324".into(), "SIM PASSERELLE".into())],
            access_ttl: Duration::from_secs(3600),
            rate_limit: true,
            min_interval: Duration::from_secs(1),
            rate_tolerance: Duration::from_millis(20),
            daily_budget: Some(10_000),
            server_error_rate: 0.0,
            timeout_rate: 0.0,
            timeout_sleep: Duration::from_secs(5),
            throttle_rate: 0.0,
            throttle_retry_after: Some(1),
            seed: 42,
            vat_rounding: passerelle_domain::orders::VatRounding::PerRate,
            import_mode: ImportMode::Sync,
        }
    }
}

/// A fault to inject on the next API call(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with an EBP error body.
    ServerError,
    /// Hang for `timeout_sleep`, then 504.
    Timeout,
    /// HTTP 429, with `Retry-After` when given.
    TooManyRequests {
        /// Seconds.
        retry_after: Option<u64>,
    },
}

/// One API call as the gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCall {
    /// Arrival, since the simulator started.
    pub at: Duration,
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// Status answered.
    pub status: u16,
}

/// A customer of the simulated folder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimCustomer {
    /// `Customer.Id`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Main invoicing contact e-mail.
    pub email: Option<String>,
    /// Contact first name.
    pub firstname: String,
    /// Contact last name.
    pub lastname: String,
    /// SIREN (9 digits).
    pub siren: Option<String>,
    /// NIC (5 digits).
    pub nic: Option<String>,
    /// VAT number.
    pub vat_number: Option<String>,
    /// Accounting account.
    pub accounting_account: Option<String>,
    /// Family.
    pub family: Option<String>,
    /// Main invoicing address.
    pub billing: Address,
    /// Main delivery address.
    pub delivery: Address,
}

impl SimCustomer {
    /// A customer with a code and a name.
    pub fn new(code: &str, name: &str) -> Self {
        Self {
            code: code.into(),
            name: name.into(),
            ..Self::default()
        }
    }

    /// With an e-mail.
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.into());
        self
    }

    /// With a SIRET (split into SIREN + NIC).
    pub fn siret(mut self, siret: &str) -> Self {
        let (s, n) = siret.split_at(siret.len().min(9));
        self.siren = Some(s.into());
        self.nic = (!n.is_empty()).then(|| n.to_string());
        self
    }

    /// With a VAT number.
    pub fn vat(mut self, vat: &str) -> Self {
        self.vat_number = Some(vat.into());
        self
    }

    fn from_record(r: &CustomerRecord) -> Self {
        let mut c = Self::new(&r.code, &r.name);
        if let Some(s) = &r.siret {
            c = c.siret(s);
        }
        c.email = Some(r.email.clone()).filter(|e| !e.is_empty());
        c.firstname = r.firstname.clone();
        c.lastname = r.lastname.clone();
        c.vat_number = r.vat_number.clone();
        c.accounting_account = r.accounting_account.clone();
        c.family = r.family.clone();
        c
    }
}

/// A sale document of the simulated folder.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDocument {
    /// `SaleDocument.Id` (uuid).
    pub id: String,
    /// `DocumentNumber`.
    pub number: String,
    /// `Reference`.
    pub reference: String,
    /// `xx_atoosync_order` (None when the import model did not fill it).
    pub atoosync_order: Option<String>,
    /// The imported content (kind, customer, lines, payments…).
    pub document: ErpDocument,
    /// `sysModifiedDate`.
    pub modified: NaiveDateTime,
    /// `OriginDocumentNumber`: the document this one was transformed from.
    pub origin_number: Option<String>,
    /// `TransferedDocumentId`: the document this one was transformed into.
    pub transferred_to: Option<String>,
    /// A credit note (Avoir, `DocumentType` 9) cancelling `origin_number`.
    pub credit_note: bool,
    /// Custom columns (`xx_numero_suivi`…).
    pub custom: BTreeMap<String, String>,
}

/// The custom sale-document column the simulated folder has for tracking numbers.
pub const TRACKING_COLUMN: &str = "xx_numero_suivi";

/// An article with its stock per warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimItem {
    /// `Item.Id`.
    pub id: String,
    /// `Caption`.
    pub caption: String,
    /// Real stock per warehouse id.
    pub stock: BTreeMap<String, Decimal>,
    /// `sysModifiedDate`.
    pub modified: NaiveDateTime,
}

/// The files of one import call, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimImport {
    /// Folder id field.
    pub folder_id: String,
    /// (file name, model name, raw bytes).
    pub files: Vec<(String, String, Vec<u8>)>,
    /// The id answered.
    pub import_id: String,
}

/// An import accepted in [`ImportMode::Async`], applied on a later status poll.
struct QueuedImport {
    files: Vec<(String, String, Vec<u8>)>,
    accepted: Instant,
    polls: u32,
    result: Option<Value>,
}

/// `EbpSysDeletedRecord.Kind` of a deleted sale document in the simulated folder (a uuid,
/// as in a real schema; its value for sale documents is not known).
const SALE_DOCUMENT_KIND: &str = "5f0c2c52-4d3e-4b8a-9d5e-3b1f2c0a7e61";

/// The main warehouse of the simulated folder.
pub const MAIN_WAREHOUSE: &str = "DEP1";

struct Inner {
    cfg: EbpSimConfig,
    started: Instant,
    rng: StdRng,
    faults: VecDeque<Fault>,
    codes: HashMap<String, String>,
    access: HashMap<String, Instant>,
    refresh: HashMap<String, bool>,
    rejected_refresh: u32,
    code_grants: u32,
    refresh_grants: u32,
    token_seq: u64,
    customers: BTreeMap<String, SimCustomer>,
    items: BTreeMap<String, SimItem>,
    warehouses: BTreeMap<String, String>,
    documents: Vec<SimDocument>,
    counters: HashMap<DocumentKind, u32>,
    calls: Vec<SimCall>,
    last_accepted: Option<Instant>,
    day: NaiveDate,
    day_calls: u32,
    rate_rejections: u32,
    imports: Vec<SimImport>,
    queued: HashMap<String, QueuedImport>,
    status_polls: Vec<String>,
    row_failures: BTreeMap<String, String>,
    tables: BTreeMap<String, Vec<Value>>,
    credit_notes: u32,
    deleted: Vec<(String, NaiveDateTime)>,
    broken_pdfs: std::collections::BTreeSet<String>,
    exports: HashMap<String, String>,
    catalog: sim_catalog::CatalogStore,
    cust: sim_customers::CustomerStore,
    models: Vec<SimModel>,
}

type Shared = Arc<Mutex<Inner>>;

mod sim_catalog;

pub mod sim_models;
pub use sim_models::{SimEncoding, SimModel, SimModelFormat};

mod sim_customers;
pub use sim_catalog::{demo_articles, SimArticle};

mod sim_prices;
pub use sim_prices::{SimPriceRule, SimPriceThird};
pub mod sim_totals;
pub use sim_totals::{sale_totals, SaleTotals};

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulator (stopped on drop).
pub struct EbpSim {
    addr: SocketAddr,
    inner: Shared,
    task: JoinHandle<()>,
}

impl Drop for EbpSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_naive() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn iso(d: NaiveDateTime) -> String {
    d.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn s_or_null(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::String)
}

fn ebp_error(status: StatusCode, title: &str, message: &str) -> Response {
    let body = json!({
        "title": title,
        "message": message,
        "errorType": title,
        "errors": [ { "errorCode": title, "errorMessage": message } ],
        "origin": "EbpSim",
        "systemMessage": null
    });
    (status, Json(body)).into_response()
}

fn address_json(prefix: &str, ad: &Address, m: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Value| {
        m.insert(format!("{prefix}_{k}"), v);
    };
    put(
        "ThirdName",
        json!(format!("{} {}", ad.lastname, ad.firstname).trim()),
    );
    put("Address1", json!(ad.address1));
    put("Address2", s_or_null(&ad.address2));
    put("ZipCode", json!(ad.postcode));
    put("City", json!(ad.city));
    put("State", s_or_null(&ad.state));
    put("CountryIsoCode", json!(ad.country_iso));
}

impl Inner {
    fn customer_row(c: &SimCustomer) -> Value {
        let mut m = Map::new();
        m.insert("Id".into(), json!(c.code));
        m.insert("Name".into(), json!(c.name));
        m.insert("Type".into(), json!(0));
        m.insert("ActiveState".into(), json!(0));
        m.insert("MainInvoicingContact_Email".into(), s_or_null(&c.email));
        m.insert("MainInvoicingContact_FirstName".into(), json!(c.firstname));
        m.insert("MainInvoicingContact_Name".into(), json!(c.lastname));
        m.insert("Siren".into(), s_or_null(&c.siren));
        m.insert("Nic".into(), s_or_null(&c.nic));
        m.insert("IntracommunityVATNumber".into(), s_or_null(&c.vat_number));
        m.insert("Accounts_Account".into(), s_or_null(&c.accounting_account));
        m.insert("FamilyId".into(), s_or_null(&c.family));
        address_json("MainInvoicingAddress", &c.billing, &mut m);
        address_json("MainDeliveryAddress", &c.delivery, &mut m);
        m.insert("sysModifiedDate".into(), json!(iso(now_naive())));
        Value::Object(m)
    }

    /// The folder's VAT rates (its `Vat` table: code → rate in percent).
    fn vat_rates(&self) -> BTreeMap<String, Decimal> {
        self.tables
            .get("Vat")
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let id = v.get("Id")?.as_str()?.to_string();
                let rate = v.get("Rate")?.to_string().parse::<Decimal>().ok()?;
                Some((id, rate))
            })
            .collect()
    }

    /// A document's footer totals under the folder's rule (checked at import, so known).
    fn totals(&self, d: &SimDocument) -> SaleTotals {
        sale_totals(&d.document, &self.vat_rates(), self.cfg.vat_rounding).unwrap_or_default()
    }

    fn document_row(&self, d: &SimDocument) -> Value {
        let doc = &d.document;
        let totals = self.totals(d);
        let mut m = Map::new();
        m.insert("Id".into(), json!(d.id));
        if d.credit_note {
            m.insert("DocumentType".into(), json!(a::CREDIT_NOTE_TYPE));
            m.insert("NumberPrefix".into(), json!("AV"));
        } else {
            m.insert("DocumentType".into(), json!(a::document_type(doc.kind)));
            m.insert("NumberPrefix".into(), json!(a::number_prefix(doc.kind)));
        }
        m.insert("DocumentNumber".into(), json!(d.number));
        m.insert("OriginDocumentNumber".into(), s_or_null(&d.origin_number));
        m.insert("TransferedDocumentId".into(), s_or_null(&d.transferred_to));
        m.insert(TRACKING_COLUMN.into(), Value::Null);
        for (k, v) in &d.custom {
            m.insert(k.clone(), json!(v));
        }
        m.insert(
            "DocumentDate".into(),
            json!(format!("{}T00:00:00", doc.date.format("%Y-%m-%d"))),
        );
        m.insert("CustomerId".into(), json!(doc.customer_code));
        m.insert("CustomerName".into(), json!(doc.customer_name));
        m.insert("Reference".into(), json!(d.reference));
        m.insert(a::ATOOSYNC_COLUMN.into(), s_or_null(&d.atoosync_order));
        m.insert("SerialId".into(), s_or_null(&doc.series));
        m.insert("StorehouseId".into(), s_or_null(&doc.warehouse));
        m.insert("ShippingId".into(), s_or_null(&doc.shipping_id));
        m.insert(
            "ShippingAmountVatExcluded".into(),
            num(doc.shipping_amount_tax_excl),
        );
        m.insert("ShippingVatId".into(), s_or_null(&doc.shipping_vat_code));
        m.insert("PriceWithTaxBased".into(), json!(doc.tax_inclusive));
        m.insert("AmountVatExcluded".into(), num(totals.amount_vat_excluded));
        m.insert("VatAmount".into(), num(totals.vat_amount));
        m.insert("AmountVatIncluded".into(), num(totals.amount_vat_included));
        for (i, d) in totals.details.iter().enumerate() {
            let k = |f: &str| format!("DetailVatAmount{i}_{f}");
            m.insert(k("DetailVatId"), json!(d.vat_id));
            m.insert(k("DetailVatRate"), num(d.rate));
            m.insert(k("DetailAmountVatExcluded"), num(d.amount_vat_excluded));
            m.insert(k("DetailVatAmount"), num(d.vat_amount));
            m.insert(k("DetailAmountVatIncluded"), num(d.amount_vat_included));
        }
        m.insert("CurrencyId".into(), json!(doc.currency));
        m.insert(
            "DeliveryDate".into(),
            doc.delivery_date.map_or(Value::Null, |d| {
                json!(format!("{}T00:00:00", d.format("%Y-%m-%d")))
            }),
        );
        address_json("InvoicingAddress", &doc.billing, &mut m);
        address_json("DeliveryAddress", &doc.delivery, &mut m);
        m.insert("sysCreatedDate".into(), json!(iso(d.modified)));
        m.insert("sysModifiedDate".into(), json!(iso(d.modified)));
        Value::Object(m)
    }

    fn line_rows(d: &SimDocument) -> Vec<Value> {
        d.document
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "DocumentId": d.id,
                    "LineOrder": i + 1,
                    "LineType": 0,
                    "ItemId": l.item_id,
                    "Description": l.description,
                    "DescriptionClear": l.description,
                    "Quantity": num(l.quantity),
                    "SalePriceVatExcluded": num(l.unit_price),
                    "UnitDiscountRate": num(l.discount_percent),
                    "NetAmountVatExcludedWithDiscount": num(l.net_amount()),
                    "VatId": l.vat_code,
                    "TrackingNumber": l.lot,
                })
            })
            .collect()
    }

    fn table(&self, name: &str) -> Option<Vec<Value>> {
        let rows = match name {
            "Customer" => self
                .customers
                .values()
                .map(|c| {
                    let mut row = Self::customer_row(c);
                    self.cust.complete(c, &mut row);
                    row
                })
                .collect(),
            "Item" => self
                .items
                .values()
                .map(|i| {
                    let mut row = json!({
                        "Id": i.id, "Caption": i.caption, "ItemType": 0, "ActiveState": 0,
                        "AllowPublishOnWeb": true,
                        "RealStock": num(i.stock.values().copied().sum()),
                        "sysModifiedDate": iso(i.modified),
                    });
                    self.catalog.complete(i, &mut row);
                    row
                })
                .collect(),
            "StockItem" => self
                .items
                .values()
                .flat_map(|i| {
                    i.stock.iter().map(move |(w, q)| {
                        json!({
                            "ItemId": i.id, "StorehouseId": w, "RealStock": num(*q),
                            "VirtualStock": num(*q), "sysModifiedDate": iso(i.modified),
                        })
                    })
                })
                .collect(),
            "Storehouse" => self
                .warehouses
                .iter()
                .map(|(id, caption)| {
                    json!({ "Id": id, "Caption": caption, "Main": id == MAIN_WAREHOUSE,
                            "Asleep": false })
                })
                .collect(),
            "SaleDocument" => self
                .documents
                .iter()
                .map(|d| self.document_row(d))
                .collect(),
            "SaleDocumentLine" => self.documents.iter().flat_map(Self::line_rows).collect(),
            "EbpSysDeletedRecord" => self
                .deleted
                .iter()
                .enumerate()
                .map(|(i, (id, at))| {
                    // `Kind` is a uuid in a real schema (not a table name).
                    json!({"Id": id, "UniqueId": id, "Kind": SALE_DOCUMENT_KIND, "Version": i + 1,
                           "sysModifiedDate": iso(*at)})
                })
                .collect(),
            "EbpSysGenericImportSettings" => self.models.iter().map(SimModel::row).collect(),
            other => return self.tables.get(other).cloned(),
        };
        Some(rows)
    }
}

fn default_tables() -> BTreeMap<String, Vec<Value>> {
    let mut t = BTreeMap::new();
    t.insert(
        "Vat".into(),
        vec![
            json!({"Id": "TN", "Caption": "TVA normale 20 %", "Rate": 20, "Inactive": false}),
            json!({"Id": "TR", "Caption": "TVA réduite 5,5 %", "Rate": 5.5, "Inactive": false}),
            json!({"Id": "TI", "Caption": "TVA intermédiaire 10 %", "Rate": 10, "Inactive": false}),
            json!({"Id": "EX", "Caption": "Exonéré", "Rate": 0, "Inactive": false}),
            // The codes of the demo profile's tax mapping (ops/deploy/profile.sample.toml).
            json!({"Id": "TVA20", "Caption": "TVA 20 %", "Rate": 20, "Inactive": false}),
            json!({"Id": "TVA10", "Caption": "TVA 10 %", "Rate": 10, "Inactive": false}),
            json!({"Id": "TVA5.5", "Caption": "TVA 5,5 %", "Rate": 5.5, "Inactive": false}),
            json!({"Id": "TVA2.1", "Caption": "TVA 2,1 %", "Rate": 2.1, "Inactive": false}),
            json!({"Id": "EXO", "Caption": "Exonéré (boutique)", "Rate": 0, "Inactive": false}),
        ],
    );
    t.insert(
        "SettlementMode".into(),
        vec![
            json!({"Id": "CPT", "Caption": "Comptant"}),
            json!({"Id": "30J", "Caption": "30 jours net"}),
        ],
    );
    t.insert(
        "PaymentType".into(),
        vec![
            json!({"Id": "CB", "Caption": "Carte bancaire"}),
            json!({"Id": "VIR", "Caption": "Virement"}),
            json!({"Id": "CHQ", "Caption": "Chèque"}),
        ],
    );
    t.insert(
        "DocumentSerial".into(),
        vec![
            json!({"Id": "WB", "Caption": "Web", "ApplyToSale": true, "IsDefaultForSale": false}),
            json!({"Id": "GN", "Caption": "Générale", "ApplyToSale": true, "IsDefaultForSale": true}),
        ],
    );
    t.insert(
        "CurrencyTable".into(),
        vec![
            json!({"Id": "EUR", "Caption": "Euro"}),
            json!({"Id": "USD", "Caption": "Dollar US"}),
        ],
    );
    t.insert(
        "Shipping".into(),
        vec![
            json!({"Id": "COLI", "Caption": "Colissimo", "VatId": "TN"}),
            json!({"Id": "CHRONO", "Caption": "Chronopost", "VatId": "TN"}),
        ],
    );
    t
}

// ---------------------------------------------------------------- filtering

/// A cell of a JSON row as text (`None` when absent or not a scalar).
fn cell(row: &Value, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept).
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn yaml_str(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// SQL `LIKE` with `%` and `_`, case-insensitive.
pub fn like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&t, &p)
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<Decimal>(), b.parse::<Decimal>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// A WhereCondition prepared once per query: `In` / `Equal` lists become hash sets of
/// normalised values (numbers by value, text case-insensitively, as `compare` does), so a
/// query over many rows costs one lookup per row instead of one comparison per value.
enum Prepared<'a> {
    Logic(Logic, Box<Prepared<'a>>, Box<Prepared<'a>>),
    Set {
        column: &'a str,
        negate: bool,
        set: std::collections::HashSet<String>,
    },
    Other(&'a Where),
}

fn norm(v: &str) -> String {
    match v.parse::<Decimal>() {
        Ok(d) => d.normalize().to_string(),
        Err(_) => v.to_lowercase(),
    }
}

fn prepare(w: &Where) -> Prepared<'_> {
    match w {
        Where::ImbricationFilter {
            operator,
            left,
            right,
        } => Prepared::Logic(*operator, Box::new(prepare(left)), Box::new(prepare(right))),
        Where::CustomFilter {
            column,
            operator,
            value,
            ..
        } => {
            let values = || value.iter().map(|v| norm(&yaml_str(v)));
            match operator {
                Operator::In | Operator::NotIn => Prepared::Set {
                    column,
                    negate: matches!(operator, Operator::NotIn),
                    set: values().collect(),
                },
                Operator::Equal | Operator::Different => Prepared::Set {
                    column,
                    negate: matches!(operator, Operator::Different),
                    set: values().take(1).collect(),
                },
                _ => Prepared::Other(w),
            }
        }
    }
}

fn eval_prepared(p: &Prepared<'_>, row: &Value) -> Result<bool, String> {
    match p {
        Prepared::Logic(op, l, r) => {
            let (l, r) = (eval_prepared(l, row)?, eval_prepared(r, row)?);
            Ok(match op {
                Logic::And => l && r,
                Logic::Or => l || r,
            })
        }
        Prepared::Set {
            column,
            negate,
            set,
        } => {
            if row.get(*column).is_none() {
                return Err(format!("colonne inconnue : {column}"));
            }
            let hit = cell(row, column)
                .filter(|s| !s.is_empty())
                .is_some_and(|c| set.contains(&norm(&c)));
            Ok(hit != *negate)
        }
        Prepared::Other(w) => eval(w, row),
    }
}

fn eval(w: &Where, row: &Value) -> Result<bool, String> {
    match w {
        Where::ImbricationFilter {
            operator,
            left,
            right,
        } => {
            let l = eval(left, row)?;
            let r = eval(right, row)?;
            Ok(match operator {
                Logic::And => l && r,
                Logic::Or => l || r,
            })
        }
        Where::CustomFilter {
            column,
            operator,
            value,
            ..
        } => {
            if row.get(column).is_none() {
                return Err(format!("colonne inconnue : {column}"));
            }
            let cellv = cell(row, column).filter(|s| !s.is_empty());
            let values: Vec<String> = value.iter().map(yaml_str).collect();
            let eq = |v: &String| {
                cellv
                    .as_deref()
                    .is_some_and(|c| compare(c, v) == std::cmp::Ordering::Equal)
            };
            let first = values.first();
            let ord = |f: fn(std::cmp::Ordering) -> bool| {
                Ok(match (cellv.as_deref(), first) {
                    (Some(c), Some(v)) => f(compare(c, v)),
                    _ => false,
                })
            };
            match operator {
                Operator::In => Ok(values.iter().any(eq)),
                Operator::NotIn => Ok(!values.iter().any(eq)),
                Operator::Equal => Ok(first.is_some_and(eq)),
                Operator::Different => Ok(!first.is_some_and(eq)),
                Operator::Like => Ok(match (cellv.as_deref(), first) {
                    (Some(c), Some(p)) => like(c, p),
                    _ => false,
                }),
                Operator::IsNull => Ok(cellv.is_none()),
                Operator::IsNotNull => Ok(cellv.is_some()),
                Operator::Lower => ord(std::cmp::Ordering::is_lt),
                Operator::LowerOrEqual => ord(std::cmp::Ordering::is_le),
                Operator::Upper => ord(std::cmp::Ordering::is_gt),
                Operator::UpperOrEqual => ord(std::cmp::Ordering::is_ge),
                Operator::Between => Err("opérateur Between non simulé".into()),
            }
        }
    }
}

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Filters, sorts, pages and projects rows; `Err` is a 400 message.
fn select(
    rows: Vec<Value>,
    p: &Params,
    modified_param: &str,
    extra: Option<&dyn Fn(&mut Value)>,
) -> Result<Value, String> {
    let offset: usize = p
        .get("Offset")
        .unwrap_or("0")
        .parse()
        .map_err(|_| "Offset invalide")?;
    let limit: usize = p
        .get("Limit")
        .unwrap_or("100")
        .parse()
        .map_err(|_| "Limit invalide")?;
    if limit == 0 || limit > 100 {
        return Err(format!(
            "Limit doit être compris entre 1 et 100 (reçu {limit})"
        ));
    }
    let filter = p.get("WhereCondition").map(Where::from_yaml).transpose()?;
    let prepared = filter.as_ref().map(prepare);
    let since = p.get(modified_param).map(str::to_string);
    let mut out = Vec::new();
    for row in rows {
        if let Some(f) = &prepared {
            if !eval_prepared(f, &row)? {
                continue;
            }
        }
        if let Some(s) = &since {
            if cell(&row, "sysModifiedDate").unwrap_or_default().as_str() < s.as_str() {
                continue;
            }
        }
        out.push(row);
    }
    if let Some(col) = p.get("OrderByValue") {
        let col = col.to_string();
        out.sort_by(|x, y| {
            compare(
                &cell(x, &col).unwrap_or_default(),
                &cell(y, &col).unwrap_or_default(),
            )
        });
    }
    let total = out.len();
    let columns: Vec<String> = p
        .all("Columns")
        .iter()
        .flat_map(|c| c.split(','))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if let (Some(first), false) = (out.first(), columns.is_empty()) {
        if let Some(bad) = columns
            .iter()
            .find(|c| first.get(c.replace('.', "_").as_str()).is_none())
        {
            return Err(format!("colonne inconnue : {bad}"));
        }
    }
    let page: Vec<Value> = out
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|mut row| {
            if let Some(f) = extra {
                f(&mut row);
            }
            if columns.is_empty() {
                return row;
            }
            let mut m = Map::new();
            for c in &columns {
                let k = c.replace('.', "_");
                m.insert(k.clone(), row.get(&k).cloned().unwrap_or(Value::Null));
            }
            if let Some(l) = row.get("Lines") {
                m.insert("Lines".into(), l.clone());
            }
            Value::Object(m)
        })
        .collect();
    Ok(json!({
        "results": page,
        "paging": { "total": total, "returned": page.len(), "offset": offset, "limit": limit }
    }))
}

// ---------------------------------------------------------------- multipart

struct Part {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

fn disposition_param(header: &str, key: &str) -> Option<String> {
    let pat = format!("{key}=\"");
    let start = header.find(&pat)? + pat.len();
    let end = header[start..].find('"')? + start;
    Some(header[start..end].to_string())
}

fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("multipart/form-data attendu (boundary absent)")?;
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, &delim, 0).ok_or("multipart vide")? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        let head_start = pos + 2;
        let head_end =
            find(body, b"\r\n\r\n", head_start).ok_or("en-têtes de partie illisibles")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]).to_string();
        let data_start = head_end + 4;
        let next = find(body, &delim, data_start).ok_or("partie non terminée")?;
        let data_end = next.saturating_sub(2).max(data_start);
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or_default();
        parts.push(Part {
            name: disposition_param(disp, "name").unwrap_or_default(),
            filename: disposition_param(disp, "filename"),
            data: body[data_start..data_end].to_vec(),
        });
        pos = next + delim.len();
    }
    Ok(parts)
}

// ---------------------------------------------------------------- import

fn file_result(name: &str, model: &str, rows: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("fileName".into(), json!(name));
    m.insert("model".into(), json!(model));
    m.insert("rowsRead".into(), json!(rows));
    m.insert("created".into(), json!([]));
    m.insert("errors".into(), json!([]));
    m
}

fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    if let Some(Value::Array(arr)) = m.get_mut(key) {
        arr.push(v);
    }
}

fn required_columns(name: &str) -> Vec<String> {
    match name {
        a::CUSTOMERS_FILE => vec![files::C_CODE.into(), files::C_NAME.into()],
        a::ADDRESSES_FILE => vec![files::AD_CUSTOMER.into(), files::AD_TYPE.into()],
        a::PAYMENTS_FILE => vec![
            files::P_ATOOSYNC.into(),
            files::P_DATE.into(),
            files::P_AMOUNT.into(),
        ],
        _ => vec![
            files::D_DATE.into(),
            files::D_CUSTOMER.into(),
            files::L_ITEM.into(),
            files::L_QUANTITY.into(),
        ],
    }
}

impl Inner {
    fn next_number(&mut self, kind: DocumentKind) -> String {
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        format!("{}{:05}", a::number_prefix(kind), n)
    }

    fn apply_file(&mut self, name: &str, t: &Table, out: &mut Map<String, Value>) {
        let err = |out: &mut Map<String, Value>, row: usize, key: &str, msg: String| {
            push(
                out,
                "errors",
                json!({"row": row, "key": key, "message": msg}),
            );
        };
        match name {
            a::CUSTOMERS_FILE => {
                for (i, c) in files::read_customers(t).into_iter().enumerate() {
                    if c.code.trim().is_empty() || c.name.trim().is_empty() {
                        err(
                            out,
                            i + 2,
                            &c.code,
                            "code client et nom obligatoires".into(),
                        );
                        continue;
                    }
                    let mut sc = SimCustomer::from_record(&c);
                    if let Some(old) = self.customers.get(&c.code) {
                        sc.billing = old.billing.clone();
                        sc.delivery = old.delivery.clone();
                    }
                    self.customers.insert(c.code.clone(), sc);
                    push(out, "created", json!({"key": c.code, "rows": [i + 2]}));
                }
            }
            a::ADDRESSES_FILE => {
                for (i, r) in files::read_addresses(t).into_iter().enumerate() {
                    match r {
                        Err(e) => err(out, i + 2, "", e),
                        Ok(r) => match self.customers.get_mut(&r.customer) {
                            None => err(
                                out,
                                i + 2,
                                &r.customer,
                                format!("client inconnu : {}", r.customer),
                            ),
                            Some(c) => {
                                let kind = if r.billing {
                                    c.billing = r.address;
                                    files::BILLING
                                } else {
                                    c.delivery = r.address;
                                    files::DELIVERY
                                };
                                push(
                                    out,
                                    "created",
                                    json!({"key": format!("{}/{kind}", r.customer), "rows": [i + 2]}),
                                );
                            }
                        },
                    }
                }
            }
            a::PAYMENTS_FILE => {
                for (i, r) in files::read_payments(t).into_iter().enumerate() {
                    match r {
                        Err(e) => err(out, i + 2, "", e),
                        Ok((key, p)) => match self
                            .documents
                            .iter_mut()
                            .rev()
                            .find(|d| d.atoosync_order.as_deref() == Some(key.as_str()))
                        {
                            None => err(
                                out,
                                i + 2,
                                &key,
                                format!("aucun document pour la commande web {key}"),
                            ),
                            Some(d) => {
                                d.document.payments.push(p);
                                push(out, "created", json!({"key": key, "rows": [i + 2]}));
                            }
                        },
                    }
                }
            }
            _ => {
                let Some(kind) = a::kind_of_file(name) else {
                    err(out, 1, "", format!("fichier inconnu : {name}"));
                    return;
                };
                for pd in files::read_documents(kind, t) {
                    let first = pd.rows.first().copied().unwrap_or(2);
                    if let Some(message) = self.row_failures.get(pd.key.trim()) {
                        err(out, first, &pd.key, message.clone());
                        continue;
                    }
                    match self.check_document(pd.document) {
                        Err(e) => err(out, first, &pd.key, e),
                        Ok(doc) => {
                            let number = match &doc.number {
                                Some(n) => n.clone(),
                                None => self.next_number(kind),
                            };
                            let key = doc.atoosync_order.trim().to_string();
                            let reference = if doc.reference.trim().is_empty() {
                                format!("{}{key}", a::IMPORTED_REFERENCE_PREFIX)
                            } else {
                                doc.reference.clone()
                            };
                            self.documents.push(SimDocument {
                                id: uuid::Uuid::new_v4().to_string(),
                                number: number.clone(),
                                reference,
                                atoosync_order: (!key.is_empty()).then(|| key.clone()),
                                document: doc,
                                modified: now_naive(),
                                origin_number: None,
                                transferred_to: None,
                                credit_note: false,
                                custom: BTreeMap::new(),
                            });
                            push(
                                out,
                                "created",
                                json!({"key": key, "documentNumber": number,
                                       "documentType": a::document_type(kind), "rows": pd.rows}),
                            );
                        }
                    }
                }
            }
        }
    }

    fn check_document(&self, doc: Result<ErpDocument, String>) -> Result<ErpDocument, String> {
        let doc = doc?;
        if !self.customers.contains_key(&doc.customer_code) {
            return Err(format!("client inconnu : {}", doc.customer_code));
        }
        if let Some(n) = &doc.number {
            if self.documents.iter().any(|d| &d.number == n) {
                return Err(format!("numéro de document déjà utilisé : {n}"));
            }
        }
        if doc.atoosync_order.chars().count() > a::ATOOSYNC_MAX_LEN {
            return Err(format!(
                "{} : plus de {} caractères",
                a::ATOOSYNC_COLUMN,
                a::ATOOSYNC_MAX_LEN
            ));
        }
        for (i, l) in doc.lines.iter().enumerate() {
            if !self.items.contains_key(&l.item_id) {
                return Err(format!("article inconnu : {} (ligne {})", l.item_id, i + 1));
            }
            if l.quantity.is_zero() {
                return Err(format!("quantité nulle (ligne {})", i + 1));
            }
        }
        // Unknown VAT codes, or more rates than the footer's slots, are refused.
        sale_totals(&doc, &self.vat_rates(), self.cfg.vat_rounding)?;
        Ok(doc)
    }

    fn import(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let parts = match parse_multipart(ct, body) {
            Ok(p) => p,
            Err(e) => return ebp_error(StatusCode::BAD_REQUEST, "InvalidMultipart", &e),
        };
        let text = |n: &str| {
            parts
                .iter()
                .find(|p| p.name == n && p.filename.is_none())
                .map(|p| String::from_utf8_lossy(&p.data).to_string())
        };
        let folder = text(a::FIELD_FOLDER_ID).unwrap_or_default();
        if !self.cfg.folders.iter().any(|(id, _)| *id == folder) {
            return ebp_error(
                StatusCode::NOT_FOUND,
                "FolderNotFound",
                &format!("dossier introuvable : {folder}"),
            );
        }
        // Per-file shape (category + model + one file) or the all-files one.
        let received: Vec<(String, String, Vec<u8>)> = match text(a::FIELD_CATEGORY) {
            Some(category) => {
                let files: Vec<&Part> = parts
                    .iter()
                    .filter(|p| p.name == a::FIELD_FILE && p.filename.is_some())
                    .collect();
                let [file] = files.as_slice() else {
                    return ebp_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidFile",
                        "un import porte exactement un fichier",
                    );
                };
                let name = file.filename.clone().unwrap_or_default();
                if a::category(&name) != Some(category.as_str()) {
                    return ebp_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidCategory",
                        &format!("la catégorie « {category} » ne correspond pas au fichier {name}"),
                    );
                }
                let model = text(a::FIELD_MODEL_NAME).unwrap_or_default();
                vec![(name, model, file.data.clone())]
            }
            None => {
                let models: BTreeMap<String, String> = text(a::FIELD_MODELS)
                    .and_then(|m| serde_json::from_str(&m).ok())
                    .unwrap_or_default();
                parts
                    .iter()
                    .filter(|p| p.name == a::FIELD_FILES)
                    .map(|p| {
                        let name = p.filename.clone().unwrap_or_default();
                        let model = models.get(&name).cloned().unwrap_or_default();
                        (name, model, p.data.clone())
                    })
                    .collect()
            }
        };
        let import_id = uuid::Uuid::new_v4().to_string();
        self.imports.push(SimImport {
            folder_id: folder,
            files: received.clone(),
            import_id: import_id.clone(),
        });
        match self.cfg.import_mode {
            ImportMode::Sync => Json(self.apply_import(&import_id, &received)).into_response(),
            ImportMode::Async { .. } => {
                self.queued.insert(
                    import_id.clone(),
                    QueuedImport {
                        files: received,
                        accepted: Instant::now(),
                        polls: 0,
                        result: None,
                    },
                );
                (StatusCode::ACCEPTED, Json(json!({ "importId": import_id }))).into_response()
            }
        }
    }

    /// Applies the files of one import in the order received and returns its
    /// `StatutResultImport`.
    fn apply_import(&mut self, import_id: &str, received: &[(String, String, Vec<u8>)]) -> Value {
        let mut results = Vec::new();
        let (mut created, mut errors) = (0usize, 0usize);
        for (name, model, data) in received {
            let mut out = file_result(name, model, 0);
            // The file is read with the named model of the folder (its own definition).
            let read =
                sim_models::model_for(&self.models, name, model).and_then(|m| m.format.read(data));
            match read {
                Err(e) => push(
                    &mut out,
                    "errors",
                    json!({"row": 1, "key": "", "message": e}),
                ),
                Ok(t) => {
                    out.insert("rowsRead".into(), json!(t.rows.len()));
                    let missing = t.missing(&required_columns(name));
                    if missing.is_empty() {
                        self.apply_file(name, &t, &mut out);
                    } else {
                        push(
                            &mut out,
                            "errors",
                            json!({"row": 1, "key": "",
                                   "message": format!("colonnes manquantes : {}", missing.join(", "))}),
                        );
                    }
                }
            }
            created += out
                .get("created")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            errors += out
                .get("errors")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            results.push(Value::Object(out));
        }
        let status = match (created, errors) {
            (_, 0) => a::STATUS_COMPLETED,
            (0, _) => a::STATUS_FAILED,
            _ => a::STATUS_COMPLETED_WITH_ERRORS,
        };
        json!({
            "importId": import_id,
            "status": status,
            "files": results,
        })
    }

    /// `GET /import/api/v1/Status?importId=`: "Waiting" until the import is due (see
    /// [`ImportMode::Async`]), then its result, applied once.
    fn import_status(&mut self, uri: &Uri) -> Response {
        let q: HashMap<String, String> = Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
        let Some(id) = q.get(a::PARAM_IMPORT_ID).cloned() else {
            return ebp_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "importId obligatoire",
            );
        };
        self.status_polls.push(id.clone());
        let (pending_polls, min_delay) = match self.cfg.import_mode {
            ImportMode::Async {
                pending_polls,
                min_delay,
            } => (pending_polls, min_delay),
            ImportMode::Sync => (0, Duration::ZERO),
        };
        let Some(q) = self.queued.get_mut(&id) else {
            return ebp_error(StatusCode::NOT_FOUND, "ImportNotFound", "import inconnu");
        };
        if let Some(r) = &q.result {
            return Json(r.clone()).into_response();
        }
        q.polls += 1;
        if q.polls <= pending_polls || q.accepted.elapsed() < min_delay {
            return Json(json!({ "importId": id, "status": "Waiting" })).into_response();
        }
        let files = q.files.clone();
        let result = self.apply_import(&id, &files);
        if let Some(q) = self.queued.get_mut(&id) {
            q.result = Some(result.clone());
        }
        Json(result).into_response()
    }
}

// ---------------------------------------------------------------- handlers

enum Step {
    Done(Response),
    Hang(Duration),
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    format!("/?{text}")
        .parse::<Uri>()
        .ok()
        .and_then(|u| Query::<HashMap<String, String>>::try_from_uri(&u).ok())
        .map(|q| q.0)
        .unwrap_or_default()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

impl Inner {
    fn new_token(&mut self, kind: &str) -> String {
        self.token_seq += 1;
        let r: u64 = self.rng.random();
        format!("{kind}-{}-{r:016x}", self.token_seq)
    }

    fn issue(&mut self) -> Response {
        let access = self.new_token("at");
        let refresh = self.new_token("rt");
        self.access
            .insert(access.clone(), Instant::now() + self.cfg.access_ttl);
        self.refresh.insert(refresh.clone(), false);
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.cfg.access_ttl.as_secs(),
            "refresh_token": refresh,
            "scope": "openid profile offline_access",
        }))
        .into_response()
    }

    fn token(&mut self, body: &[u8]) -> Response {
        let f = form(body);
        let g = |k: &str| f.get(k).cloned().unwrap_or_default();
        if g("client_id") != self.cfg.client_id || g("client_secret") != self.cfg.client_secret {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        match g("grant_type").as_str() {
            "authorization_code" => {
                self.code_grants += 1;
                match self.codes.remove(&g("code")) {
                    Some(redirect) if redirect == g("redirect_uri") => self.issue(),
                    _ => oauth_error(StatusCode::BAD_REQUEST, a::INVALID_GRANT),
                }
            }
            "refresh_token" => {
                self.refresh_grants += 1;
                match self.refresh.get_mut(&g("refresh_token")) {
                    Some(used) if !*used => {
                        *used = true;
                        self.issue()
                    }
                    _ => {
                        self.rejected_refresh += 1;
                        oauth_error(StatusCode::BAD_REQUEST, a::INVALID_GRANT)
                    }
                }
            }
            _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        }
    }

    fn new_code(&mut self, redirect_uri: &str) -> String {
        let code = self.new_token("code");
        self.codes.insert(code.clone(), redirect_uri.to_string());
        code
    }

    /// Gateway checks; `None` lets the call through to the API.
    fn gateway(&mut self, headers: &HeaderMap) -> Option<Step> {
        let key = headers
            .get("ebp-subscription-key")
            .and_then(|v| v.to_str().ok());
        if key != Some(self.cfg.subscription_key.as_str()) {
            return Some(Step::Done(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"statusCode": 401,
                        "message": "Access denied due to missing or invalid subscription key."})),
                )
                    .into_response(),
            ));
        }
        let now = Instant::now();
        let today = Utc::now().date_naive();
        if self.day != today {
            self.day = today;
            self.day_calls = 0;
        }
        self.day_calls += 1;
        if let Some(budget) = self.cfg.daily_budget {
            if self.day_calls > budget {
                return Some(Step::Done(too_many(
                    Some(3600),
                    "Out of call volume quota. Quota will be replenished tomorrow.",
                )));
            }
        }
        if self.cfg.rate_limit {
            if let Some(last) = self.last_accepted {
                let floor = self
                    .cfg
                    .min_interval
                    .saturating_sub(self.cfg.rate_tolerance);
                if now.duration_since(last) < floor {
                    self.rate_rejections += 1;
                    return Some(Step::Done(too_many(
                        Some(1),
                        "Rate limit is exceeded. Try again in 1 seconds.",
                    )));
                }
            }
        }
        self.last_accepted = Some(now);
        let fault = self.faults.pop_front().or_else(|| {
            let x: f64 = self.rng.random();
            let c = &self.cfg;
            if x < c.server_error_rate {
                Some(Fault::ServerError)
            } else if x < c.server_error_rate + c.timeout_rate {
                Some(Fault::Timeout)
            } else if x < c.server_error_rate + c.timeout_rate + c.throttle_rate {
                Some(Fault::TooManyRequests {
                    retry_after: c.throttle_retry_after,
                })
            } else {
                None
            }
        });
        match fault {
            Some(Fault::ServerError) => Some(Step::Done(ebp_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "erreur interne simulée",
            ))),
            Some(Fault::Timeout) => Some(Step::Hang(self.cfg.timeout_sleep)),
            Some(Fault::TooManyRequests { retry_after }) => {
                Some(Step::Done(too_many(retry_after, "Rate limit is exceeded.")))
            }
            None => {
                let bearer = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                match self.access.get(bearer) {
                    Some(exp) if *exp > now => None,
                    _ => Some(Step::Done(ebp_error(
                        StatusCode::UNAUTHORIZED,
                        "InvalidToken",
                        "jeton d'accès invalide ou expiré",
                    ))),
                }
            }
        }
    }

    fn api(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        let path = uri.path();
        if path == a::IMPORT_PATH && method == Method::POST {
            return self.import(headers, body);
        }
        if path == a::IMPORT_STATUS_PATH && method == Method::GET {
            return self.import_status(uri);
        }
        if let Some(op) = path.strip_prefix(a::EXPORT_BASE) {
            return self.export(method, op, uri, body);
        }
        let params = Params(
            Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map(|q| q.0)
                .unwrap_or_default(),
        );
        let bad = |m: String| ebp_error(StatusCode::BAD_REQUEST, "InvalidParameter", &m);
        let Some(rest) = path.strip_prefix("/gescom/api/v1/Folders") else {
            return ebp_error(StatusCode::NOT_FOUND, "NotFound", "ressource inconnue");
        };
        if method != Method::GET {
            return ebp_error(StatusCode::NOT_FOUND, "NotFound", "méthode non gérée");
        }
        if rest.is_empty() || rest == "/" {
            let rows: Vec<Value> = self
                .cfg
                .folders
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name, "shortName": "INV30", "isMariaDb": false}))
                .collect();
            return Json(json!({
                "folders": rows,
                "paging": {"total": rows.len(), "returned": rows.len(), "offset": 0, "limit": 100}
            }))
            .into_response();
        }
        let rest = rest.trim_start_matches('/');
        let (folder, op) = rest.split_once('/').unwrap_or((rest, ""));
        if !self.cfg.folders.iter().any(|(id, _)| id == folder) {
            return ebp_error(
                StatusCode::NOT_FOUND,
                "FolderNotFound",
                &format!("dossier introuvable : {folder}"),
            );
        }
        let (table, modified) = match op {
            "GenericQuery" => match params.get("TableName") {
                Some(t) => (t.to_string(), "FromModifiedDate"),
                None => return bad("TableName obligatoire".into()),
            },
            "Clients/ExtendedQuery" => ("Customer".into(), "FromModifiedDate"),
            "Items/ItemsExtentedQuery" => ("Item".into(), "SysModifiedDate"),
            "Documents/SaleDocument" | "Documents/SaleDocument/WithLines" => {
                return self.sale_documents(&params, op.ends_with("WithLines"));
            }
            _ => return ebp_error(StatusCode::NOT_FOUND, "NotFound", "ressource inconnue"),
        };
        let Some(rows) = self.table(&table) else {
            return ebp_error(
                StatusCode::BAD_REQUEST,
                "TableNotAllowed",
                &format!("table non autorisée : {table}"),
            );
        };
        match select(rows, &params, modified, None) {
            Ok(v) => Json(v).into_response(),
            Err(e) => bad(e),
        }
    }

    fn sale_documents(&self, params: &Params, with_lines: bool) -> Response {
        let Some(duration) = params.get("Duration").and_then(|d| d.parse::<i64>().ok()) else {
            return ebp_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "Duration (jours) obligatoire",
            );
        };
        let doc_type = params
            .get("DocumentType")
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        let today = Utc::now().date_naive();
        let docs: Vec<&SimDocument> = self
            .documents
            .iter()
            .filter(|d| (today - d.document.date).num_days() < duration)
            .filter(|d| doc_type == 0 || a::document_type(d.document.kind) == doc_type)
            .collect();
        let lines: HashMap<String, Vec<Value>> = docs
            .iter()
            .map(|d| (d.id.clone(), Self::line_rows(d)))
            .collect();
        let rows = docs.iter().map(|d| self.document_row(d)).collect();
        let add = |row: &mut Value| {
            let id = cell(row, "Id").unwrap_or_default();
            if let (Some(m), Some(l)) = (row.as_object_mut(), lines.get(&id)) {
                m.insert("Lines".into(), Value::Array(l.clone()));
            }
        };
        let extra: Option<&dyn Fn(&mut Value)> = if with_lines { Some(&add) } else { None };
        match select(rows, params, "SysModifiedDate", extra) {
            Ok(v) => Json(v).into_response(),
            Err(e) => ebp_error(StatusCode::BAD_REQUEST, "InvalidParameter", &e),
        }
    }
}

impl Inner {
    /// The Export API (reference §4.1) for sale invoices: create → status → result.
    fn export(&mut self, method: &Method, op: &str, uri: &Uri, body: &[u8]) -> Response {
        let q: HashMap<String, String> = Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
        match (method.clone(), op) {
            (Method::POST, "/CreateExport/Pdf") => {
                let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let kind = cell(&req, "kind").unwrap_or_default();
                let number = cell(&req, "entityId").unwrap_or_default();
                if kind != a::EXPORT_KIND_INVOICE {
                    return ebp_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidKind",
                        &format!("kind non géré : {kind}"),
                    );
                }
                if !self.documents.iter().any(|d| {
                    d.number == number && !d.credit_note && d.document.kind == DocumentKind::Invoice
                }) {
                    return ebp_error(
                        StatusCode::NOT_FOUND,
                        "EntityNotFound",
                        &format!("facture introuvable : {number}"),
                    );
                }
                let id = uuid::Uuid::new_v4().to_string();
                self.exports.insert(id.clone(), number);
                (StatusCode::ACCEPTED, Json(json!({ "exportId": id }))).into_response()
            }
            (Method::GET, "/Status") => match q.get("exportId").and_then(|id| self.exports.get(id))
            {
                Some(_) => Json(json!({ "status": a::EXPORT_COMPLETED })).into_response(),
                None => ebp_error(StatusCode::NOT_FOUND, "ExportNotFound", "export inconnu"),
            },
            (Method::GET, "/Result") => match q.get("exportId").and_then(|id| self.exports.get(id))
            {
                Some(number) if self.broken_pdfs.contains(number) => (
                    StatusCode::OK,
                    [("content-type", "text/html")],
                    "<html><body>Erreur de génération du document</body></html>",
                )
                    .into_response(),
                Some(number) => (
                    StatusCode::OK,
                    [("content-type", "application/pdf")],
                    pdf_of(number),
                )
                    .into_response(),
                None => ebp_error(StatusCode::NOT_FOUND, "ExportNotFound", "export inconnu"),
            },
            _ => ebp_error(StatusCode::NOT_FOUND, "NotFound", "ressource inconnue"),
        }
    }
}

/// A small valid PDF naming the invoice (deterministic: tests compare bytes).
fn pdf_of(number: &str) -> Vec<u8> {
    let text = format!("Facture {number}");
    let stream = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn too_many(retry_after: Option<u64>, message: &str) -> Response {
    let mut h = HeaderMap::new();
    if let Some(s) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            h.insert("retry-after", v);
        }
    }
    (
        StatusCode::TOO_MANY_REQUESTS,
        h,
        Json(json!({"statusCode": 429, "message": message})),
    )
        .into_response()
}

async fn handle(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path == "/connect/token" && method == Method::POST {
        return lock(&s).token(&body);
    }
    if path == "/connect/authorize" {
        let q: HashMap<String, String> = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
        let mut g = lock(&s);
        if q.get("client_id") != Some(&g.cfg.client_id) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
        }
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        let code = g.new_code(&redirect);
        let state = q.get("state").cloned().unwrap_or_default();
        let location = format!(
            "{redirect}?code={}&state={}",
            encode_component(&code),
            encode_component(&state)
        );
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&location) {
            h.insert("location", v);
        }
        return (StatusCode::FOUND, h).into_response();
    }
    let (step, at) = {
        let mut g = lock(&s);
        let at = g.started.elapsed();
        let step = match g.gateway(&headers) {
            Some(step) => step,
            None => Step::Done(g.api(&method, &uri, &headers, &body)),
        };
        (step, at)
    };
    let response = match step {
        Step::Done(r) => r,
        Step::Hang(d) => {
            tokio::time::sleep(d).await;
            ebp_error(StatusCode::GATEWAY_TIMEOUT, "Timeout", "délai dépassé")
        }
    };
    let mut g = lock(&s);
    if headers
        .get("ebp-subscription-key")
        .and_then(|v| v.to_str().ok())
        == Some(g.cfg.subscription_key.as_str())
    {
        g.calls.push(SimCall {
            at,
            method: method.to_string(),
            path,
            status: response.status().as_u16(),
        });
    }
    response
}

impl EbpSim {
    /// Starts a simulator on 127.0.0.1 on a free port, with the main warehouse `DEP1`.
    pub async fn start(cfg: EbpSimConfig) -> std::io::Result<EbpSim> {
        Self::start_at(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// [`EbpSim::start`] on `addr` (`passerelle sim --listen`).
    pub async fn start_at(cfg: EbpSimConfig, addr: SocketAddr) -> std::io::Result<EbpSim> {
        let mut warehouses = BTreeMap::new();
        warehouses.insert(MAIN_WAREHOUSE.to_string(), "Dépôt principal".to_string());
        let inner = Arc::new(Mutex::new(Inner {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            started: Instant::now(),
            faults: VecDeque::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            rejected_refresh: 0,
            code_grants: 0,
            refresh_grants: 0,
            token_seq: 0,
            customers: BTreeMap::new(),
            items: BTreeMap::new(),
            warehouses,
            documents: Vec::new(),
            counters: HashMap::new(),
            calls: Vec::new(),
            last_accepted: None,
            day: Utc::now().date_naive(),
            day_calls: 0,
            rate_rejections: 0,
            imports: Vec::new(),
            queued: HashMap::new(),
            status_polls: Vec::new(),
            row_failures: BTreeMap::new(),
            tables: default_tables(),
            models: sim_models::default_models(),
            credit_notes: 0,
            deleted: Vec::new(),
            broken_pdfs: Default::default(),
            exports: HashMap::new(),
            catalog: sim_catalog::CatalogStore::default(),
            cust: sim_customers::CustomerStore::default(),
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(EbpSim { addr, inner, task })
    }

    /// Base URL, both API and login host (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The settings in force.
    pub fn config(&self) -> EbpSimConfig {
        lock(&self.inner).cfg.clone()
    }

    /// Changes settings in place (rate limit, budget, fault rates, token lifetime…).
    pub fn configure(&self, f: impl FnOnce(&mut EbpSimConfig)) {
        f(&mut lock(&self.inner).cfg);
    }

    /// Queues faults answered by the next API calls, in order.
    pub fn queue_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.inner).faults.extend(faults);
    }

    /// Plays the merchant's login: an authorization code for `redirect_uri` (5 min, single
    /// use — the simulator does not expire it).
    pub fn authorize(&self, redirect_uri: &str) -> String {
        lock(&self.inner).new_code(redirect_uri)
    }

    /// Expires every access token now (the next API call answers 401).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for exp in lock(&self.inner).access.values_mut() {
            *exp = now;
        }
    }

    // ------------------------------------------------------------ import models

    /// The folder's import models (`EbpSysGenericImportSettings`).
    pub fn import_models(&self) -> Vec<SimModel> {
        lock(&self.inner).models.clone()
    }

    /// Adds a model, or replaces the one of the same name.
    pub fn set_import_model(&self, model: SimModel) {
        let mut g = lock(&self.inner);
        g.models.retain(|m| m.name != model.name);
        g.models.push(model);
    }

    /// Renames a model (as a merchant does in EBP); false when there is none of that name.
    pub fn rename_import_model(&self, from: &str, to: &str) -> bool {
        let mut g = lock(&self.inner);
        match g.models.iter_mut().find(|m| m.name == from) {
            Some(m) => {
                m.name = to.to_string();
                true
            }
            None => false,
        }
    }

    // ------------------------------------------------------------ seeding

    /// Articles `(id, caption, stock in DEP1)`.
    pub fn seed_items(&self, items: &[(&str, &str, i64)]) {
        let mut g = lock(&self.inner);
        for (id, caption, stock) in items {
            let mut s = BTreeMap::new();
            s.insert(MAIN_WAREHOUSE.to_string(), Decimal::from(*stock));
            g.items.insert(
                id.to_string(),
                SimItem {
                    id: id.to_string(),
                    caption: caption.to_string(),
                    stock: s,
                    modified: now_naive(),
                },
            );
        }
    }

    /// Sets the stock of an article in a warehouse (created when unknown).
    pub fn seed_stock(&self, item: &str, warehouse: &str, quantity: Decimal) {
        let mut g = lock(&self.inner);
        g.warehouses
            .entry(warehouse.to_string())
            .or_insert_with(|| format!("Dépôt {warehouse}"));
        if let Some(i) = g.items.get_mut(item) {
            i.stock.insert(warehouse.to_string(), quantity);
            i.modified = now_naive();
        }
    }

    /// Customers.
    pub fn seed_customers(&self, customers: &[SimCustomer]) {
        let mut g = lock(&self.inner);
        for c in customers {
            g.customers.insert(c.code.clone(), c.clone());
        }
    }

    /// A document as if imported earlier (number given by the simulator).
    pub fn seed_document(
        &self,
        document: ErpDocument,
        reference: &str,
        atoosync_order: Option<&str>,
    ) -> String {
        let mut g = lock(&self.inner);
        let number = g.next_number(document.kind);
        g.documents.push(SimDocument {
            id: uuid::Uuid::new_v4().to_string(),
            number: number.clone(),
            reference: reference.to_string(),
            atoosync_order: atoosync_order.map(str::to_string),
            document,
            modified: now_naive(),
            origin_number: None,
            transferred_to: None,
            credit_note: false,
            custom: BTreeMap::new(),
        });
        number
    }

    /// Transforms a document, as the ERP user does (order → delivery note → invoice): the
    /// new document copies the content and the custom fields (`xx_atoosync_order` included),
    /// records its origin, and the origin records where it went. `fields` sets custom
    /// columns of the new document (the tracking number). Returns the new number.
    pub fn transform(
        &self,
        number: &str,
        to: DocumentKind,
        fields: &[(&str, &str)],
        delivery_date: Option<NaiveDate>,
    ) -> Option<String> {
        let mut g = lock(&self.inner);
        let idx = g.documents.iter().position(|d| d.number == number)?;
        let new_number = g.next_number(to);
        let new_id = uuid::Uuid::new_v4().to_string();
        let now = now_naive();
        let mut doc = g.documents[idx].clone();
        doc.document.kind = to;
        doc.document.date = now.date();
        if delivery_date.is_some() {
            doc.document.delivery_date = delivery_date;
        }
        doc.id = new_id.clone();
        doc.number = new_number.clone();
        doc.origin_number = Some(number.to_string());
        doc.transferred_to = None;
        doc.modified = now;
        for (k, v) in fields {
            doc.custom.insert((*k).to_string(), (*v).to_string());
        }
        g.documents[idx].transferred_to = Some(new_id);
        g.documents[idx].modified = now;
        g.documents.push(doc);
        Some(new_number)
    }

    /// Cancels an invoice with a credit note made from it. Returns the credit note number.
    pub fn cancel_invoice(&self, number: &str) -> Option<String> {
        let mut g = lock(&self.inner);
        let idx = g.documents.iter().position(|d| d.number == number)?;
        g.credit_notes += 1;
        let cn_number = format!("AV{:08}", g.credit_notes);
        let now = now_naive();
        let mut doc = g.documents[idx].clone();
        doc.id = uuid::Uuid::new_v4().to_string();
        doc.number = cn_number.clone();
        doc.origin_number = Some(number.to_string());
        doc.credit_note = true;
        doc.modified = now;
        g.documents.push(doc);
        Some(cn_number)
    }

    /// Sets a custom column of a document (e.g. the tracking number typed later).
    pub fn set_document_field(&self, number: &str, column: &str, value: &str) -> bool {
        let mut g = lock(&self.inner);
        let Some(d) = g.documents.iter_mut().find(|d| d.number == number) else {
            return false;
        };
        d.custom.insert(column.to_string(), value.to_string());
        d.modified = now_naive();
        true
    }

    /// Deletes a document (recorded in `EbpSysDeletedRecord`).
    pub fn delete_document(&self, number: &str) -> bool {
        let mut g = lock(&self.inner);
        let Some(idx) = g.documents.iter().position(|d| d.number == number) else {
            return false;
        };
        let d = g.documents.remove(idx);
        g.deleted.push((d.id, now_naive()));
        true
    }

    /// The Export API answers this invoice with an HTML error page instead of a PDF.
    pub fn break_pdf(&self, number: &str) {
        lock(&self.inner).broken_pdfs.insert(number.to_string());
    }

    /// The PDF the Export API serves for an invoice.
    pub fn invoice_pdf(&self, number: &str) -> Vec<u8> {
        pdf_of(number)
    }

    // ------------------------------------------------------------ inspection

    /// The footer totals EBP shows for an imported document (`AmountVatIncluded`…), under
    /// the folder's VAT rounding rule and its `Vat` table.
    pub fn totals_of(&self, document: &SimDocument) -> SaleTotals {
        lock(&self.inner).totals(document)
    }

    /// Sale documents, in creation order.
    pub fn documents(&self) -> Vec<SimDocument> {
        lock(&self.inner).documents.clone()
    }

    /// Customers by code.
    pub fn customers(&self) -> Vec<SimCustomer> {
        lock(&self.inner).customers.values().cloned().collect()
    }

    /// Articles.
    pub fn items(&self) -> Vec<SimItem> {
        lock(&self.inner).items.values().cloned().collect()
    }

    /// API calls carrying the right subscription key (token calls excluded).
    pub fn calls(&self) -> Vec<SimCall> {
        lock(&self.inner).calls.clone()
    }

    /// Forgets the calls received so far (to count those of one run).
    pub fn calls_reset(&self) {
        lock(&self.inner).calls.clear();
    }

    /// Status polls received (`importId` of each, in order).
    pub fn import_status_polls(&self) -> Vec<String> {
        lock(&self.inner).status_polls.clone()
    }

    /// Imports accepted asynchronously and not applied yet.
    pub fn queued_imports(&self) -> usize {
        lock(&self.inner)
            .queued
            .values()
            .filter(|q| q.result.is_none())
            .count()
    }

    /// Refuses the document of `web_order` in every later import, with `message` as the
    /// row error (an import that fails for some rows).
    pub fn fail_import_of(&self, web_order: &str, message: &str) {
        lock(&self.inner)
            .row_failures
            .insert(web_order.to_string(), message.to_string());
    }

    /// Import calls received, with their raw files.
    pub fn imports(&self) -> Vec<SimImport> {
        lock(&self.inner).imports.clone()
    }

    /// Refresh-token grants refused because the token was unknown or already used.
    pub fn rejected_refresh_count(&self) -> u32 {
        lock(&self.inner).rejected_refresh
    }

    /// Token-endpoint grants: (authorization_code, refresh_token).
    pub fn token_grants(&self) -> (u32, u32) {
        let g = lock(&self.inner);
        (g.code_grants, g.refresh_grants)
    }

    /// Calls answered 429 by the 1-call-per-interval rule.
    pub fn rate_rejections(&self) -> u32 {
        lock(&self.inner).rate_rejections
    }

    /// Most API calls that arrived within any window of length `window`.
    pub fn max_calls_in_window(&self, window: Duration) -> usize {
        let at: Vec<Duration> = lock(&self.inner).calls.iter().map(|c| c.at).collect();
        let mut sorted = at;
        sorted.sort();
        (0..sorted.len())
            .map(|i| {
                sorted[i..]
                    .iter()
                    .take_while(|t| **t - sorted[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Most API calls seen within one second.
    pub fn max_calls_per_second(&self) -> usize {
        self.max_calls_in_window(Duration::from_secs(1))
    }

    /// Smallest gap between two consecutive API calls.
    pub fn min_gap(&self) -> Option<Duration> {
        let mut at: Vec<Duration> = lock(&self.inner).calls.iter().map(|c| c.at).collect();
        at.sort();
        at.windows(2).map(|w| w[1] - w[0]).min()
    }
}
