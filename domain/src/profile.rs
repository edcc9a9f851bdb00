//! The `Profile` aggregate (id: the profile id): one shop ⇄ ERP connection with its
//! settings (FEATURES §1 "Profiles", §3). Connection events carry the public parameters
//! and a *reference* to the encrypted credentials plus a short fingerprint, never a secret
//! (DESIGN §3): the ciphertext lives in the `credentials` table.

use crate::catalog::CatalogSettings;
use crate::decider::Decider;
use crate::orders::OrderSettings;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

/// The default period an import reads (FEATURES §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportPeriod {
    /// The last 15 days.
    #[default]
    Last15Days,
    /// This calendar month.
    ThisMonth,
    /// Last calendar month.
    LastMonth,
    /// The last 3 months.
    Last3Months,
    /// The last 6 months.
    Last6Months,
    /// This calendar year.
    ThisYear,
    /// Last calendar year.
    LastYear,
    /// All orders.
    All,
}

/// Order-import options of a profile (FEATURES §3.3, §3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// Default period.
    #[serde(default)]
    pub period: ImportPeriod,
    /// Shops to read (multi-shop); empty: the default shop.
    #[serde(default)]
    pub shops: Vec<String>,
    /// Find orders by update date instead of creation date.
    #[serde(default)]
    pub by_update_date: bool,
    /// Orders per page (one batch of ERP calls per page).
    #[serde(default = "page")]
    pub page_size: u32,
    /// Send the ERP account number back to the shop customer.
    #[serde(default = "yes")]
    pub send_customer_code: bool,
    /// Write the document number back on the shop order.
    #[serde(default)]
    pub send_document_number: bool,
    /// Ask the shop to notify the customer on status changes.
    #[serde(default)]
    pub notify_customer: bool,
    /// Document and customer rules.
    pub settings: OrderSettings,
    /// What goes back to the shop orders (FEATURES §3.5): statuses per ERP document type,
    /// tracking, document number, delivery date.
    #[serde(default)]
    pub updates: crate::orders::updates::UpdateSettings,
}

fn page() -> u32 {
    100
}
fn yes() -> bool {
    true
}

/// The shop side of a connection (public part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopConnection {
    /// Platform. Stored as its lowercase name (`"prestashop"`), the same string the
    /// free-text field of earlier versions held, so their events read unchanged.
    pub platform: crate::platform::Platform,
    /// Shop URL, normalised with a trailing slash.
    pub url: String,
    /// Fingerprint of the stored credential (first hex digits of its SHA-256), to show
    /// that it changed without showing it.
    pub credential_fingerprint: String,
    /// The credentials travel in the query string instead of the `Authorization` header
    /// (for servers that strip it; WooCommerce accepts both). Absent in earlier events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credentials_in_query: bool,
}

/// The ERP side of a connection (public part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpConnection {
    /// API base (`https://api-developpeurs.ebp.com/`).
    pub api_url: String,
    /// Login base (`https://api-login.ebp.com/`).
    pub login_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// Folder (dossier) id.
    pub folder_id: String,
    /// Fingerprint of the stored client secret and subscription key.
    pub credential_fingerprint: String,
    /// How import files are sent to EBP (absent from connections set before it existed:
    /// one import per file).
    #[serde(default)]
    pub import_shape: ImportShape,
    /// The EBP import model (`EbpSysGenericImportSettings.name`) used for each file
    /// (absent from connections set before it existed: the default names).
    #[serde(default, skip_serializing_if = "ImportModelNames::is_default")]
    pub import_models: ImportModelNames,
    /// How the files are written when a model's definition cannot be read (absent from
    /// connections set before it existed: the defaults).
    #[serde(default, skip_serializing_if = "ImportFileFormat::is_default")]
    pub import_format: ImportFileFormat,
}

