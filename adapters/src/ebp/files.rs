//! The import files of EBP's *import paramétrable*, written by the client from an
//! [`ImportBatch`] (the simulator reads them with its own parser).
//!
//! Each file is written to a [`FileSpec`]: the folder's model definition when it parses
//! (its columns, captions, separator, text qualifier, decimal separator, encoding, date
//! format; `super::models`), else the profile's explicit format, whose defaults come from
//! the evidence (`reference/ebp-import-api-2.md` F6, F7): `;`, no qualifier, decimal point,
//! `dd/MM/yyyy`, UTF-8 with BOM, CRLF, a header line. The column identifiers below double
//! as the default captions. Files, in the order they are sent:
//!
//! * `Customers.txt`: one row per customer ([`CUSTOMER_COLUMNS`]);
//! * `Adresses.txt`: one row per address, billing then delivery ([`ADDRESS_COLUMNS`]);
//! * `Quotes.txt`, `Orders.txt`, `Delivery Notes.txt`, `Invoices.txt`: one row per document
//!   **line**, the document's header fields repeated on every row ([`document_columns`]);
//!   consecutive rows with the same number, date, customer and web order form one document;
//! * `Payments.txt`: one row per payment, linked by the web order number
//!   ([`PAYMENT_COLUMNS`]).

use super::assumptions::{self as a, ALL_KINDS};
use super::models::{FileFormat, FileSpec};
use chrono::NaiveDate;
use passerelle_domain::orders::{
    Address, CustomerRecord, DocumentKind, DocumentLine, DocumentPayment, ErpDocument, LineKind,
};
use passerelle_domain::profile::FileEncoding;
use passerelle_workflows::ports::ImportBatch;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Customer code.
pub const C_CODE: &str = "Client - Code";
/// Customer name.
pub const C_NAME: &str = "Client - Nom";
/// Contact first name.
pub const C_FIRSTNAME: &str = "Client - Contact - Prénom";
/// Contact last name.
pub const C_LASTNAME: &str = "Client - Contact - Nom";
/// Contact e-mail (`MainInvoicingContact_Email`).
pub const C_EMAIL: &str = "Client - Contact - E-mail";
/// SIRET (EBP splits it into `Siren` + `Nic`).
pub const C_SIRET: &str = "Client - SIRET";
/// Intra-community VAT number.
pub const C_VAT: &str = "Client - N° TVA intracommunautaire";
/// Accounting account.
pub const C_ACCOUNT: &str = "Client - Compte comptable";
/// Sales rep code.
pub const C_REP: &str = "Client - Code commercial";
/// Family code.
pub const C_FAMILY: &str = "Client - Code famille";
/// Price category.
pub const C_PRICE_CATEGORY: &str = "Client - Catégorie tarifaire";
/// Accounting category.
pub const C_ACCOUNTING_CATEGORY: &str = "Client - Catégorie comptable";

/// Header of `Customers.txt`.
pub const CUSTOMER_COLUMNS: [&str; 12] = [
    C_CODE,
    C_NAME,
    C_FIRSTNAME,
    C_LASTNAME,
    C_EMAIL,
    C_SIRET,
    C_VAT,
    C_ACCOUNT,
    C_REP,
    C_FAMILY,
    C_PRICE_CATEGORY,
    C_ACCOUNTING_CATEGORY,
];

/// Address fields, after a prefix (`Adresse - `, `Document - Facturation - `, …).
pub const ADDRESS_FIELDS: [&str; 10] = [
    "Prénom",
    "Nom",
    "Société",
    "Adresse 1",
    "Adresse 2",
    "Code postal",
    "Ville",
    "Code pays",
    "Région",
    "Téléphone",
];

/// Customer code of an address row.
pub const AD_CUSTOMER: &str = "Adresse - Code client";
/// `Facturation` or `Livraison`.
pub const AD_TYPE: &str = "Adresse - Type";
/// `Oui` when it becomes the main address of its type.
pub const AD_MAIN: &str = "Adresse - Principale";
/// Address type value for billing.
pub const BILLING: &str = "Facturation";
/// Address type value for delivery.
pub const DELIVERY: &str = "Livraison";
const AD_PREFIX: &str = "Adresse - ";

/// Header of `Adresses.txt`.
pub static ADDRESS_COLUMNS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let mut v = vec![
        AD_CUSTOMER.to_string(),
        AD_TYPE.to_string(),
        AD_MAIN.to_string(),
    ];
    v.extend(ADDRESS_FIELDS.iter().map(|f| format!("{AD_PREFIX}{f}")));
    v
});

