//! Every assumption about EBP details that are **not documented publicly**
//! (`reference/ebp-api.md` §4.2, §7, §9). Each item says that it is an assumption and why
//! it was chosen, so the list of things to confirm on EBP's preprod lives in one place. The
//! client, the file writer and the simulator all read these constants: changing one here
//! changes both sides consistently.

use passerelle_domain::orders::{DocumentKind, VatRounding};

/// Path of the Import API call, relative to the API base.
///
/// **Assumption**: the doc map [S2] names `POST /import/api/v1/createImport` (multipart →
/// `StatutResultImport`) without showing the exact casing or parameters; we take the name
/// as written there.
pub const IMPORT_PATH: &str = "/import/api/v1/createImport";

/// Multipart text field carrying the folder (dossier) id.
///
/// **Assumption**: the doc says the import families take `folderId` "in body / params";
/// the Export API body uses `folderId`, so the Import API is assumed to use the same name.
pub const FIELD_FOLDER_ID: &str = "folderId";

/// Multipart file field; repeated once per file (`filename` = the file name).
///
/// **Assumption**: not documented. One call carries every file of a batch (customers first)
/// so that an import of N orders costs one call whatever N is (1 call/s, 10,000/day).
pub const FIELD_FILES: &str = "files";

/// Multipart text field: JSON object `{ "<file name>": "<import model name>" }`.
///
/// **Assumption**: how a saved import model is referenced is not documented; saved models
/// are rows of `EbpSysGenericImportSettings` identified by `name` (§7), so we send names.
pub const FIELD_MODELS: &str = "models";

/// Column of `Item` holding the article's image: **`ItemImage`** (bytea in a real Open Line
/// database; there is no `Image` column — `reference/ebp-import-api-2.md` F10, High on the
/// desktop schema, Medium for SaaS). It is taken to arrive in the JSON answer as a **base64
/// string** (how .NET serialises a `byte[]`), null or empty when the article has none. An
/// undecodable value fails that article's ERP image only.
pub const ITEM_IMAGE_COLUMN: &str = "ItemImage";

/// Customers file (one row per customer).
pub const CUSTOMERS_FILE: &str = "Customers.txt";
/// Addresses file (one row per address: billing and delivery of each customer).
pub const ADDRESSES_FILE: &str = "Adresses.txt";
/// Payments file (one row per settlement).
///
/// **Assumption / choice**: payments go in a separate file rather than as columns of the
/// document rows, because a document may carry several payments and rows are per *line*.
/// A payment row points at its document through the web order number
/// (`Règlement - xx_atoosync_order`), since the ERP number is unknown before the import;
/// the import engine is assumed to resolve it within the same call (files are applied in
/// the order sent: customers, addresses, documents, payments).
pub const PAYMENTS_FILE: &str = "Payments.txt";

/// The import file of a document kind (FEATURES §9).
pub fn document_file(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Quote => "Quotes.txt",
        DocumentKind::Order => "Orders.txt",
        DocumentKind::DeliveryNote => "Delivery Notes.txt",
        DocumentKind::Invoice => "Invoices.txt",
    }
}

/// The document kind whose import file is `name`.
pub fn kind_of_file(name: &str) -> Option<DocumentKind> {
    ALL_KINDS.into_iter().find(|k| document_file(*k) == name)
}

/// Every document kind, in file order.
pub const ALL_KINDS: [DocumentKind; 4] = [
    DocumentKind::Quote,
    DocumentKind::Order,
    DocumentKind::DeliveryNote,
    DocumentKind::Invoice,
];

/// Default name of the saved import model of each file (the profile's `[erp.models]`
/// overrides each; `ImportModelNames::default` holds the same names).
///
/// **Plausible** (F5): models are named rows of `EbpSysGenericImportSettings`; the one the
/// profile names is read from the folder before any run writes (`models.rs`), so a wrong
/// name is refused in French instead of being guessed.
pub fn model_name(file: &str) -> &'static str {
    match file {
        CUSTOMERS_FILE => "Passerelle - Clients",
        ADDRESSES_FILE => "Passerelle - Adresses",
        PAYMENTS_FILE => "Passerelle - Règlements",
        "Quotes.txt" => "Passerelle - Devis",
        "Orders.txt" => "Passerelle - Commandes",
        "Delivery Notes.txt" => "Passerelle - Bons de livraison",
        "Invoices.txt" => "Passerelle - Factures",
        _ => "Passerelle",
    }
}