/// The import model the profile names for each file (`[erp.models]` of a profile file):
/// checked against the folder's `EbpSysGenericImportSettings` rows before any run writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportModelNames {
    /// Customers (`Customers.txt`).
    pub customers: String,
    /// Customer addresses (`Adresses.txt`).
    pub addresses: String,
    /// Quotes.
    pub quotes: String,
    /// Orders.
    pub orders: String,
    /// Delivery notes.
    pub delivery_notes: String,
    /// Invoices.
    pub invoices: String,
    /// Payments (`Payments.txt`).
    pub payments: String,
}

impl Default for ImportModelNames {
    fn default() -> Self {
        Self {
            customers: "Passerelle - Clients".into(),
            addresses: "Passerelle - Adresses".into(),
            quotes: "Passerelle - Devis".into(),
            orders: "Passerelle - Commandes".into(),
            delivery_notes: "Passerelle - Bons de livraison".into(),
            invoices: "Passerelle - Factures".into(),
            payments: "Passerelle - Règlements".into(),
        }
    }
}

impl ImportModelNames {
    /// True when every name is the default one.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Encoding of the import files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileEncoding {
    /// UTF-8 with a byte-order mark (what a production desktop connector writes).
    #[default]
    Utf8Bom,
    /// Windows-1252 ("ANSI" on French Windows).
    Windows1252,
}

/// The profile's explicit file format (`[erp.format]`), used when the model's definition
/// cannot be read. Defaults from the evidence (`reference/ebp-import-api-2.md` F6, F7):
/// UTF-8 with BOM, no text qualifier, `;`, decimal point, `dd/MM/yyyy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportFileFormat {
    /// Field separator (one character).
    pub separator: String,
    /// Text qualifier (one character, or empty: none).
    pub text_qualifier: String,
    /// Decimal separator (one character).
    pub decimal_separator: String,
    /// Encoding.
    pub encoding: FileEncoding,
    /// Date format, .NET style (`dd/MM/yyyy`, `yyyy-MM-dd`, `dd/MM/yyyy HH:mm:ss`).
    pub date_format: String,
}

impl Default for ImportFileFormat {
    fn default() -> Self {
        Self {
            separator: ";".into(),
            text_qualifier: String::new(),
            decimal_separator: ".".into(),
            encoding: FileEncoding::Utf8Bom,
            date_format: "dd/MM/yyyy".into(),
        }
    }
}

impl ImportFileFormat {
    /// True when every setting is the default one.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// How import files are sent to EBP's Import API (`adapters/src/ebp/import_request.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportShape {
    /// One import per file, addressed by folder, category and model (default).
    #[default]
    PerFile,
    /// Every file of a batch in one call (the first guess, kept behind this setting).
    AllFiles,
}

/// Events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // the ERP connection's model names and format: built once per profile change
pub enum ProfileEvent {
    /// Created.
    ProfileCreated {
        /// Name.
        name: String,
    },
    /// Renamed.
    ProfileRenamed {
        /// New name.
        name: String,
    },
    /// Shop connection set (credentials stored encrypted, apart).
    ShopConnectionSet(ShopConnection),
    /// ERP connection set (credentials stored encrypted, apart).
    ErpConnectionSet(ErpConnection),
    /// Order-import options set.
    ImportOptionsSet(Box<ImportOptions>),
    /// Deleted (irreversible).
    ProfileDeleted,
    /// Article-export options set (FEATURES §3.1).
    ExportOptionsSet(Box<CatalogSettings>),
    /// The last transfer date of one action set by hand (`passerelle last-transfer
    /// --set`): the next incremental run of that action starts from it.
    LastTransferSet {
        /// Action (kebab-case name).
        action: String,
        /// The date the next incremental run reads from.
        at: chrono::DateTime<chrono::Utc>,
        /// When it was set (it wins over runs that started before).
        set_at: chrono::DateTime<chrono::Utc>,
    },
}