/// Forced document number (empty: EBP numbers it).
pub const D_NUMBER: &str = "Document - Numéro du document";
/// Document date.
pub const D_DATE: &str = "Document - Date";
/// Customer code.
pub const D_CUSTOMER: &str = "Document - Code client";
/// Customer name.
pub const D_CUSTOMER_NAME: &str = "Document - Nom du client";
/// Reference.
pub const D_REFERENCE: &str = "Document - Référence";
/// Web order number (custom field).
pub const D_ATOOSYNC: &str = "Document - xx_atoosync_order";
/// Number series (souche).
pub const D_SERIES: &str = "Document - Souche";
/// Warehouse.
pub const D_WAREHOUSE: &str = "Document - Code dépôt";
/// Accounting category.
pub const D_ACCOUNTING_CATEGORY: &str = "Document - Catégorie comptable";
/// Currency.
pub const D_CURRENCY: &str = "Document - Code devise";
/// Conversion rate.
pub const D_RATE: &str = "Document - Taux de conversion";
/// Shipping mode.
pub const D_SHIPPING_ID: &str = "Document - Code frais de port";
/// Shipping amount tax excluded.
pub const D_SHIPPING_AMOUNT: &str = "Document - Frais de port HT";
/// Shipping VAT code.
pub const D_SHIPPING_VAT: &str = "Document - Code TVA frais de port";
/// Delivery date.
pub const D_DELIVERY_DATE: &str = "Document - Date de livraison";
/// `Oui` when unit prices include tax.
pub const D_TAX_INCLUSIVE: &str = "Document - Prix TTC";
/// Document state.
pub const D_STATE: &str = "Document - Etat";
/// Notes (messages, joined by line breaks).
pub const D_NOTES: &str = "Document - Notes";
const D_BILLING_PREFIX: &str = "Document - Facturation - ";
const D_DELIVERY_PREFIX: &str = "Document - Livraison - ";
/// Line: article code.
pub const L_ITEM: &str = "Document - Ligne - Code article";
/// Line: label.
pub const L_DESCRIPTION: &str = "Document - Ligne - Désignation";
/// Line: quantity.
pub const L_QUANTITY: &str = "Document - Ligne - Quantité";
/// Line: unit price tax excluded (empty when the document is tax-inclusive).
pub const L_PRICE_EXCL: &str = "Document - Ligne - PV HT";
/// Line: unit price tax included (empty when the document is tax-exclusive).
pub const L_PRICE_INCL: &str = "Document - Ligne - PV TTC";
/// Line: discount percent.
pub const L_DISCOUNT: &str = "Document - Ligne - Remise %";
/// Line: VAT code.
pub const L_VAT: &str = "Document - Ligne - Code TVA";
/// Line: lot / serial number.
pub const L_LOT: &str = "Document - Ligne - N° de lot";