/// The API's `DocumentType` value of a kind (§4: 1 quote, 2 invoice, 4 order, 6 delivery
/// note — documented; `4 = CM…` confirmed by a real client).
pub fn document_type(kind: DocumentKind) -> i64 {
    match kind {
        DocumentKind::Quote => 1,
        DocumentKind::Invoice => 2,
        DocumentKind::Order => 4,
        DocumentKind::DeliveryNote => 6,
    }
}

/// The kind of an API `DocumentType` value.
pub fn kind_of_type(value: i64) -> Option<DocumentKind> {
    ALL_KINDS.into_iter().find(|k| document_type(*k) == value)
}

/// Number prefix EBP gives each kind by default.
///
/// **Assumption**: only `CM` (orders) is seen in a real response; `DE`, `BL`, `FA` are
/// EBP's usual defaults in the desktop product. Used by the simulator only.
pub fn number_prefix(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Quote => "DE",
        DocumentKind::Order => "CM",
        DocumentKind::DeliveryNote => "BL",
        DocumentKind::Invoice => "FA",
    }
}

/// Line terminator.
///
/// **Assumption**: files written by Windows tools; EBP reads CRLF (and LF) alike (both
/// seen on the desktop, `reference/ebp-import-api-2.md` F6, F7; Low impact).
pub const LINE_END: &str = "\r\n";

// Separator, text qualifier, decimal separator and encoding are no longer constants: each
// file is written to its model's definition read from the folder (`models.rs`), else to
// the profile's explicit `[erp.format]`, whose defaults come from the evidence (F6, F7):
// `;`, no qualifier (neither sample quotes; a qualifier the model lacks would end up in the
// values), decimal point (the only sample with prices, weak), UTF-8 with BOM (a production
// connector), `dd/MM/yyyy`. See `passerelle_domain::profile::ImportFileFormat`.

/// Date format of the files (`dd/MM/yyyy`, seen in the public order file, §7).
pub const DATE_FORMAT: &str = "%d/%m/%Y";

/// Boolean values in the files.
///
/// **Assumption**: EBP's French UI uses Oui/Non; import models map them to booleans.
pub const YES: &str = "Oui";
/// See [`YES`].
pub const NO: &str = "Non";

/// Replacement for characters outside Windows-1252.
pub const REPLACEMENT: char = '?';

/// Custom field holding the web order number on sale documents (FEATURES §3.3, §9: text,
/// 32 chars).
///
/// **Assumption**: custom fields are addressed by their `xx_` name both in import headers
/// (a public contact import uses `xx_birthday`, §7) and in GenericQuery columns; the
/// field is created as `atoosync_order`, so EBP names it `xx_atoosync_order`.
pub const ATOOSYNC_COLUMN: &str = "xx_atoosync_order";

/// Maximum length of the web order number field.
pub const ATOOSYNC_MAX_LEN: usize = 32;

/// Prefix EBP writes in `SaleDocument.Reference` of imported documents, followed by the
/// source document number (a desktop connector strips it to map documents back, §7 [S11]).
///
/// **Assumption**: the SaaS import engine keeps this convention and, when the file gives no
/// reference, uses the web order number as "source number". We use it only as a fallback
/// key for documents whose `xx_atoosync_order` is empty.
pub const IMPORTED_REFERENCE_PREFIX: &str = "Document importé n° ";

/// Suffix EBP may append to that reference when an imported price differs from the item
/// card (§7 [S11]); stripped before comparing.
pub const PRICE_DIFFERS_SUFFIX: &str = " (prix article différent)";

