//! The media connections of the article export (images from online storage): the storage
//! client named by the profile's `[export.media.storage]`, with its secret decrypted from
//! the credential store, the shop's product images, and the per-product memo of what was
//! sent (SyncCursor aggregates, `adapters::storage::LedgerMemos`).

use crate::connectors::DbConnectors;
use crate::profiles::STORAGE_SECRET;
use passerelle_adapters::storage::ftp::FtpStorage;
use passerelle_adapters::storage::LedgerMemos;
use passerelle_adapters::storage::{cloudinary, dropbox, pcloud};
use passerelle_adapters::store::{Db, SqlLedger};
use passerelle_domain::catalog::media::{MediaSettings, StorageKind, StorageSettings};
use passerelle_domain::{AccountId, ProfileId};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{ErpImages, FileStorage, MediaConnections, SystemClock};
use std::sync::Arc;

/// The media connections of `profile` (`None` when it sends neither files nor ERP images).
pub async fn media_connections(
    db: &Db,
    inner: &DbConnectors,
    account: &AccountId,
    profile: &ProfileId,
    media: &MediaSettings,
) -> Result<Option<MediaConnections>, StepError> {
    if !media.enabled() {
        return Ok(None);
    }
    let files = match &media.storage {
        Some(storage) => {
            let secret = inner.secret(account, profile, STORAGE_SECRET).await?;
            Some(storage_client(storage, secret)?)
        }
        None => None,
    };
    let erp: Option<Arc<dyn ErpImages>> = if media.erp_image {
        Some(Arc::new(inner.ebp_client(account, profile).await?))
    } else {
        None
    };
    let shop = inner.shop_connection(account, profile).await?.media()?;
    let ledger = Arc::new(SqlLedger::new(db.clone(), Arc::new(SystemClock)));
    Ok(Some(MediaConnections {
        storage: files,
        erp,
        shop,
        memos: Arc::new(LedgerMemos::new(ledger, account.clone(), profile.clone())),
    }))
}

/// The storage client of `s` with its secret.
pub fn storage_client(
    s: &StorageSettings,
    secret: passerelle_adapters::secrets::Secret,
) -> Result<Arc<dyn FileStorage>, StepError> {
    let host = s.host.clone().unwrap_or_default();
    let user = s.user.clone().unwrap_or_else(|| "anonymous".into());
    Ok(match s.kind {
        StorageKind::Ftp => Arc::new(FtpStorage::plain(&host, &user, secret)?),
        StorageKind::Ftps => {
            let pem = match &s.ca_file {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    StepError::permanent(format!("certificat FTPS « {path} » illisible : {e}"))
                })?),
                None => None,
            };
            Arc::new(FtpStorage::tls(&host, &user, secret, pem.as_deref())?)
        }
        // The HTTP platforms: `host` overrides the public API base URL (one simulator
        // serves Dropbox's API and content hosts).
        StorageKind::Dropbox => {
            let api = s.host.as_deref().unwrap_or(dropbox::API_URL);
            let content = s.host.as_deref().unwrap_or(dropbox::CONTENT_URL);
            Arc::new(dropbox::DropboxStorage::new(api, content, secret)?)
        }
        StorageKind::Pcloud => Arc::new(pcloud::PcloudStorage::new(
            s.host.as_deref().unwrap_or(pcloud::API_URL),
            secret,
        )?),
        StorageKind::Cloudinary => Arc::new(cloudinary::CloudinaryStorage::new(
            s.host.as_deref().unwrap_or(cloudinary::API_URL),
            s.cloud_name.as_deref().unwrap_or(""),
            s.user.as_deref().unwrap_or(""),
            secret,
        )?),
    })
}