/// Header of the document files.
pub fn document_columns() -> Vec<String> {
    let mut v: Vec<String> = [
        D_NUMBER,
        D_DATE,
        D_CUSTOMER,
        D_CUSTOMER_NAME,
        D_REFERENCE,
        D_ATOOSYNC,
        D_SERIES,
        D_WAREHOUSE,
        D_ACCOUNTING_CATEGORY,
        D_CURRENCY,
        D_RATE,
        D_SHIPPING_ID,
        D_SHIPPING_AMOUNT,
        D_SHIPPING_VAT,
        D_DELIVERY_DATE,
        D_TAX_INCLUSIVE,
        D_STATE,
        D_NOTES,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(
        ADDRESS_FIELDS
            .iter()
            .map(|f| format!("{D_BILLING_PREFIX}{f}")),
    );
    v.extend(
        ADDRESS_FIELDS
            .iter()
            .map(|f| format!("{D_DELIVERY_PREFIX}{f}")),
    );
    v.extend(
        [
            L_ITEM,
            L_DESCRIPTION,
            L_QUANTITY,
            L_PRICE_EXCL,
            L_PRICE_INCL,
            L_DISCOUNT,
            L_VAT,
            L_LOT,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

/// Payment: web order number of the document it settles.
pub const P_ATOOSYNC: &str = "Règlement - xx_atoosync_order";
/// Payment date.
pub const P_DATE: &str = "Règlement - Date";
/// Amount.
pub const P_AMOUNT: &str = "Règlement - Montant";
/// Settlement mode.
pub const P_SETTLEMENT: &str = "Règlement - Mode de règlement";
/// Payment type.
pub const P_PAYMENT_TYPE: &str = "Règlement - Moyen de paiement";
/// Bank / cash account.
pub const P_ACCOUNT: &str = "Règlement - Compte";
/// Label.
pub const P_LABEL: &str = "Règlement - Libellé";
/// `Oui` for a payment-gap settlement.
pub const P_GAP: &str = "Règlement - Écart";

/// Header of `Payments.txt`.
pub const PAYMENT_COLUMNS: [&str; 8] = [
    P_ATOOSYNC,
    P_DATE,
    P_AMOUNT,
    P_SETTLEMENT,
    P_PAYMENT_TYPE,
    P_ACCOUNT,
    P_LABEL,
    P_GAP,
];

/// A character that Windows-1252 cannot hold, replaced by `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// File row (the header is row 1).
    pub row: usize,
    /// The character replaced.
    pub character: char,
}

/// One import file, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFile {
    /// File name (`Orders.txt`…).
    pub name: String,
    /// Import model applied to it.
    pub model: String,
    /// The text as sent (after replacements), for the run's audit downloads.
    pub text: String,
    /// Windows-1252 bytes.
    pub bytes: Vec<u8>,
    /// Characters replaced by `?`.
    pub replaced: Vec<Replacement>,
    /// The encoding's label, sent as the part's `charset`.
    pub charset: String,
}

// ---------------------------------------------------------------- encoding

const CP1252_HIGH: [Option<char>; 32] = [
    Some('\u{20AC}'),
    None,
    Some('\u{201A}'),
    Some('\u{0192}'),
    Some('\u{201E}'),
    Some('\u{2026}'),
    Some('\u{2020}'),
    Some('\u{2021}'),
    Some('\u{02C6}'),
    Some('\u{2030}'),
    Some('\u{0160}'),
    Some('\u{2039}'),
    Some('\u{0152}'),
    None,
    Some('\u{017D}'),
    None,
    None,
    Some('\u{2018}'),
    Some('\u{2019}'),
    Some('\u{201C}'),
    Some('\u{201D}'),
    Some('\u{2022}'),
    Some('\u{2013}'),
    Some('\u{2014}'),
    Some('\u{02DC}'),
    Some('\u{2122}'),
    Some('\u{0161}'),
    Some('\u{203A}'),
    Some('\u{0153}'),
    None,
    Some('\u{017E}'),
    Some('\u{0178}'),
];

/// The Windows-1252 byte of `c`, if it has one.
pub fn cp1252_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 0x80 || (0xA0..=0xFF).contains(&u) {
        return u8::try_from(u).ok();
    }
    CP1252_HIGH
        .iter()
        .position(|x| *x == Some(c))
        .and_then(|i| u8::try_from(0x80 + i).ok())
}

/// Encodes to Windows-1252; characters it cannot hold become `?` and are returned.
pub fn encode_cp1252(text: &str) -> (Vec<u8>, Vec<char>) {
    let mut out = Vec::with_capacity(text.len());
    let mut replaced = Vec::new();
    for c in text.chars() {
        match cp1252_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.push(a::REPLACEMENT as u8);
                replaced.push(c);
            }
        }
    }
    (out, replaced)
}

/// Decodes Windows-1252 (the five unassigned bytes map to the C1 control of the same value).
pub fn decode_cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)].unwrap_or(char::from(b)),
            _ => char::from(b),
        })
        .collect()
}

// ---------------------------------------------------------------- values

/// Formats a decimal with `sep` as decimal separator (never a thousands separator).
pub fn fmt_decimal_with(d: Decimal, sep: char) -> String {
    d.normalize().to_string().replace('.', &sep.to_string())
}

/// Formats a decimal with the default separator (a point, see [`FileFormat::default`]).
pub fn fmt_decimal(d: Decimal) -> String {
    fmt_decimal_with(d, FileFormat::default().decimal)
}

/// Parses a decimal written with a comma or a point.
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let t = s.trim().replace(',', ".");
    Decimal::from_str(&t).map_err(|_| format!("nombre invalide « {s} »"))
}

/// Formats a date `dd/MM/yyyy`.
pub fn fmt_date(d: NaiveDate) -> String {
    d.format(a::DATE_FORMAT).to_string()
}

