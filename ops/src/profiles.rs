//! Profiles as files (`passerelle profile import FILE.toml` / `export ID`) and the
//! encrypted credential store behind them.
//!
//! A profile file holds the connection settings, the credentials in clear (the merchant's
//! own file) and the import options. On import the credentials are encrypted (AES-256-GCM,
//! `adapters::secrets`) into the `credentials` table and the `Profile` aggregate records
//! only the public settings with a fingerprint of each credential; an export never
//! contains a credential.

use anyhow::Context;
use chrono::Utc;
use passerelle_adapters::secrets::SecretBox;
use passerelle_adapters::store::{AggregateError, AggregateStore, Db, Origin, Val};
use passerelle_domain::platform::{Platform, UnknownPlatform};
use passerelle_domain::profile::{
    ErpConnection, ImportOptions, Profile, ProfileCommand, ShopConnection,
};
use passerelle_domain::{AccountId, Actor, ProfileId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The shop section of a profile file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopSection {
    /// Platform (`prestashop`, `woocommerce`, `shopify`… see `docs/PLATFORMS.md`); read
    /// as text so an unknown name gets our own one-line message, not a TOML error.
    pub platform: String,
    /// Shop URL.
    pub url: String,
    /// Webservice key (secret; absent in exports, kept when absent in an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Send the credentials in the query string rather than the `Authorization` header
    /// (WooCommerce behind a server that strips it). Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credentials_in_query: bool,
}

/// The ERP section of a profile file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErpSection {
    /// API base.
    #[serde(default = "api_url")]
    pub api_url: String,
    /// Login base.
    #[serde(default = "login_url")]
    pub login_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// Folder (dossier) id.
    pub folder_id: String,
    /// OAuth client secret (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// APIM subscription key (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_key: Option<String>,
    /// How import files are sent: `per-file` (default: one import per file with its
    /// category and model) or `all-files` (every file in one call).
    #[serde(default)]
    pub import_shape: passerelle_domain::profile::ImportShape,
    /// The EBP import model of each file (`[erp.models]`; defaults `Passerelle - …`).
    #[serde(default)]
    pub models: passerelle_domain::profile::ImportModelNames,
    /// The file format used when a model's definition cannot be read (`[erp.format]`).
    #[serde(default)]
    pub format: passerelle_domain::profile::ImportFileFormat,
}

fn api_url() -> String {
    "https://api-developpeurs.ebp.com".into()
}
fn login_url() -> String {
    "https://api-login.ebp.com".into()
}

/// A whole profile file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileFile {
    /// Profile id (`[a-z0-9-]`).
    pub id: String,
    /// Name (default `PRESTASHOP <> EBPSAAS`).
    #[serde(default = "default_name")]
    pub name: String,
    /// Shop connection.
    pub shop: ShopSection,
    /// ERP connection.
    pub erp: ErpSection,
    /// Order-import options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportOptions>,
    /// Article-export options (`[export]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<passerelle_domain::catalog::CatalogSettings>,
    /// Online storage credential (`[storage]`; where the storage is: `[export.media]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSection>,
}

/// The online storage's secret (FTP password, Dropbox or pCloud access token, Cloudinary
/// API secret): encrypted like the other credentials, absent in exports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StorageSection {
    /// The secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn default_name() -> String {
    "PRESTASHOP <> EBPSAAS".into()
}

/// Credential names in the `credentials` table.
pub const SHOP_KEY: &str = "shop.key";
/// EBP OAuth client secret.
pub const ERP_CLIENT_SECRET: &str = "erp.client_secret";
/// EBP subscription key.
pub const ERP_SUBSCRIPTION_KEY: &str = "erp.subscription_key";
/// Online storage secret (images and documents).
pub const STORAGE_SECRET: &str = "storage.secret";