impl DomainEvent for ProfileEvent {
    fn event_type(&self) -> String {
        match self {
            ProfileEvent::ProfileCreated { .. } => "ProfileCreated",
            ProfileEvent::ProfileRenamed { .. } => "ProfileRenamed",
            ProfileEvent::ShopConnectionSet(_) => "ShopConnectionSet",
            ProfileEvent::ErpConnectionSet(_) => "ErpConnectionSet",
            ProfileEvent::ImportOptionsSet(_) => "ImportOptionsSet",
            ProfileEvent::ProfileDeleted => "ProfileDeleted",
            ProfileEvent::ExportOptionsSet(_) => "ExportOptionsSet",
            ProfileEvent::LastTransferSet { .. } => "LastTransferSet",
        }
        .into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

/// Commands.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per `profile import`, never stored
pub enum ProfileCommand {
    /// Create or update from a whole description (`profile import`): only what changed
    /// becomes events.
    Apply {
        /// Name.
        name: String,
        /// Shop connection.
        shop: Option<ShopConnection>,
        /// ERP connection.
        erp: Option<ErpConnection>,
        /// Import options.
        import: Option<Box<ImportOptions>>,
    },
    /// Delete.
    Delete,
    /// Set the article-export options (no event when unchanged).
    SetExportOptions(Box<CatalogSettings>),
    /// Set the last transfer date of an action by hand.
    SetLastTransfer {
        /// Action (kebab-case name).
        action: String,
        /// The date.
        at: chrono::DateTime<chrono::Utc>,
        /// Now (passed in: the domain reads no clock).
        now: chrono::DateTime<chrono::Utc>,
    },
}

/// Refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileRefusal {
    /// Deleted profiles accept nothing.
    #[error("profil supprimé (profile deleted)")]
    Deleted,
    /// Name required.
    #[error("le nom du profil est obligatoire (profile name required)")]
    NameRequired,
    /// Unknown profile.
    #[error("profil inconnu (unknown profile)")]
    Unknown,
}

/// Folded state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Exists.
    pub created: bool,
    /// Deleted.
    pub deleted: bool,
    /// Name.
    pub name: String,
    /// Shop connection.
    pub shop: Option<ShopConnection>,
    /// ERP connection.
    pub erp: Option<ErpConnection>,
    /// Import options.
    pub import: Option<ImportOptions>,
    /// Article-export options.
    #[serde(default)]
    pub export: Option<CatalogSettings>,
    /// Last transfer dates set by hand: action → (date, when it was set).
    #[serde(default)]
    pub last_transfer_overrides: std::collections::BTreeMap<
        String,
        (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    >,
}

impl Decider for Profile {
    type Command = ProfileCommand;
    type Event = ProfileEvent;
    type Refusal = ProfileRefusal;
    const TYPE: &'static str = "Profile";

    fn decide(&self, cmd: ProfileCommand) -> Result<Vec<ProfileEvent>, ProfileRefusal> {
        if self.deleted {
            return Err(ProfileRefusal::Deleted);
        }
        match cmd {
            ProfileCommand::Apply {
                name,
                shop,
                erp,
                import,
            } => {
                if name.trim().is_empty() {
                    return Err(ProfileRefusal::NameRequired);
                }
                let mut ev = Vec::new();
                if !self.created {
                    ev.push(ProfileEvent::ProfileCreated { name });
                } else if self.name != name {
                    ev.push(ProfileEvent::ProfileRenamed { name });
                }
                if let Some(s) = shop.filter(|s| self.shop.as_ref() != Some(s)) {
                    ev.push(ProfileEvent::ShopConnectionSet(s));
                }
                if let Some(e) = erp.filter(|e| self.erp.as_ref() != Some(e)) {
                    ev.push(ProfileEvent::ErpConnectionSet(e));
                }
                if let Some(i) = import.filter(|i| self.import.as_ref() != Some(i.as_ref())) {
                    ev.push(ProfileEvent::ImportOptionsSet(i));
                }
                Ok(ev)
            }
            ProfileCommand::Delete => {
                if !self.created {
                    return Err(ProfileRefusal::Unknown);
                }
                Ok(vec![ProfileEvent::ProfileDeleted])
            }
            ProfileCommand::SetExportOptions(o) => {
                if !self.created {
                    return Err(ProfileRefusal::Unknown);
                }
                if self.export.as_ref() == Some(o.as_ref()) {
                    return Ok(Vec::new());
                }
                Ok(vec![ProfileEvent::ExportOptionsSet(o)])
            }
            ProfileCommand::SetLastTransfer { action, at, now } => {
                if !self.created {
                    return Err(ProfileRefusal::Unknown);
                }
                Ok(vec![ProfileEvent::LastTransferSet {
                    action,
                    at,
                    set_at: now,
                }])
            }
        }
    }