/// Parses a date `dd/MM/yyyy`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), a::DATE_FORMAT)
        .map_err(|_| format!("date invalide « {s} » (attendu jj/mm/aaaa)"))
}

fn fmt_bool(b: bool) -> String {
    if b { a::YES } else { a::NO }.to_string()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// One value as written: between the qualifier (doubled inside) when the format has one;
/// bare otherwise, where a separator or a line break would split the row, so it is
/// replaced by a space and reported.
fn render_value(field: &str, f: &FileFormat, replaced: &mut Vec<char>) -> String {
    match f.qualifier {
        Some(q) => format!("{q}{}{q}", field.replace(q, &format!("{q}{q}"))),
        None => field
            .chars()
            .map(|c| {
                if c == f.separator || c == '\r' || c == '\n' {
                    replaced.push(c);
                    ' '
                } else {
                    c
                }
            })
            .collect(),
    }
}

fn render_row(fields: &[String], f: &FileFormat, replaced: &mut Vec<char>) -> String {
    fields
        .iter()
        .map(|v| render_value(v, f, replaced))
        .collect::<Vec<_>>()
        .join(&f.separator.to_string())
}

fn address_values(ad: &Address) -> Vec<String> {
    vec![
        ad.firstname.clone(),
        ad.lastname.clone(),
        opt(&ad.company),
        ad.address1.clone(),
        opt(&ad.address2),
        ad.postcode.clone(),
        ad.city.clone(),
        ad.country_iso.clone(),
        opt(&ad.state),
        opt(&ad.phone),
    ]
}

// ---------------------------------------------------------------- writer

/// The fields a model must have for a file (what the import cannot do without: the
/// customer code and name, the address owner and type, the document's date, customer, web
/// order key, article and quantity, the payment's key, date and amount).
pub fn required_fields(file: &str) -> Vec<&'static str> {
    match file {
        a::CUSTOMERS_FILE => vec![C_CODE, C_NAME],
        a::ADDRESSES_FILE => vec![AD_CUSTOMER, AD_TYPE],
        a::PAYMENTS_FILE => vec![P_ATOOSYNC, P_DATE, P_AMOUNT],
        _ => vec![D_DATE, D_CUSTOMER, D_ATOOSYNC, L_ITEM, L_QUANTITY],
    }
}

/// Encodes a header and rows into one file with the default spec of `name`.
pub fn encode_file<S: AsRef<str>>(name: &str, header: &[S], rows: &[Vec<String>]) -> EncodedFile {
    encode_with(&FileSpec::default_for(name), header, rows)
}

/// Encodes a header (field identifiers) and rows into one file to `spec`: with a model
/// definition, its columns in its order under its captions (fields the model lacks are not
/// written, fields we do not know are written empty); then qualifier, separator, CRLF and
/// the encoding (UTF-8 with BOM, or Windows-1252 with `?` for what it cannot hold).
pub fn encode_with<S: AsRef<str>>(
    spec: &FileSpec,
    header: &[S],
    rows: &[Vec<String>],
) -> EncodedFile {
    let fields: Vec<&str> = header.iter().map(|h| h.as_ref()).collect();
    let (out_header, picks): (Vec<String>, Vec<Option<usize>>) = match &spec.columns {
        None => (
            fields.iter().map(|f| f.to_string()).collect(),
            (0..fields.len()).map(Some).collect(),
        ),
        Some(cols) => cols
            .iter()
            .map(|(field, caption)| (caption.clone(), fields.iter().position(|f| f == field)))
            .unzip(),
    };
    let f = &spec.format;
    let mut text = String::new();
    let mut replaced = Vec::new();
    let all = std::iter::once(out_header).chain(rows.iter().map(|r| {
        picks
            .iter()
            .map(|p| p.and_then(|i| r.get(i).cloned()).unwrap_or_default())
            .collect()
    }));
    for (i, row) in all.enumerate() {
        let mut chars = Vec::new();
        let line = render_row(&row, f, &mut chars);
        text.push_str(&line);
        text.push_str(a::LINE_END);
        replaced.extend(chars.into_iter().map(|character| Replacement {
            row: i + 1,
            character,
        }));
    }
    let bytes = match f.encoding {
        FileEncoding::Utf8Bom => {
            let mut b = UTF8_BOM.to_vec();
            b.extend_from_slice(text.as_bytes());
            b
        }
        FileEncoding::Windows1252 => {
            let mut b = Vec::with_capacity(text.len());
            for (i, line) in text.split_inclusive('\n').enumerate() {
                let (lb, r) = encode_cp1252(line);
                b.extend(lb);
                replaced.extend(r.into_iter().map(|character| Replacement {
                    row: i + 1,
                    character,
                }));
            }
            text = decode_cp1252(&b);
            b
        }
    };
    EncodedFile {
        name: spec.file.clone(),
        model: spec.model.clone(),
        text,
        bytes,
        replaced,
        charset: f.charset().to_string(),
    }
}

