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
use crate::ports::{MediaConnections, MediaMemo, StoredFile};
use passerelle_domain::catalog::media::{article_folder, belongs_to, image_format};
use passerelle_domain::ItemOutcome;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    let Some(storage_settings) = m.storage.clone() else {
        return Ok(HashMap::new());
    };
    if targets.is_empty() {
        return Ok(HashMap::new());
    }
    let (media, run, update) = (media.clone(), io.ctx.run_id(), s.update.clone());
    let reports: Vec<(String, MediaReport)> = io
        .ctx
        .step("send_media", &io.p.shop, || async move {
            let mut listed: HashMap<String, Vec<StoredFile>> = HashMap::new();
            let mut out = Vec::new();
            for t in targets {
                let images = m.images && (t.created || update.images);
                let documents = m.documents && (t.created || update.documents);
                let mut report = MediaReport::default();
                let r = product_media(
                    &media,
                    &storage_settings,
                    &mut listed,
                    &t,
                    (images, documents, m.delete_first),
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

/// The files of folder `folder` (listed once per step).
async fn files_of(
    media: &MediaConnections,
    listed: &mut HashMap<String, Vec<StoredFile>>,
    folder: &str,
) -> Result<Vec<StoredFile>, StepError> {
    if let Some(f) = listed.get(folder) {
        return Ok(f.clone());
    }
    let f = media.storage.list(folder).await?;
    listed.insert(folder.to_string(), f.clone());
    Ok(f)
}

async fn product_media(
    media: &MediaConnections,
    st: &passerelle_domain::catalog::media::StorageSettings,
    listed: &mut HashMap<String, Vec<StoredFile>>,
    t: &MediaTarget,
    (images, documents, delete_first): (bool, bool, bool),
    run: passerelle_domain::RunId,
    report: &mut MediaReport,
) -> Result<(), StepError> {
    if images {
        let folder = article_folder(&st.images_folder, &t.reference, st.per_reference_folder);
        let files: Vec<StoredFile> = files_of(media, listed, &folder)
            .await?
            .into_iter()
            .filter(|f| belongs_to(&f.name, &t.reference, st.per_reference_folder))
            .collect();
        // The wanted images: readable image files, by name.
        let mut wanted: Vec<(String, String, Vec<u8>)> = Vec::new();
        for f in files {
            let bytes = media.storage.fetch(&f).await?;
            if image_format(&bytes).is_none() {
                report.refused.push((
                    f.name.clone(),
                    "ce n'est pas une image JPEG, PNG, GIF ou WebP (not an image)".into(),
                ));
                continue;
            }
            let hash = hex(&Sha256::digest(&bytes));
            wanted.push((f.name, hash, bytes));
        }
        send_images(media, t, wanted, delete_first, run, report).await?;
    }
    if let (true, Some(dfolder)) = (documents, &st.documents_folder) {
        let folder = article_folder(dfolder, &t.reference, st.per_reference_folder);
        let files: Vec<StoredFile> = files_of(media, listed, &folder)
            .await?
            .into_iter()
            .filter(|f| belongs_to(&f.name, &t.reference, st.per_reference_folder))
            .collect();
        for f in files {
            let bytes = media.storage.fetch(&f).await?;
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
            } else if wanted.iter().any(|(wn, _, _)| wn == n) {
                // Same file name, new content: the old image is replaced.
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