/// Key of the lines array in `Documents/SaleDocument/WithLines` rows.
///
/// **Assumption**: not confirmed (a real client tries `Lines`, `lines`, `DocumentLines`,
/// §4); we read all three and the simulator answers `Lines`.
pub const LINES_KEYS: [&str; 3] = ["Lines", "lines", "DocumentLines"];

/// Status values of `StatutResultImport.status`.
///
/// **Assumption**: the result schema is not public. We assume a synchronous answer:
/// ```json
/// { "importId": "…", "status": "Completed" | "CompletedWithErrors" | "Failed",
///   "files": [ { "fileName": "Orders.txt", "model": "Passerelle - Commandes",
///                "rowsRead": 5,
///                "created": [ { "key": "W1001", "documentNumber": "CM00001",
///                               "documentType": 4, "rows": [2, 3] } ],
///                "errors":  [ { "row": 4, "key": "W1003",
///                               "message": "Client inconnu : ZZZ" } ] } ] }
/// ```
/// `key` is the web order number for documents (`xx_atoosync_order`), the customer code for
/// customers, `code/type` for addresses; `row` counts the header as row 1. An asynchronous
/// answer (an import id to poll, as the Export API does) would need a status call instead.
pub const STATUS_COMPLETED: &str = "Completed";
/// See [`STATUS_COMPLETED`].
pub const STATUS_COMPLETED_WITH_ERRORS: &str = "CompletedWithErrors";
/// See [`STATUS_COMPLETED`].
pub const STATUS_FAILED: &str = "Failed";

/// Status call of an import EBP accepted asynchronously: `GET {IMPORT_STATUS_PATH}?importId=`.
///
/// **Assumption** (`reference/ebp-import-api-2.md` §3 risk 2): the Import API is not
/// documented, but its sister Export API is asynchronous — `POST CreateExport/Pdf` answers
/// **202** `{exportId}`, then `GET Status?exportId=` and `GET Result?exportId=`
/// (`reference/ebp-api.md` §4.1). If `createImport` behaves the same, it answers 202
/// `{importId}` (or 200 with a pending status) and the result is read here; the answer is
/// taken to be the same `StatutResultImport` as the synchronous one, with one of
/// [`STATUS_PENDING`] while the import is queued or running. A synchronous 200 with a final
/// status keeps working unchanged. To confirm on EBP's preprod: import one order and look
/// at the HTTP status and body of `createImport`.
pub const IMPORT_STATUS_PATH: &str = "/import/api/v1/Status";
/// Query parameter of [`IMPORT_STATUS_PATH`] (by analogy with the Export API's `exportId`).
pub const PARAM_IMPORT_ID: &str = "importId";
/// Statuses of an import not applied yet (the Export API's `Waiting`/`Starting`, plus the
/// usual `Running`/`InProgress`): polled again, never uploaded again.
pub const STATUS_PENDING: [&str; 4] = ["Waiting", "Starting", "Running", "InProgress"];

/// Whether token-endpoint calls count against the API quota.
///
/// **Assumption**: they do not (they go to `api-login.ebp.com`, outside the APIM gateway
/// that carries `ebp-subscription-key`), so the call gate is not taken for them.
pub const TOKEN_CALLS_GATED: bool = false;

/// Error of a reused (already rotated) refresh token.
///
/// **Assumption**: the standard OAuth answer, 400 `{"error":"invalid_grant"}` (§9 item 7).
pub const INVALID_GRANT: &str = "invalid_grant";

/// EBP's accounting categories (catégories comptables / territorialités): a **list built
/// into the application**, not a table — a real Open Line schema has no `Territoriality`
/// table, only `TerritorialityId` columns (`reference/ebp-import-api-2.md` F11, Medium); the
/// values are those Hubbix exposes as an enum (France 0 … Hors France 6). The profile's
/// country mapping must name one of these captions; `read_configuration` lists them
/// without any call.
pub const ACCOUNTING_CATEGORIES: [(i64, &str); 7] = [
    (0, "France"),
    (1, "Corse"),
    (2, "DOM"),
    (3, "Import/Export"),
    (4, "Intracommunautaire"),
    (5, "Monaco"),
    (6, "Hors France"),
];