/// The byte-order mark of UTF-8 files.
pub const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

fn customer_row(c: &CustomerRecord) -> Vec<String> {
    vec![
        c.code.clone(),
        c.name.clone(),
        c.firstname.clone(),
        c.lastname.clone(),
        c.email.clone(),
        opt(&c.siret),
        opt(&c.vat_number),
        opt(&c.accounting_account),
        opt(&c.sales_rep),
        opt(&c.family),
        opt(&c.price_category),
        opt(&c.accounting_category),
    ]
}

fn address_row(code: &str, kind: &str, ad: &Address) -> Vec<String> {
    let mut v = vec![code.to_string(), kind.to_string(), a::YES.to_string()];
    v.extend(address_values(ad));
    v
}

fn document_rows(d: &ErpDocument, f: &FileFormat) -> Vec<Vec<String>> {
    let dec = |x: Decimal| fmt_decimal_with(x, f.decimal);
    let date = |x: NaiveDate| x.format(&f.chrono_date).to_string();
    let mut head = vec![
        opt(&d.number),
        date(d.date),
        d.customer_code.clone(),
        d.customer_name.clone(),
        d.reference.clone(),
        d.atoosync_order.clone(),
        opt(&d.series),
        opt(&d.warehouse),
        d.accounting_category.clone(),
        d.currency.clone(),
        d.conversion_rate.map(dec).unwrap_or_default(),
        opt(&d.shipping_id),
        dec(d.shipping_amount_tax_excl),
        opt(&d.shipping_vat_code),
        d.delivery_date.map(date).unwrap_or_default(),
        fmt_bool(d.tax_inclusive),
        opt(&d.erp_state),
        d.notes.join("\n"),
    ];
    head.extend(address_values(&d.billing));
    head.extend(address_values(&d.delivery));
    d.lines
        .iter()
        .map(|l| {
            let mut row = head.clone();
            let price = dec(l.unit_price);
            let (excl, incl) = if d.tax_inclusive {
                (String::new(), price)
            } else {
                (price, String::new())
            };
            row.extend([
                l.item_id.clone(),
                l.description.clone(),
                dec(l.quantity),
                excl,
                incl,
                dec(l.discount_percent),
                l.vat_code.clone(),
                opt(&l.lot),
            ]);
            row
        })
        .collect()
}

fn payment_row(atoosync: &str, p: &DocumentPayment, f: &FileFormat) -> Vec<String> {
    vec![
        atoosync.to_string(),
        p.date.format(&f.chrono_date).to_string(),
        fmt_decimal_with(p.amount, f.decimal),
        p.settlement_mode.clone(),
        p.payment_mode.clone(),
        p.bank_account.clone(),
        p.label.clone(),
        fmt_bool(p.is_gap),
    ]
}

/// Writes a batch into its files with the default spec of each (default model names, the
/// default format, every column).
pub fn write_batch(batch: &ImportBatch) -> Vec<EncodedFile> {
    write_batch_with(batch, &|file: &str| FileSpec::default_for(file))
}

/// Writes a batch into its files, in the order they must be applied (customers, addresses,
/// documents by kind, payments), each to the spec `spec_of` gives; files without rows are
/// left out.
pub fn write_batch_with(
    batch: &ImportBatch,
    spec_of: &dyn Fn(&str) -> FileSpec,
) -> Vec<EncodedFile> {
    let mut files = Vec::new();
    if !batch.customers.is_empty() {
        let rows: Vec<_> = batch.customers.iter().map(customer_row).collect();
        files.push(encode_with(
            &spec_of(a::CUSTOMERS_FILE),
            &CUSTOMER_COLUMNS,
            &rows,
        ));
        let rows: Vec<_> = batch
            .customers
            .iter()
            .flat_map(|c| {
                [
                    address_row(&c.code, BILLING, &c.billing),
                    address_row(&c.code, DELIVERY, &c.delivery),
                ]
            })
            .collect();
        files.push(encode_with(
            &spec_of(a::ADDRESSES_FILE),
            &ADDRESS_COLUMNS,
            &rows,
        ));
    }
    for kind in ALL_KINDS {
        let spec = spec_of(a::document_file(kind));
        let rows: Vec<_> = batch
            .documents
            .iter()
            .filter(|d| d.kind == kind)
            .flat_map(|d| document_rows(d, &spec.format))
            .collect();
        if !rows.is_empty() {
            files.push(encode_with(&spec, &document_columns(), &rows));
        }
    }
    let spec = spec_of(a::PAYMENTS_FILE);
    let rows: Vec<_> = batch
        .documents
        .iter()
        .flat_map(|d| {
            d.payments
                .iter()
                .map(|p| payment_row(&d.atoosync_order, p, &spec.format))
        })
        .collect();
    if !rows.is_empty() {
        files.push(encode_with(&spec, &PAYMENT_COLUMNS, &rows));
    }
    files
}

