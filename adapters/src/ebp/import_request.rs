//! The shape of an Import API request: the one place that knows how files, import models
//! and categories go into the multipart body (`reference/ebp-import-api-2.md` §3 risk 1).
//!
//! * [`ImportShape::PerFile`] (default): **one import per file**, addressed by folder,
//!   category and model name, as EBP's import engine is driven on the desktop
//!   (`/Import="<file>";SaleOrders;Commandes2`, one file per command, fact F4). Files are
//!   sent in dependency order (customers, addresses, documents by kind, payments); each
//!   is one call through the call gate, so a page costs one call per file it has.
//! * [`ImportShape::AllFiles`]: the first guess, every file of a batch in one call with a
//!   JSON `{file: model}` map (no category), kept behind the profile setting
//!   `import_shape = "all-files"` in case EBP's SaaS contract turns out to be that one.
//!
//! Every field name below is an **assumption**: the `createImport` operation is not public
//! (F1–F3); `folderId` is the Export API's name, `category` and `modelName` name the two
//! parts of the desktop engine's address (category + model), `file` is the multipart file.

use super::assumptions as a;
use super::files::EncodedFile;
use passerelle_domain::orders::DocumentKind;
pub use passerelle_domain::profile::ImportShape;
use std::collections::BTreeMap;

/// Multipart text field of the per-file shape: the import category.
pub const FIELD_CATEGORY: &str = "category";
/// Multipart text field of the per-file shape: the saved import model's name.
pub const FIELD_MODEL_NAME: &str = "modelName";
/// Multipart file field of the per-file shape (one file).
pub const FIELD_FILE: &str = "file";

/// The import category of a file.
///
/// Sale orders `SaleOrders`, delivery notes `SaleDelivery` (singular), invoices
/// `SaleInvoices` and customers `Customers` are the identifiers a production desktop
/// connector uses (F4, High on the desktop). **Assumptions** (no sample): quotes
/// `SaleQuotes` (by analogy with `SaleOrders`), addresses `CustomerAddresses`, payments
/// `CustomerSettlements`. The model read from the folder (`EbpSysGenericImportSettings.
/// categoryId`) is checked against these before any run writes.
pub fn category(file: &str) -> &'static str {
    match file {
        a::CUSTOMERS_FILE => "Customers",
        a::ADDRESSES_FILE => "CustomerAddresses",
        a::PAYMENTS_FILE => "CustomerSettlements",
        _ => match a::kind_of_file(file) {
            Some(DocumentKind::Quote) => "SaleQuotes",
            Some(DocumentKind::DeliveryNote) => "SaleDelivery",
            Some(DocumentKind::Invoice) => "SaleInvoices",
            _ => "SaleOrders",
        },
    }
}

fn file_part(f: &EncodedFile) -> reqwest::multipart::Part {
    let mime = format!("text/plain; charset={}", f.charset);
    let part = || reqwest::multipart::Part::bytes(f.bytes.clone()).file_name(f.name.clone());
    part().mime_str(&mime).unwrap_or_else(|_| part())
}

/// The multipart body of one call of `shape`: with [`ImportShape::PerFile`], `files` holds
/// exactly one file.
pub fn form(
    shape: ImportShape,
    folder_id: &str,
    files: &[EncodedFile],
) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().text(a::FIELD_FOLDER_ID, folder_id.to_string());
    match shape {
        ImportShape::PerFile => {
            for f in files {
                form = form
                    .text(FIELD_CATEGORY, category(&f.name).to_string())
                    .text(FIELD_MODEL_NAME, f.model.clone())
                    .part(FIELD_FILE, file_part(f));
            }
        }
        ImportShape::AllFiles => {
            let models: BTreeMap<&str, &str> = files
                .iter()
                .map(|f| (f.name.as_str(), f.model.as_str()))
                .collect();
            form = form.text(
                a::FIELD_MODELS,
                serde_json::to_string(&models).unwrap_or_default(),
            );
            for f in files {
                form = form.part(a::FIELD_FILES, file_part(f));
            }
        }
    }
    form
}

/// The calls of a batch: one per file, or one for all.
pub fn calls(shape: ImportShape, files: Vec<EncodedFile>) -> Vec<Vec<EncodedFile>> {
    match shape {
        ImportShape::PerFile => files.into_iter().map(|f| vec![f]).collect(),
        ImportShape::AllFiles if files.is_empty() => Vec::new(),
        ImportShape::AllFiles => vec![files],
    }
}
