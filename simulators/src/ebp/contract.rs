//! The EBP contract as the simulator states it, independently of the client's
//! `adapters/src/ebp/assumptions.rs`: paths, multipart fields, file names, document types,
//! statuses and the table and column names the simulated folder serves. Where EBP publishes
//! nothing (the Import API's file layout), these are the same assumptions the client makes,
//! written a second time on purpose: a typo on one side fails the tests.

use passerelle_domain::orders::DocumentKind;

/// Import API route (multipart POST).
pub const IMPORT_PATH: &str = "/import/api/v1/createImport";
/// Multipart field: the folder id.
pub const FIELD_FOLDER_ID: &str = "folderId";
/// Multipart field: one per import file.
pub const FIELD_FILES: &str = "files";
/// Multipart field: JSON map file name → saved import model.
pub const FIELD_MODELS: &str = "models";
/// Status of an import accepted asynchronously (`GET`, `importId` query parameter).
pub const IMPORT_STATUS_PATH: &str = "/import/api/v1/Status";
/// Query parameter of [`IMPORT_STATUS_PATH`].
pub const PARAM_IMPORT_ID: &str = "importId";
/// Per-file import: multipart text field of the import category.
pub const FIELD_CATEGORY: &str = "category";
/// Per-file import: multipart text field of the model name.
pub const FIELD_MODEL_NAME: &str = "modelName";
/// Per-file import: the one file.
pub const FIELD_FILE: &str = "file";

/// The import category of each file (customers, sale orders, delivery notes, invoices
/// as EBP's desktop engine names them; quotes, addresses and payments assumed).
pub fn category(file: &str) -> Option<&'static str> {
    Some(match file {
        CUSTOMERS_FILE => "Customers",
        ADDRESSES_FILE => "CustomerAddresses",
        PAYMENTS_FILE => "CustomerSettlements",
        "Quotes.txt" => "SaleQuotes",
        "Orders.txt" => "SaleOrders",
        "Delivery Notes.txt" => "SaleDelivery",
        "Invoices.txt" => "SaleInvoices",
        _ => return None,
    })
}

/// Base of the Export API (invoice PDFs).
pub const EXPORT_BASE: &str = "/export/api/v1";
/// Export kind of a sale invoice.
pub const EXPORT_KIND_INVOICE: &str = "SaleInvoice";
/// Status of a finished export.
pub const EXPORT_COMPLETED: &str = "Completed";

/// Import file of the customers.
pub const CUSTOMERS_FILE: &str = "Customers.txt";
/// Import file of the customers' addresses.
pub const ADDRESSES_FILE: &str = "Adresses.txt";
/// Import file of the payments.
pub const PAYMENTS_FILE: &str = "Payments.txt";

/// Import statuses.
pub const STATUS_COMPLETED: &str = "Completed";
/// Some rows refused.
pub const STATUS_COMPLETED_WITH_ERRORS: &str = "CompletedWithErrors";
/// Nothing imported.
pub const STATUS_FAILED: &str = "Failed";

/// OAuth error of an unknown, used or expired code or refresh token.
pub const INVALID_GRANT: &str = "invalid_grant";

/// The web-order key column of documents and payments.
pub const ATOOSYNC_COLUMN: &str = "xx_atoosync_order";
/// Its length (a custom text column of 32 characters).
pub const ATOOSYNC_MAX_LEN: usize = 32;
/// Reference EBP gives a document created by transforming another one.
pub const IMPORTED_REFERENCE_PREFIX: &str = "Document importé n° ";
/// `DocumentType` of a credit note.
pub const CREDIT_NOTE_TYPE: i64 = 9;

/// Article image column (base64 in the JSON answer).
pub const ITEM_IMAGE_COLUMN: &str = "ItemImage";
/// Price-list inclusion lines table.
pub const PRICE_LIST_INCLUSION_TABLE: &str = "PriceListInclusionLine";
/// Price list on a price category.
pub const PRICE_LIST_THIRD_CATEGORY: i64 = 1;
/// Price list on one customer.
pub const PRICE_LIST_THIRD_CUSTOMER: i64 = 2;
/// Calculation: fixed price.
pub const PRICE_LIST_CALCULATION_FIXED: i64 = 0;
/// Calculation: discount percent.
pub const PRICE_LIST_CALCULATION_DISCOUNT: i64 = 1;
/// Price category caption column.
pub const PRICE_CATEGORY_NAME_COLUMN: &str = "Description";
/// Linked articles (cross-selling) table.
pub const LINKED_ITEM_TABLE: &str = "LinkedItem";
/// Pack components table.
pub const ITEM_COMPONENT_TABLE: &str = "ItemComponent";

/// `DocumentType` of each kind.
pub fn document_type(kind: DocumentKind) -> i64 {
    match kind {
        DocumentKind::Quote => 1,
        DocumentKind::Invoice => 2,
        DocumentKind::Order => 4,
        DocumentKind::DeliveryNote => 6,
    }
}

/// Number prefix of each kind (EBP's defaults).
pub fn number_prefix(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Quote => "DE",
        DocumentKind::Order => "CM",
        DocumentKind::DeliveryNote => "BL",
        DocumentKind::Invoice => "FA",
    }
}

/// The document kind an import file holds, by its name.
pub fn kind_of_file(name: &str) -> Option<DocumentKind> {
    match name {
        "Quotes.txt" => Some(DocumentKind::Quote),
        "Orders.txt" => Some(DocumentKind::Order),
        "Delivery Notes.txt" => Some(DocumentKind::DeliveryNote),
        "Invoices.txt" => Some(DocumentKind::Invoice),
        _ => None,
    }
}