// ---------------------------------------------------------------- parser

/// A parsed file: header and data rows (`rows[i]` is file row `i + 2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column captions.
    pub header: Vec<String>,
    /// Data rows.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The value of `column` in data row `i` (empty when the column is absent).
    pub fn get(&self, i: usize, column: &str) -> &str {
        self.header
            .iter()
            .position(|h| h == column)
            .and_then(|c| self.rows.get(i).and_then(|r| r.get(c)))
            .map_or("", String::as_str)
    }

    /// Required columns missing from the header.
    pub fn missing<S: AsRef<str>>(&self, required: &[S]) -> Vec<String> {
        required
            .iter()
            .map(|c| c.as_ref())
            .filter(|c| !self.header.iter().any(|h| h == c))
            .map(str::to_string)
            .collect()
    }
}

/// Parses a file written with the default format: UTF-8 when it starts with a BOM,
/// Windows-1252 otherwise.
pub fn parse_bytes(bytes: &[u8]) -> Result<Table, String> {
    let text = match bytes.strip_prefix(&UTF8_BOM) {
        Some(rest) => String::from_utf8(rest.to_vec()).map_err(|_| "UTF-8 invalide".to_string())?,
        None => decode_cp1252(bytes),
    };
    parse_text(&text)
}

/// Parses the text of a file written with the default format.
pub fn parse_text(text: &str) -> Result<Table, String> {
    parse_with(text, &FileFormat::default())
}

/// Parses the text of a file (after decoding) written with `f`'s separator and qualifier;
/// the header row holds the captions as written.
pub fn parse_with(text: &str, f: &FileFormat) -> Result<Table, String> {
    let text = text.trim_start_matches('\u{feff}');
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if Some(c) == f.qualifier {
                if chars.peek() == Some(&c) {
                    chars.next();
                    field.push(c);
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        if Some(c) == f.qualifier {
            in_quotes = true;
            any = true;
        } else if c == f.separator {
            record.push(std::mem::take(&mut field));
            any = true;
        } else if c == '\r' {
        } else if c == '\n' {
            record.push(std::mem::take(&mut field));
            records.push(std::mem::take(&mut record));
            any = false;
        } else {
            field.push(c);
            any = true;
        }
    }
    if in_quotes {
        return Err("délimiteur de texte non fermé en fin de fichier".into());
    }
    if any || !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let mut it = records.into_iter();
    let header = it.next().ok_or("fichier vide")?;
    let rows = it.filter(|r| !(r.len() == 1 && r[0].is_empty())).collect();
    Ok(Table { header, rows })
}

fn address_from(t: &Table, i: usize, prefix: &str) -> Address {
    let g = |f: &str| t.get(i, &format!("{prefix}{f}")).to_string();
    Address {
        firstname: g("Prénom"),
        lastname: g("Nom"),
        company: non_empty(&g("Société")),
        address1: g("Adresse 1"),
        address2: non_empty(&g("Adresse 2")),
        postcode: g("Code postal"),
        city: g("Ville"),
        country_iso: g("Code pays"),
        state: non_empty(&g("Région")),
        phone: non_empty(&g("Téléphone")),
    }
}

/// Reads `Customers.txt` rows (addresses empty: they come from `Adresses.txt`).
pub fn read_customers(t: &Table) -> Vec<CustomerRecord> {
    (0..t.rows.len())
        .map(|i| {
            let g = |c: &str| t.get(i, c).to_string();
            let o = |c: &str| non_empty(t.get(i, c));
            CustomerRecord {
                code: g(C_CODE),
                name: g(C_NAME),
                firstname: g(C_FIRSTNAME),
                lastname: g(C_LASTNAME),
                email: g(C_EMAIL),
                siret: o(C_SIRET),
                vat_number: o(C_VAT),
                accounting_account: o(C_ACCOUNT),
                sales_rep: o(C_REP),
                family: o(C_FAMILY),
                price_category: o(C_PRICE_CATEGORY),
                accounting_category: o(C_ACCOUNTING_CATEGORY),
                billing: Address::default(),
                delivery: Address::default(),
            }
        })
        .collect()
}

/// One row of `Adresses.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    /// Customer code.
    pub customer: String,
    /// True for billing, false for delivery.
    pub billing: bool,
    /// The address.
    pub address: Address,
}

