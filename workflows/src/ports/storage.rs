//! The online-storage and shop-media ports of the image and document export (FEATURES
//! §3.1 "Images", "Documents"): a folder of files somewhere (FTP/FTPS, Dropbox, pCloud,
//! Cloudinary) read by name, and the shop product's images and documents written by
//! product id. Kept apart from [`super::CatalogShop`] so the product flows stay narrow.

use crate::engine::StepError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One file of a storage folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// File name, without the folder (`ABC-1.jpg`).
    pub name: String,
    /// What [`FileStorage::fetch`] needs to read it (a full path, or a download URL for
    /// the platforms that list one).
    pub locator: String,
}

/// A folder of files in online storage, read-only.
#[async_trait]
pub trait FileStorage: Send + Sync {
    /// The files (not the sub-folders) directly in `folder` (`/` separated, relative to
    /// the account's root; empty: the root), in name order. A folder that does not exist
    /// lists no file (an article without its sub-folder simply has no image).
    async fn list(&self, folder: &str) -> Result<Vec<StoredFile>, StepError>;
    /// The bytes of one listed file.
    async fn fetch(&self, file: &StoredFile) -> Result<Vec<u8>, StepError>;
}

/// A product image as the shop lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopImage {
    /// The shop's image id.
    pub id: String,
}

/// A shop product's images and documents.
#[async_trait]
pub trait ShopMedia: Send + Sync {
    /// The images of product `product_id`.
    async fn images(&self, product_id: &str) -> Result<Vec<ShopImage>, StepError>;
    /// Adds an image to the product; returns its id. A file the shop refuses (not an
    /// image) is a permanent error naming the shop's reason.
    async fn add_image(
        &self,
        product_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<String, StepError>;
    /// Deletes one image of the product (an image already gone is not an error).
    async fn delete_image(&self, product_id: &str, image_id: &str) -> Result<(), StepError>;
    /// Attaches a document (PDF…) to the product unless an attachment of the same file
    /// name is already on it; returns the attachment id and whether it was added now.
    async fn attach_document(
        &self,
        product_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<(String, bool), StepError>;
}

/// What was sent to one product, remembered between runs so that a re-run sends nothing
/// twice (the shop re-encodes images: their bytes cannot be compared afterwards).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaMemo {
    /// `(file name, SHA-256 hex, shop image id)` of the images sent.
    pub images: Vec<(String, String, String)>,
}

/// Where the memos of the products' media live (per profile).
#[async_trait]
pub trait MediaMemos: Send + Sync {
    /// The memo of product `reference` (empty when nothing was sent yet).
    async fn memo(&self, reference: &str) -> Result<MediaMemo, StepError>;
    /// Replaces the memo of product `reference` (recorded on behalf of `run`).
    async fn remember(
        &self,
        run: passerelle_domain::RunId,
        reference: &str,
        memo: &MediaMemo,
    ) -> Result<(), StepError>;
}

/// The article images kept in the ERP itself.
#[async_trait]
pub trait ErpImages: Send + Sync {
    /// The image of each of `references` that has one: `Ok(bytes)`, or `Err(reason)` when
    /// the ERP's value cannot be read (that image only fails).
    async fn images_of(
        &self,
        references: &[String],
    ) -> Result<Vec<(String, Result<Vec<u8>, String>)>, StepError>;
}

/// The media connections of one profile, opened once per run.
#[derive(Clone)]
pub struct MediaConnections {
    /// Where the files are (none: only the ERP image is sent).
    pub storage: Option<std::sync::Arc<dyn FileStorage>>,
    /// The ERP's own article images (when the profile sends them).
    pub erp: Option<std::sync::Arc<dyn ErpImages>>,
    /// The shop products' media.
    pub shop: std::sync::Arc<dyn ShopMedia>,
    /// What was sent before.
    pub memos: std::sync::Arc<dyn MediaMemos>,
}