/// First 12 hex digits of the SHA-256 of a secret: shows that it changed, reveals nothing.
pub fn fingerprint(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Profiles and their credentials.
pub struct Profiles {
    db: Db,
    store: AggregateStore,
}

impl Profiles {
    /// Over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            store: AggregateStore::new(db.clone()),
            db,
        }
    }

    /// The profile's folded state.
    pub async fn get(
        &self,
        account: &AccountId,
        id: &ProfileId,
    ) -> anyhow::Result<Option<Profile>> {
        Ok(self
            .store
            .load::<Profile>(account, id.as_str())
            .await?
            .filter(|p| p.created && !p.deleted))
    }

    /// Every live profile of the account.
    pub async fn list(&self, account: &AccountId) -> anyhow::Result<Vec<(String, Profile)>> {
        Ok(self
            .store
            .list::<Profile>(account)
            .await?
            .into_iter()
            .filter(|(_, p)| p.created && !p.deleted)
            .collect())
    }

    /// Imports a profile file: credentials encrypted first, then the aggregate. Returns the
    /// names of the events recorded.
    pub async fn import(
        &self,
        account: &AccountId,
        file: ProfileFile,
        secrets: &SecretBox,
        actor: Actor,
    ) -> anyhow::Result<Vec<String>> {
        let id = ProfileId::parse(&file.id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let current = self.get(account, &id).await?;
        // Parsed once, here: from now on the platform is a closed enum. An unknown name is a
        // configuration error (exit 2) listing the valid ones.
        let platform: Platform = file
            .shop
            .platform
            .parse()
            .map_err(|e: UnknownPlatform| crate::commands::usage(e.to_string()))?;
        let url = crate::platforms::normalise_url(platform, &file.shop.url)
            .map_err(|e| crate::commands::usage(format!("URL de boutique invalide : {e}")))?;
        let shop_fp = match &file.shop.key {
            Some(k) => {
                self.put_secret(account, &id, SHOP_KEY, k, secrets).await?;
                fingerprint(k)
            }
            None => current
                .as_ref()
                .and_then(|p| p.shop.as_ref())
                .map(|s| s.credential_fingerprint.clone())
                .context("clé webservice absente (shop.key) pour un nouveau profil")?,
        };
        let erp_fp = match (&file.erp.client_secret, &file.erp.subscription_key) {
            (Some(s), Some(k)) => {
                self.put_secret(account, &id, ERP_CLIENT_SECRET, s, secrets)
                    .await?;
                self.put_secret(account, &id, ERP_SUBSCRIPTION_KEY, k, secrets)
                    .await?;
                fingerprint(&format!("{s}\u{0}{k}"))
            }
            (None, None) => current
                .as_ref()
                .and_then(|p| p.erp.as_ref())
                .map(|e| e.credential_fingerprint.clone())
                .context("secret client et clé d'abonnement EBP absents pour un nouveau profil")?,
            _ => anyhow::bail!(
                "erp.client_secret et erp.subscription_key vont ensemble (both or neither)"
            ),
        };
        if let Some(secret) = file.storage.as_ref().and_then(|x| x.secret.as_ref()) {
            self.put_secret(account, &id, STORAGE_SECRET, secret, secrets)
                .await?;
        }
        let export = file.export.map(Box::new);
        let cmd = ProfileCommand::Apply {
            name: file.name,
            shop: Some(ShopConnection {
                platform,
                url,
                credential_fingerprint: shop_fp,
                credentials_in_query: file.shop.credentials_in_query,
            }),
            erp: Some(ErpConnection {
                api_url: file.erp.api_url,
                login_url: file.erp.login_url,
                client_id: file.erp.client_id,
                folder_id: file.erp.folder_id,
                credential_fingerprint: erp_fp,
                import_shape: file.erp.import_shape,
                import_models: file.erp.models,
                import_format: file.erp.format,
            }),
            import: file.import.map(Box::new),
        };
        let origin = Origin {
            actor,
            correlation: format!("profile:{id}"),
            at: Utc::now(),
        };
        let mut events = self
            .store
            .execute::<Profile>(account, id.as_str(), cmd, &origin)
            .await
            .map_err(|e| match e {
                AggregateError::Refused(r) => anyhow::anyhow!("{r}"),
                other => anyhow::anyhow!("{other}"),
            })?;
        if let Some(x) = export {
            events.extend(
                self.store
                    .execute::<Profile>(
                        account,
                        id.as_str(),
                        ProfileCommand::SetExportOptions(x),
                        &origin,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        Ok(events
            .iter()
            .map(cqrs_es::DomainEvent::event_type)
            .collect())
    }

    /// The profile as a file, without any credential.
    pub async fn export(&self, account: &AccountId, id: &ProfileId) -> anyhow::Result<ProfileFile> {
        let p = self
            .get(account, id)
            .await?
            .with_context(|| format!("profil inconnu : {id}"))?;
        let shop = p.shop.context("profil sans connexion boutique")?;
        let erp = p.erp.context("profil sans connexion ERP")?;
        Ok(ProfileFile {
            id: id.to_string(),
            name: p.name,
            shop: ShopSection {
                platform: shop.platform.as_str().to_string(),
                url: shop.url,
                key: None,
                credentials_in_query: shop.credentials_in_query,
            },
            erp: ErpSection {
                api_url: erp.api_url,
                login_url: erp.login_url,
                client_id: erp.client_id,
                folder_id: erp.folder_id,
                client_secret: None,
                subscription_key: None,
                import_shape: erp.import_shape,
                models: erp.import_models,
                format: erp.import_format,
            },
            import: p.import,
            export: p.export,
            storage: None,
        })
    }

    async fn put_secret(
        &self,
        account: &AccountId,
        id: &ProfileId,
        name: &str,
        clear: &str,
        secrets: &SecretBox,
    ) -> anyhow::Result<()> {
        if clear.trim().is_empty() {
            anyhow::bail!("identifiant vide : {name}");
        }
        self.db
            .execute(
                "INSERT INTO credentials (account_id, profile_id, name, ciphertext, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account_id, profile_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                &[
                    Val::text(account.as_str()),
                    Val::text(id.as_str()),
                    Val::text(name),
                    Val::text(secrets.encrypt(clear)),
                    Val::text(Utc::now().to_rfc3339()),
                ],
            )
            .await?;
        Ok(())
    }

    /// A credential in clear (memory only).
    pub async fn secret(
        &self,
        account: &AccountId,
        id: &ProfileId,
        name: &str,
        secrets: &SecretBox,
    ) -> anyhow::Result<passerelle_adapters::secrets::Secret> {
        let rows = self
            .db
            .fetch(
                "SELECT ciphertext FROM credentials WHERE account_id = $1 AND profile_id = $2 AND name = $3",
                &[Val::text(account.as_str()), Val::text(id.as_str()), Val::text(name)],
            )
            .await?;
        let c = rows
            .first()
            .and_then(|r| r[0].as_str().map(str::to_string))
            .with_context(|| format!("identifiant {name} absent pour le profil {id}"))?;
        secrets
            .decrypt(&c)
            .map_err(|e| anyhow::anyhow!("identifiant {name} illisible : {e}"))
    }
}
