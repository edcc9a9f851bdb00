//! Images and documents of `export-articles` (FEATURES §3.1 "Images", "Documents"): after
//! a page's products are written, their files are fetched from the profile's online
//! storage (FTP/FTPS, Dropbox, pCloud, Cloudinary) and sent to the shop products.
//!
//! One journaled step per page (`send_media`), products handled one after the other in
//! it. Idempotent: what was sent to a product (file name, SHA-256, shop image id) is
//! remembered per product, and a re-run sends only new or changed files; with
//! *delete first*, an unchanged set is left alone, a changed one replaces every image of
//! the product. A file that is not an image is reported with its reason and the others
//! go on; a product whose media fail keeps its own outcome (the product was written).

use super::catalog::Io;
use crate::engine::{RunError, StepError};
use crate::ports::{FileStorage, MediaConnections, MediaMemo, StoredFile};
use passerelle_domain::catalog::media::{
    article_folder, belongs_to, image_format, MediaSettings, StorageSettings,
};
use passerelle_domain::ItemOutcome;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What the media step did to one product (journaled: names, counts and reasons only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaReport {
    /// Images uploaded.
    pub sent: u32,
    /// Images already there (unchanged files).
    pub kept: u32,
    /// Images deleted (delete-first, or replaced files).
    pub deleted: u32,
    /// Documents attached by this run.
    pub documents: u32,
    /// Documents already attached.
    pub documents_kept: u32,
    /// Files not sent, with why (French first).
    pub refused: Vec<(String, String)>,
    /// Why the product's media could not be handled at all.
    pub failed: Option<String>,
}

impl MediaReport {
    /// The log text added to the product's outcome.
    pub fn text(&self) -> String {
        let mut t = String::new();
        if self.sent + self.kept + self.deleted > 0 {
            t = format!(
                "images : {} envoyée(s), {} inchangée(s), {} supprimée(s)",
                self.sent, self.kept, self.deleted
            );
        }
        if self.documents + self.documents_kept > 0 {
            t.push_str(&format!(
                "{}documents : {} joint(s), {} déjà joint(s)",
                if t.is_empty() { "" } else { " ; " },
                self.documents,
                self.documents_kept
            ));
        }
        for (name, why) in &self.refused {
            if !t.is_empty() {
                t.push_str(" ; ");
            }
            t.push_str(&format!("fichier « {name} » ignoré : {why}"));
        }
        if let Some(f) = &self.failed {
            if !t.is_empty() {
                t.push_str(" ; ");
            }
            t.push_str(&format!("médias en échec : {f}"));
        }
        t
    }
}

/// One written product of the page.
#[derive(Debug, Clone)]
pub struct MediaTarget {
    /// Reference.
    pub reference: String,
    /// Shop product id.
    pub product_id: String,
    /// Created by this run (the update switches do not apply).
    pub created: bool,
}

/// Opens the profile's media connections when the profile asks for images or documents.
pub(crate) async fn open(
    io: &Io,
    connectors: &std::sync::Arc<dyn super::catalog::CatalogConnectors>,
) -> Result<Option<MediaConnections>, RunError> {
    if !io.config.settings.media.enabled() {
        return Ok(None);
    }
    connectors
        .catalog_media(io.ctx.account_id(), io.ctx.profile_id())
        .await
        .map_err(|e| RunError::failed(format!("connexion au stockage en ligne : {e}")))
}

/// Sends the media of a page's written products (the `send_media` step); returns the
/// report of each product handled.
pub(crate) async fn send_page(
    io: &Io,
    media: &MediaConnections,
    targets: Vec<MediaTarget>,
) -> Result<HashMap<String, MediaReport>, RunError> {
    let s = &io.config.settings;
    let m = s.media.clone();
    let targets: Vec<MediaTarget> = targets
        .into_iter()
        .filter(|t| t.created || s.update.images || s.update.documents)
        .collect();
    if targets.is_empty() {
        return Ok(HashMap::new());
    }
    let (media, run, update) = (media.clone(), io.ctx.run_id(), s.update.clone());
    let reports: Vec<(String, MediaReport)> = io
        .ctx
        .step("send_media", &io.p.shop, || async move {
            // The ERP images of the page, in one batched read.
            let mut erp_images: HashMap<String, Result<Vec<u8>, String>> = HashMap::new();
            if let (true, Some(erp)) = (m.erp_image, &media.erp) {
                let refs: Vec<String> = targets
                    .iter()
                    .filter(|t| t.created || update.images)
                    .map(|t| t.reference.clone())
                    .collect();
                if !refs.is_empty() {
                    erp_images = erp.images_of(&refs).await?.into_iter().collect();
                }
            }
            let mut listed: HashMap<String, Vec<StoredFile>> = HashMap::new();
            let mut out = Vec::new();
            for t in targets {
                let images = (m.images || m.erp_image) && (t.created || update.images);
                let documents = m.documents && (t.created || update.documents);
                let mut report = MediaReport::default();
                let r = product_media(
                    &media,
                    &m,
                    &mut listed,
                    &t,
                    erp_images.remove(&t.reference),
                    (images, documents),
                    run,
                    &mut report,
                )
                .await;
                match r {
                    Ok(()) => {}
                    Err(StepError::Permanent(why)) => report.failed = Some(why),
                    Err(e) => return Err(e),
                }
                out.push((t.reference, report));
            }
            Ok(out)
        })
        .await?;
    Ok(reports.into_iter().collect())
}

/// The files of article `reference` in `folder` (each folder listed once per step).
async fn files_of(
    storage: &Arc<dyn FileStorage>,
    st: &StorageSettings,
    listed: &mut HashMap<String, Vec<StoredFile>>,
    folder: &str,
    reference: &str,
) -> Result<Vec<StoredFile>, StepError> {
    let folder = article_folder(folder, reference, st.per_reference_folder);
    let all = match listed.get(&folder) {
        Some(f) => f.clone(),
        None => {
            let f = storage.list(&folder).await?;
            listed.insert(folder, f.clone());
            f
        }
    };
    Ok(all
        .into_iter()
        .filter(|f| belongs_to(&f.name, reference, st.per_reference_folder))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn product_media(
    media: &MediaConnections,
    m: &MediaSettings,
    listed: &mut HashMap<String, Vec<StoredFile>>,
    t: &MediaTarget,
    erp_image: Option<Result<Vec<u8>, String>>,
    (images, documents): (bool, bool),
    run: passerelle_domain::RunId,
    report: &mut MediaReport,
) -> Result<(), StepError> {
    let storage = match (&media.storage, &m.storage) {
        (Some(c), Some(st)) => Some((c, st)),
        _ => None,
    };
    if images {
        // The wanted images, by name: the ERP's first, then the storage's files.
        let mut found: Vec<(String, Vec<u8>)> = Vec::new();
        if m.erp_image {
            match erp_image {
                Some(Ok(bytes)) => {
                    let ext = match image_format(&bytes) {
                        Some("image/png") => "png",
                        Some("image/gif") => "gif",
                        Some("image/webp") => "webp",
                        _ => "jpg",
                    };
                    found.push((format!("{}-erp.{ext}", t.reference), bytes));
                }
                Some(Err(why)) => report.refused.push(("image ERP".into(), why)),
                None => {}
            }
        }
        if let (true, Some((c, st))) = (m.images, storage) {
            for f in files_of(c, st, listed, &st.images_folder, &t.reference).await? {
                let bytes = c.fetch(&f).await?;
                found.push((f.name, bytes));
            }
        }
        let mut wanted: Vec<(String, String, Vec<u8>)> = Vec::new();
        for (name, bytes) in found {
            if image_format(&bytes).is_none() {
                report.refused.push((
                    name,
                    "ce n'est pas une image JPEG, PNG, GIF ou WebP (not an image)".into(),
                ));
                continue;
            }
            let hash = hex(&Sha256::digest(&bytes));
            wanted.push((name, hash, bytes));
        }
        send_images(media, t, wanted, m.delete_first, run, report).await?;
    }
    let docs = storage.and_then(|(c, st)| st.documents_folder.as_ref().map(|d| (c, st, d)));
    if let (true, Some((c, st, dfolder))) = (documents, docs) {
        for f in files_of(c, st, listed, dfolder, &t.reference).await? {
            let bytes = c.fetch(&f).await?;
            match media
                .shop
                .attach_document(&t.product_id, &f.name, &bytes)
                .await
            {
                Ok((_, true)) => report.documents += 1,
                Ok((_, false)) => report.documents_kept += 1,
                Err(StepError::Permanent(why)) => report.refused.push((f.name, why)),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

async fn send_images(
    media: &MediaConnections,
    t: &MediaTarget,
    wanted: Vec<(String, String, Vec<u8>)>,
    delete_first: bool,
    run: passerelle_domain::RunId,
    report: &mut MediaReport,
) -> Result<(), StepError> {
    let memo = media.memos.memo(&t.reference).await?;
    let on_shop: BTreeSet<String> = media
        .shop
        .images(&t.product_id)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    // What was sent before and is still on the product, by (name, hash).
    let alive: BTreeMap<(String, String), String> = memo
        .images
        .iter()
        .filter(|(_, _, id)| on_shop.contains(id))
        .map(|(n, h, id)| ((n.clone(), h.clone()), id.clone()))
        .collect();
    let wanted_keys: BTreeSet<(String, String)> = wanted
        .iter()
        .map(|(n, h, _)| (n.clone(), h.clone()))
        .collect();
    let mut next = MediaMemo::default();
    if delete_first {
        let unchanged = alive.len() == on_shop.len()
            && alive.keys().cloned().collect::<BTreeSet<_>>() == wanted_keys;
        if unchanged {
            report.kept = alive.len() as u32;
            return Ok(());
        }
        for id in &on_shop {
            media.shop.delete_image(&t.product_id, id).await?;
            report.deleted += 1;
        }
        // Forget the deleted images at once: a crash now must not keep dead ids.
        media.memos.remember(run, &t.reference, &next).await?;
    } else {
        for ((n, h), id) in &alive {
            if wanted_keys.contains(&(n.clone(), h.clone())) {
                next.images.push((n.clone(), h.clone(), id.clone()));
                report.kept += 1;
            } else if wanted.iter().any(|(wn, _, _)| stem(wn) == stem(n)) {
                // Same file name (extension aside: the ERP image's follows its format),
                // new content: the old image is replaced.
                media.shop.delete_image(&t.product_id, id).await?;
                report.deleted += 1;
            } else {
                // No longer in storage: left on the product (only delete-first removes).
                next.images.push((n.clone(), h.clone(), id.clone()));
            }
        }
    }
    for (name, hash, bytes) in wanted {
        if next.images.iter().any(|(n, h, _)| *n == name && *h == hash) {
            continue;
        }
        match media.shop.add_image(&t.product_id, &name, &bytes).await {
            Ok(id) => {
                next.images.push((name, hash, id));
                report.sent += 1;
                // Remembered image by image: a crash after an upload sends it once only.
                media.memos.remember(run, &t.reference, &next).await?;
            }
            Err(StepError::Permanent(why)) => report.refused.push((name, why)),
            Err(e) => return Err(e),
        }
    }
    if memo != next {
        media.memos.remember(run, &t.reference, &next).await?;
    }
    Ok(())
}

/// Adds the media report to a product's outcome: appended to its success message; a
/// product whose media failed entirely keeps its write but fails with the reason.
pub(crate) fn merge(outcome: &mut ItemOutcome, report: Option<&MediaReport>) {
    let Some(r) = report else { return };
    let text = r.text();
    match outcome {
        ItemOutcome::Succeeded(Some(msg)) if r.failed.is_some() => {
            *outcome = ItemOutcome::Failed(format!("{msg} ; {text}"));
        }
        ItemOutcome::Succeeded(Some(msg)) if !text.is_empty() => {
            msg.push_str(&format!(" ; {text}"));
        }
        _ => {}
    }
}

/// A file name without its extension.
fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