/// Wait used when EBP answers 429 without `Retry-After` (its presence is unknown, §8).
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// Accept-Language sent with every call (documented default `fr-FR`; real clients pass it as
/// a query parameter, we send the header).
pub const ACCEPT_LANGUAGE: &str = "fr-FR";

// ------------------------------------------------------------ order updates (ERP → shop)

/// `DocumentType` of a credit note (Avoir), per the API enum [S2] (reference §4).
pub const CREDIT_NOTE_TYPE: i64 = 9;

/// [infer] A transformation (order → delivery note → invoice) copies the document's custom
/// fields, so the new document keeps `xx_atoosync_order`; the origin document gets
/// `TransferedDocumentId` and the new one `OriginDocumentNumber` (reference §6, "transformation
/// chain"). The chain of a web order is therefore every sale document holding its number.
pub const CHAIN_COLUMNS: [&str; 8] = [
    "Id",
    "DocumentNumber",
    "DocumentType",
    "DocumentDate",
    "DeliveryDate",
    "OriginDocumentNumber",
    ATOOSYNC_COLUMN,
    "sysModifiedDate",
];

/// The table recording deletions, `EbpSysDeletedRecord` (`Id varchar`, `UniqueId uuid`,
/// **`Kind uuid`**, `Version`; `reference/ebp-import-api-2.md` F12, High on the schema),
/// read through `GenericQuery` with `FromModifiedDate` [infer]. `Kind` is a uuid, not a
/// table name, so filtering on `Kind = "SaleDocument"` matched nothing: deletions are
/// counted without any `Kind` filter: any deletion since the cursor makes the order-update
/// flow re-read every chain (safe, costs calls). Matching the records' ids against the
/// `SaleDocument.Id` of our documents would need those ids stored (not done yet).
pub const DELETED_TABLE: &str = "EbpSysDeletedRecord";

/// Export API (reference §4.1): `POST CreateExport/Pdf` `{kind, entityId, folderId}` → 202
/// `{exportId}`; `GET Status?exportId=`; `GET Result?exportId=` → the file.
pub const EXPORT_BASE: &str = "/export/api/v1";
/// The export `kind` of a sale invoice; `entityId` is the document number.
pub const EXPORT_KIND_INVOICE: &str = "SaleInvoice";
/// Export finished.
pub const EXPORT_COMPLETED: &str = "Completed";
/// Export still running.
pub const EXPORT_PENDING: [&str; 2] = ["Waiting", "Starting"];
/// Status polls before giving up for this run (a real client polled every 2 s for 60 s,
/// reference §4.1; EBP's own CRON retries failed exports, so we never re-create one).
pub const EXPORT_MAX_POLLS: u32 = 30;

// ------------------------------------------------------------ specific prices (ERP → shop)

/// [infer] `PriceList.ThirdPriceType` of a sale price list that applies to *price
/// categories* (`PriceListCategory`). The column exists in the public schema dump [S10]
/// (`PriceList.ts`, smallint, nullable) but its values are not documented; we take 1 =
/// price category, 2 = one customer (the two kinds of third a sale price list can target in
/// EBP Gestion's UI: *catégorie tarifaire* and *client*). Lists with any other value (or
/// none) are not read. Purchase lists (`IsPurchasePriceList`) are skipped.
pub const PRICE_LIST_THIRD_CATEGORY: i64 = 1;
/// [infer] `PriceList.ThirdPriceType` of a sale price list for one customer (see above).
pub const PRICE_LIST_THIRD_CUSTOMER: i64 = 2;

/// [infer] The link between a price list and the categories or customers it applies to is
/// not visible in the schema (reference §6: "linkage … not documented"); we read it from
/// `PriceListInclusionLine` (`PriceListId`, `StartElementId`, `IsExcluded`): each line not
/// excluded names one third in `StartElementId` — a `PriceListCategory.Id` or a
/// `Customer.Id` depending on the list's `ThirdPriceType`. `InclusionType` and
/// `EndElementId` (ranges) are ignored.
pub const PRICE_LIST_INCLUSION_TABLE: &str = "PriceListInclusionLine";

