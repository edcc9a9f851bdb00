//! Images and documents of the article export (FEATURES §3.1 "Images", "Documents"): where
//! the files are and which of them belong to an article. Pure: the workflow lists the
//! storage folder and this module picks the article's files by name.

use serde::{Deserialize, Serialize};

/// Which online storage holds the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    /// Plain FTP, passive mode.
    #[default]
    Ftp,
    /// FTP over explicit TLS (`AUTH TLS`), passive mode.
    Ftps,
    /// Dropbox (API v2).
    Dropbox,
    /// pCloud.
    Pcloud,
    /// Cloudinary (Admin API).
    Cloudinary,
}

/// Where the images and documents are (the secret — FTP password, Dropbox or pCloud
/// token, Cloudinary API secret — is not here: it is stored encrypted with the profile's
/// other credentials).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    /// The platform.
    pub kind: StorageKind,
    /// FTP: `host` or `host:port`; the HTTP platforms: their API base URL when it is not
    /// the public one (tests, proxies).
    pub host: Option<String>,
    /// FTP user name; Cloudinary API key.
    pub user: Option<String>,
    /// Cloudinary cloud name.
    pub cloud_name: Option<String>,
    /// Folder of the images (`/` separated; empty: the root).
    pub images_folder: String,
    /// Folder of the documents (none: no documents from storage).
    pub documents_folder: Option<String>,
    /// The files of an article are in a sub-folder named after its reference (else the
    /// folder holds every article's files, named after the reference).
    pub per_reference_folder: bool,
    /// FTPS: PEM file of a certificate authority (or self-signed certificate) to trust
    /// besides the public roots.
    pub ca_file: Option<String>,
}

/// The media options of the article export.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// Send images from the storage.
    pub images: bool,
    /// Attach documents from the storage's documents folder.
    pub documents: bool,
    /// Delete all the product's images before sending new ones.
    pub delete_first: bool,
    /// Send the ERP article image (EBP `Item.Image`) when the article has one.
    pub erp_image: bool,
    /// The storage (none: no file is fetched).
    pub storage: Option<StorageSettings>,
}

impl MediaSettings {
    /// Whether anything media-related is asked.
    pub fn enabled(&self) -> bool {
        self.erp_image || (self.storage.is_some() && (self.images || self.documents))
    }
}

/// The folder to list for article `reference` under `folder`.
pub fn article_folder(folder: &str, reference: &str, per_reference: bool) -> String {
    let base = folder.trim_matches('/');
    match (per_reference, base.is_empty()) {
        (false, _) => base.to_string(),
        (true, true) => reference.to_string(),
        (true, false) => format!("{base}/{reference}"),
    }
}

/// Whether file `name` belongs to article `reference` in a shared folder: its stem is the
/// reference, or the reference followed by `-`, `_` or a space and anything (`ABC.jpg`,
/// `ABC-2.jpg`, `ABC_face.png`). Exact case, like the reference key (FEATURES §2). In a
/// per-reference folder every file belongs to the article.
pub fn belongs_to(name: &str, reference: &str, per_reference: bool) -> bool {
    if per_reference {
        return true;
    }
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    match stem.strip_prefix(reference) {
        Some("") => true,
        Some(rest) => rest.starts_with(['-', '_', ' ']),
        None => false,
    }
}

/// The image format of `bytes` from its magic number (JPEG, PNG, GIF, WebP), or `None`
/// when the bytes are not an image the shop takes.
pub fn image_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_matched_by_reference() {
        assert!(belongs_to("ABC.jpg", "ABC", false));
        assert!(belongs_to("ABC-2.jpg", "ABC", false));
        assert!(belongs_to("ABC_face.png", "ABC", false));
        assert!(!belongs_to("ABCD.jpg", "ABC", false));
        assert!(!belongs_to("abc.jpg", "ABC", false));
        assert!(belongs_to("whatever.jpg", "ABC", true));
        assert_eq!(article_folder("/img/", "ABC", true), "img/ABC");
        assert_eq!(article_folder("", "ABC", true), "ABC");
        assert_eq!(article_folder("img", "ABC", false), "img");
    }

    #[test]
    fn images_are_recognised_by_their_magic_number() {
        assert_eq!(image_format(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_format(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_format(b"GIF89a.."), Some("image/gif"));
        assert_eq!(image_format(b"%PDF-1.4"), None);
        assert_eq!(image_format(b""), None);
    }
}