/// Reads `Adresses.txt`; an unknown type is an error for that row.
pub fn read_addresses(t: &Table) -> Vec<Result<AddressRow, String>> {
    (0..t.rows.len())
        .map(|i| {
            let billing = match t.get(i, AD_TYPE) {
                BILLING => true,
                DELIVERY => false,
                other => return Err(format!("type d'adresse inconnu « {other} »")),
            };
            Ok(AddressRow {
                customer: t.get(i, AD_CUSTOMER).to_string(),
                billing,
                address: address_from(t, i, AD_PREFIX),
            })
        })
        .collect()
}

/// One document read from a document file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    /// File rows of its lines (header = row 1).
    pub rows: Vec<usize>,
    /// Web order number (`Document - xx_atoosync_order`).
    pub key: String,
    /// The document, or why its rows cannot be read.
    pub document: Result<ErpDocument, String>,
}

fn doc_group_key(t: &Table, i: usize) -> [String; 4] {
    [D_NUMBER, D_DATE, D_CUSTOMER, D_ATOOSYNC].map(|c| t.get(i, c).to_string())
}

fn read_document(kind: DocumentKind, t: &Table, rows: &[usize]) -> Result<ErpDocument, String> {
    let i = rows[0];
    let g = |c: &str| t.get(i, c).to_string();
    let o = |c: &str| non_empty(t.get(i, c));
    let tax_inclusive = t.get(i, D_TAX_INCLUSIVE) == a::YES;
    let at = |r: usize, e: String| format!("ligne {} : {e}", r + 2);
    let mut lines = Vec::new();
    for &r in rows {
        let price_col = if tax_inclusive {
            L_PRICE_INCL
        } else {
            L_PRICE_EXCL
        };
        let discount = t.get(r, L_DISCOUNT);
        lines.push(DocumentLine {
            kind: LineKind::Product,
            item_id: t.get(r, L_ITEM).to_string(),
            description: t.get(r, L_DESCRIPTION).to_string(),
            quantity: parse_decimal(t.get(r, L_QUANTITY)).map_err(|e| at(r, e))?,
            unit_price: parse_decimal(t.get(r, price_col)).map_err(|e| at(r, e))?,
            discount_percent: if discount.trim().is_empty() {
                Decimal::ZERO
            } else {
                parse_decimal(discount).map_err(|e| at(r, e))?
            },
            vat_code: t.get(r, L_VAT).to_string(),
            vat_rate: Decimal::ZERO,
            lot: non_empty(t.get(r, L_LOT)),
        });
    }
    let opt_dec = |c: &str| -> Result<Option<Decimal>, String> {
        o(c).map(|v| parse_decimal(&v))
            .transpose()
            .map_err(|e| at(i, e))
    };
    Ok(ErpDocument {
        kind,
        number: o(D_NUMBER),
        date: parse_date(&g(D_DATE)).map_err(|e| at(i, e))?,
        customer_code: g(D_CUSTOMER),
        customer_name: g(D_CUSTOMER_NAME),
        reference: g(D_REFERENCE),
        atoosync_order: g(D_ATOOSYNC),
        series: o(D_SERIES),
        warehouse: o(D_WAREHOUSE),
        accounting_category: g(D_ACCOUNTING_CATEGORY),
        currency: g(D_CURRENCY),
        conversion_rate: opt_dec(D_RATE)?,
        shipping_id: o(D_SHIPPING_ID),
        shipping_amount_tax_excl: opt_dec(D_SHIPPING_AMOUNT)?.unwrap_or_default(),
        shipping_vat_code: o(D_SHIPPING_VAT),
        shipping_vat_rate: Decimal::ZERO,
        delivery_date: o(D_DELIVERY_DATE)
            .map(|d| parse_date(&d))
            .transpose()
            .map_err(|e| at(i, e))?,
        tax_inclusive,
        erp_state: o(D_STATE),
        billing: address_from(t, i, D_BILLING_PREFIX),
        delivery: address_from(t, i, D_DELIVERY_PREFIX),
        lines,
        payments: Vec::new(),
        expected_total_tax_incl: Decimal::ZERO,
        notes: o(D_NOTES)
            .map(|n| n.lines().map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

/// Reads a document file: consecutive rows with the same number, date, customer and web
/// order number form one document.
pub fn read_documents(kind: DocumentKind, t: &Table) -> Vec<ParsedDocument> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..t.rows.len() {
        match groups.last_mut() {
            Some(g) if doc_group_key(t, g[0]) == doc_group_key(t, i) => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
        .into_iter()
        .map(|g| ParsedDocument {
            key: t.get(g[0], D_ATOOSYNC).to_string(),
            document: read_document(kind, t, &g),
            rows: g.iter().map(|r| r + 2).collect(),
        })
        .collect()
}

/// Reads `Payments.txt`: (web order number, payment) per row.
pub fn read_payments(t: &Table) -> Vec<Result<(String, DocumentPayment), String>> {
    (0..t.rows.len())
        .map(|i| {
            Ok((
                t.get(i, P_ATOOSYNC).to_string(),
                DocumentPayment {
                    date: parse_date(t.get(i, P_DATE))?,
                    amount: parse_decimal(t.get(i, P_AMOUNT))?,
                    settlement_mode: t.get(i, P_SETTLEMENT).to_string(),
                    payment_mode: t.get(i, P_PAYMENT_TYPE).to_string(),
                    bank_account: t.get(i, P_ACCOUNT).to_string(),
                    label: t.get(i, P_LABEL).to_string(),
                    is_gap: t.get(i, P_GAP) == a::YES,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp1252_round_trip_and_replacement() {
        let (bytes, replaced) = encode_cp1252("é ç € œ 😀 ł");
        assert_eq!(decode_cp1252(&bytes), "é ç € œ ? ?");
        assert_eq!(replaced, vec!['😀', 'ł']);
        assert_eq!(cp1252_byte('€'), Some(0x80));
        assert_eq!(cp1252_byte('é'), Some(0xE9));
    }

    #[test]
    fn quoting_round_trip() {
        let mut spec = FileSpec::default_for("Orders.txt");
        spec.format = FileFormat::new(";", "\"", ",", FileEncoding::Windows1252, "dd/MM/yyyy")
            .expect("format");
        let header = ["A", "B"];
        let rows = vec![vec!["x;\"y\"".to_string(), "l1\nl2".to_string()]];
        let f = encode_with(&spec, &header, &rows);
        assert!(f.text.starts_with("\"A\";\"B\"\r\n\"x;\"\"y\"\"\";"));
        let t = parse_with(&decode_cp1252(&f.bytes), &spec.format).expect("parse");
        assert_eq!(t.header, vec!["A", "B"]);
        assert_eq!(t.rows, rows);
    }

    #[test]
    fn bare_values_lose_separators_and_line_breaks_with_a_warning() {
        let f = encode_file(
            "Orders.txt",
            &["A", "B"],
            &[vec!["x;y".into(), "l1\nl2".into()]],
        );
        assert_eq!(&f.bytes[..3], &UTF8_BOM);
        assert_eq!(f.text, "A;B\r\nx y;l1 l2\r\n");
        assert_eq!(
            f.replaced
                .iter()
                .map(|r| (r.row, r.character))
                .collect::<Vec<_>>(),
            vec![(2, ';'), (2, '\n')]
        );
        let t = parse_bytes(&f.bytes).expect("parse");
        assert_eq!(t.rows, vec![vec!["x y".to_string(), "l1 l2".to_string()]]);
    }

    #[test]
    fn decimals_follow_the_format() {
        assert_eq!(fmt_decimal(Decimal::new(1250, 2)), "12.5");
        assert_eq!(fmt_decimal_with(Decimal::new(1250, 2), ','), "12,5");
        assert_eq!(parse_decimal("12,50"), Ok(Decimal::new(1250, 2)));
        assert_eq!(parse_decimal("12.50"), Ok(Decimal::new(1250, 2)));
        assert!(parse_decimal("12,5,0").is_err());
    }
}