/// [infer] `PriceListCalculationLine.CalculationType` of a fixed price: `PriceValue` is the
/// article's price excluding tax for the list's thirds. `Threshold` is the quantity from
/// which the line applies (0 or 1: from the first unit).
pub const PRICE_LIST_CALCULATION_FIXED: i64 = 0;
/// [infer] `CalculationType` of a percentage discount on the base price: `DiscountValue` in
/// percent (10 = 10 %). Other calculation types (margins, coefficients, free items) are
/// reported per article as not supported.
pub const PRICE_LIST_CALCULATION_DISCOUNT: i64 = 1;

/// [infer] A price category's shop group is named after `PriceListCategory.Description`
/// (the label the merchant sees; `Id` is an 8-character code). Validity dates of price lists
/// (`StartValidityDate`/`EndValidityDate`) are not sent: the shop prices have no end
/// (`0000-00-00 00:00:00`), and an expired list must be removed in the ERP to disappear.
pub const PRICE_CATEGORY_NAME_COLUMN: &str = "Description";

// ------------------------------------------------------------ cross-selling and packs

/// [infer] Linked articles (*articles liés*) are rows of `LinkedItem` (schema dump [S10]:
/// `ItemId`, `LinkedItemId`, `LineOrder`, `Quantity`, `OfferForSale`, `OfferForPurchase`):
/// `ItemId` is the article, `LinkedItemId` the article linked to it, `LineOrder` their
/// order. Only rows with `OfferForSale` true are cross-selling (the others are proposed on
/// purchase documents). The column semantics are not documented.
pub const LINKED_ITEM_TABLE: &str = "LinkedItem";

/// [infer] A bill of materials (*nomenclature*) is the set of `ItemComponent` rows whose
/// `ParentItemId` is the composed article; `ItemId` is the component and `Quantity` how
/// many of it one composed article holds (schema dump [S10]: `ItemId`, `ParentItemId`,
/// `Quantity`, `ComponentOrder`). Which of `ItemId`/`ParentItemId` is the parent is not
/// documented; `ParentItemId` reads as the owner of the line.
pub const ITEM_COMPONENT_TABLE: &str = "ItemComponent";

// ------------------------------------------------------------ document totals (VAT rounding)

/// How EBP rounds the VAT of a sale document: **per rate** — the net amounts of each VAT
/// code are summed and each base's VAT is rounded once (`round(Σ base × rate)`), rather than
/// per line (`Σ round(line × rate)`).
///
/// **Assumption** (`reference/ebp-import-api-2.md` §1.4, fact F13): no public EBP text says
/// which; a sale document stores a per-rate VAT breakdown in its footer (six slots
/// `DetailVatAmount0..5_{DetailVatId, DetailVatRate, DetailAmountVatExcluded,
/// DetailVatAmount, DetailAmountVatIncluded}`), which points to per-rate computation, and
/// per rate is how French invoice footers are usually totalled. Both rules are legal in
/// France and they differ by a cent on three lines of 0.33 € at 20 % (1.19 € per rate,
/// 1.20 € per line), so the profile setting `vat_rounding` (default `per-rate`) says which
/// rule the merchant's folder uses; the builder sizes the gap line with it, and the
/// simulator computes its documents' totals with it (`simulators/src/ebp/sim_totals.rs`).
/// To confirm on EBP's preprod: import three lines of 0.33 € at 20 % and read
/// `AmountVatIncluded`.
///
/// Amounts are taken to the cent wherever a document shows one (a line's net amount, each
/// VAT amount, the totals), unit prices keeping the folder's price precision (also an
/// assumption: `SaleDocumentLine` carries `PricesDecimalNumber` for prices, while amounts
/// are in the currency's unit).
pub const VAT_ROUNDING: VatRounding = VatRounding::PerRate;