    fn apply_event(&mut self, e: &ProfileEvent) {
        match e {
            ProfileEvent::ProfileCreated { name } => {
                self.created = true;
                self.name = name.clone();
            }
            ProfileEvent::ProfileRenamed { name } => self.name = name.clone(),
            ProfileEvent::ShopConnectionSet(s) => self.shop = Some(s.clone()),
            ProfileEvent::ErpConnectionSet(e) => self.erp = Some(e.clone()),
            ProfileEvent::ImportOptionsSet(i) => self.import = Some((**i).clone()),
            ProfileEvent::ProfileDeleted => self.deleted = true,
            ProfileEvent::ExportOptionsSet(o) => self.export = Some((**o).clone()),
            ProfileEvent::LastTransferSet { action, at, set_at } => {
                self.last_transfer_overrides
                    .insert(action.clone(), (*at, *set_at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn created() -> Profile {
        let mut p = Profile::default();
        p.apply_event(&ProfileEvent::ProfileCreated { name: "P".into() });
        p
    }

    #[test]
    fn a_stored_v1_shop_connection_with_a_free_text_platform_still_reads() {
        // The payload as version 1 wrote it, when `platform` was a free string.
        let stored = r#"{"ShopConnectionSet":{"platform":"prestashop","url":"https://shop.example/","credential_fingerprint":"a1b2c3d4e5f6"}}"#;
        let ev: ProfileEvent = serde_json::from_str(stored).expect("v1 payload reads");
        let mut p = created();
        p.apply_event(&ev);
        let shop = p.shop.expect("connection set");
        assert_eq!(shop.platform, crate::platform::Platform::PrestaShop);
        // Written back the same way: no rewrite, no new version needed.
        assert_eq!(serde_json::to_string(&ev).expect("write"), stored);
    }

    #[test]
    fn export_options_are_recorded_once() {
        let mut p = created();
        let opts = Box::new(CatalogSettings::default());
        let ev = p
            .decide(ProfileCommand::SetExportOptions(opts.clone()))
            .expect("accepted");
        assert_eq!(ev, vec![ProfileEvent::ExportOptionsSet(opts.clone())]);
        p.apply_event(&ev[0]);
        assert_eq!(p.export.as_ref(), Some(opts.as_ref()));
        assert_eq!(
            p.decide(ProfileCommand::SetExportOptions(opts)),
            Ok(Vec::new()),
            "unchanged: no event"
        );
    }

    #[test]
    fn a_last_transfer_date_set_by_hand_is_kept_with_when_it_was_set() {
        let mut p = created();
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .expect("date");
        let now = Utc
            .with_ymd_and_hms(2026, 3, 5, 8, 0, 0)
            .single()
            .expect("date");
        let ev = p
            .decide(ProfileCommand::SetLastTransfer {
                action: "update-stock".into(),
                at,
                now,
            })
            .expect("accepted");
        p.apply_event(&ev[0]);
        assert_eq!(
            p.last_transfer_overrides.get("update-stock"),
            Some(&(at, now))
        );
        assert_eq!(
            Profile::default().decide(ProfileCommand::SetLastTransfer {
                action: "update-stock".into(),
                at,
                now
            }),
            Err(ProfileRefusal::Unknown)
        );
    }
}
