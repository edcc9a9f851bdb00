//! The simulated EBP's own reader of the *import paramétrable* text files it receives
//! (never the client's `adapters/src/ebp/files.rs`). The named model says how a file is
//! split and decoded ([`super::sim_models`]: separator, text qualifier, encoding, captions);
//! the values are then read here in the simulator's internal convention (decimals with a
//! comma, dates `dd/MM/yyyy`, booleans `Oui`/`Non`). [`parse_bytes`] reads the legacy
//! layout (Windows-1252, `;`, every field between `"`). A file the client writes wrongly is refused here with the reason EBP
//! would give, row by row, so the tests catch it.
//!
//! Kept in one module so the EBP write path can grow (more files, more columns) in one place.

use chrono::NaiveDate;
use passerelle_domain::orders::{
    Address, CustomerRecord, DocumentKind, DocumentLine, DocumentPayment, ErpDocument, LineKind,
};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;

/// Customer code column (`Customers.txt`).
pub const C_CODE: &str = "Client - Code";
/// Customer name column.
pub const C_NAME: &str = "Client - Nom";
/// Address: customer code (`Adresses.txt`).
pub const AD_CUSTOMER: &str = "Adresse - Code client";
/// Address: type (`Facturation` / `Livraison`).
pub const AD_TYPE: &str = "Adresse - Type";
/// Billing address type.
pub const BILLING: &str = "Facturation";
/// Delivery address type.
pub const DELIVERY: &str = "Livraison";
/// Payment: web order key (`Payments.txt`).
pub const P_ATOOSYNC: &str = "Règlement - xx_atoosync_order";
/// Payment date.
pub const P_DATE: &str = "Règlement - Date";
/// Payment amount.
pub const P_AMOUNT: &str = "Règlement - Montant";
/// Document date (document files).
pub const D_DATE: &str = "Document - Date";
/// Document customer code.
pub const D_CUSTOMER: &str = "Document - Code client";
/// Line article code.
pub const L_ITEM: &str = "Document - Ligne - Code article";
/// Line quantity.
pub const L_QUANTITY: &str = "Document - Ligne - Quantité";

const YES: &str = "Oui";

/// Windows-1252 characters of bytes 0x80–0x9F (the five unassigned ones read as the C1
/// control of the same value, as Windows' own decoder does).
fn cp1252_char(b: u8) -> char {
    match b {
        0x80 => '\u{20AC}',
        0x82 => '\u{201A}',
        0x83 => '\u{0192}',
        0x84 => '\u{201E}',
        0x85 => '\u{2026}',
        0x86 => '\u{2020}',
        0x87 => '\u{2021}',
        0x88 => '\u{02C6}',
        0x89 => '\u{2030}',
        0x8A => '\u{0160}',
        0x8B => '\u{2039}',
        0x8C => '\u{0152}',
        0x8E => '\u{017D}',
        0x91 => '\u{2018}',
        0x92 => '\u{2019}',
        0x93 => '\u{201C}',
        0x94 => '\u{201D}',
        0x95 => '\u{2022}',
        0x96 => '\u{2013}',
        0x97 => '\u{2014}',
        0x98 => '\u{02DC}',
        0x99 => '\u{2122}',
        0x9A => '\u{0161}',
        0x9B => '\u{203A}',
        0x9C => '\u{0153}',
        0x9E => '\u{017E}',
        0x9F => '\u{0178}',
        // Latin-1 range and the unassigned bytes: the code point of the same value.
        other => char::from(other),
    }
}

/// A received file: its columns and its data rows (data row `i` is file row `i + 2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    columns: HashMap<String, usize>,
    /// Data rows.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table of `header` (column names, each once) and data rows.
    pub fn from_parts(header: Vec<String>, rows: Vec<Vec<String>>) -> Result<Self, String> {
        let mut columns = HashMap::with_capacity(header.len());
        for (i, h) in header.into_iter().enumerate() {
            if columns.insert(h.clone(), i).is_some() {
                return Err(format!("colonne en double : {h}"));
            }
        }
        Ok(Table { columns, rows })
    }

    /// The value of `column` in data row `i` (empty when the column or the cell is absent).
    pub fn get(&self, i: usize, column: &str) -> &str {
        match (self.columns.get(column), self.rows.get(i)) {
            (Some(&c), Some(row)) => row.get(c).map_or("", String::as_str),
            _ => "",
        }
    }

    /// Required columns missing from the header, in the order asked.
    pub fn missing<S: AsRef<str>>(&self, required: &[S]) -> Vec<String> {
        required
            .iter()
            .filter(|c| !self.columns.contains_key(c.as_ref()))
            .map(|c| c.as_ref().to_string())
            .collect()
    }
}

/// Splits the decoded text into records of fields (`;`, `"`).
fn records(text: &str) -> Result<Vec<Vec<String>>, String> {
    split(text, ';', Some('"'))
}

/// Decodes Windows-1252 bytes.
pub fn decode_cp1252(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| cp1252_char(b)).collect()
}

/// Splits the decoded text into records of fields separated by `sep`, a field between
/// `qualifier` holding separators and line breaks (a doubled qualifier inside stands for
/// one); without a qualifier every character but the separator and line ends is data.
pub fn split(text: &str, sep: char, qualifier: Option<char>) -> Result<Vec<Vec<String>>, String> {
    #[derive(PartialEq)]
    enum At {
        /// At the start of a field.
        Start,
        /// Inside an unquoted field.
        Bare,
        /// Inside a quoted field.
        Quoted,
        /// Just after a quote inside a quoted field (end, or the first of `""`).
        QuoteSeen,
    }
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut at = At::Start;
    let mut line = 1usize;
    let q = qualifier.unwrap_or('\u{0}');
    let quoting = qualifier.is_some();
    for c in text.chars() {
        match (&at, c) {
            (At::Quoted, ch) if ch == q => at = At::QuoteSeen,
            (At::Quoted, ch) => {
                if ch == '\n' {
                    line += 1;
                }
                field.push(ch);
            }
            (At::QuoteSeen, ch) if ch == q => {
                field.push(q);
                at = At::Quoted;
            }
            (At::Start, ch) if quoting && ch == q => at = At::Quoted,
            (At::Bare, ch) if quoting && ch == q => {
                return Err(format!("ligne {line} : guillemet au milieu d'un champ"));
            }
            (_, ch) if ch == sep => {
                record.push(std::mem::take(&mut field));
                at = At::Start;
            }
            (_, '\r') => {}
            (_, '\n') => {
                record.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut record));
                at = At::Start;
                line += 1;
            }
            (At::QuoteSeen, _) => {
                return Err(format!(
                    "ligne {line} : caractère après le guillemet fermant d'un champ"
                ));
            }
            (_, ch) => {
                field.push(ch);
                at = At::Bare;
            }
        }
    }
    if at == At::Quoted {
        return Err("guillemet non fermé en fin de fichier".into());
    }
    if !field.is_empty() || !record.is_empty() || at == At::QuoteSeen {
        record.push(field);
        out.push(record);
    }
    Ok(out)
}

/// Reads a received file (Windows-1252 bytes).
pub fn parse_bytes(bytes: &[u8]) -> Result<Table, String> {
    let text = decode_cp1252(bytes);
    let mut all = records(&text)?.into_iter();
    let header = all.next().ok_or("fichier vide")?;
    // A blank line (one empty field) is not a row.
    let rows = all.filter(|r| !(r.len() == 1 && r[0].is_empty())).collect();
    Table::from_parts(header, rows)
}

fn number(s: &str) -> Result<Decimal, String> {
    let t = s.trim();
    if t.contains('.') {
        return Err(format!(
            "nombre invalide « {s} » (virgule décimale attendue)"
        ));
    }
    Decimal::from_str(&t.replacen(',', ".", 1)).map_err(|_| format!("nombre invalide « {s} »"))
}

fn date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%d/%m/%Y")
        .map_err(|_| format!("date invalide « {s} » (attendu jj/mm/aaaa)"))
}

fn some(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn address(t: &Table, i: usize, prefix: &str) -> Address {
    let f = |name: &str| t.get(i, &format!("{prefix}{name}")).to_string();
    let o = |name: &str| some(t.get(i, &format!("{prefix}{name}")));
    Address {
        firstname: f("Prénom"),
        lastname: f("Nom"),
        company: o("Société"),
        address1: f("Adresse 1"),
        address2: o("Adresse 2"),
        postcode: f("Code postal"),
        city: f("Ville"),
        country_iso: f("Code pays"),
        state: o("Région"),
        phone: o("Téléphone"),
    }
}

/// `Customers.txt`: one customer per row (addresses come from `Adresses.txt`).
pub fn read_customers(t: &Table) -> Vec<CustomerRecord> {
    let mut out = Vec::with_capacity(t.rows.len());
    for i in 0..t.rows.len() {
        let o = |c: &str| some(t.get(i, &format!("Client - {c}")));
        let f = |c: &str| t.get(i, &format!("Client - {c}")).to_string();
        out.push(CustomerRecord {
            code: f("Code"),
            name: f("Nom"),
            firstname: f("Contact - Prénom"),
            lastname: f("Contact - Nom"),
            email: f("Contact - E-mail"),
            siret: o("SIRET"),
            vat_number: o("N° TVA intracommunautaire"),
            accounting_account: o("Compte comptable"),
            sales_rep: o("Code commercial"),
            family: o("Code famille"),
            price_category: o("Catégorie tarifaire"),
            accounting_category: o("Catégorie comptable"),
            billing: Address::default(),
            delivery: Address::default(),
        });
    }
    out
}

/// One row of `Adresses.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    /// Customer code.
    pub customer: String,
    /// Billing (true) or delivery address.
    pub billing: bool,
    /// The address.
    pub address: Address,
}

/// `Adresses.txt`; a row of another type is refused.
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
                address: address(t, i, "Adresse - "),
            })
        })
        .collect()
}

/// `Payments.txt`: the web order key and the payment of each row.
pub fn read_payments(t: &Table) -> Vec<Result<(String, DocumentPayment), String>> {
    (0..t.rows.len())
        .map(|i| {
            let g = |c: &str| t.get(i, &format!("Règlement - {c}"));
            let payment = DocumentPayment {
                date: date(g("Date"))?,
                amount: number(g("Montant"))?,
                settlement_mode: g("Mode de règlement").to_string(),
                payment_mode: g("Moyen de paiement").to_string(),
                bank_account: g("Compte").to_string(),
                label: g("Libellé").to_string(),
                is_gap: g("Écart") == YES,
            };
            Ok((g("xx_atoosync_order").to_string(), payment))
        })
        .collect()
}

/// One document of a document file: its file rows, its web order key, and the document or
/// why it is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    /// File rows of its lines (the header is row 1).
    pub rows: Vec<usize>,
    /// Web order key.
    pub key: String,
    /// The document, or the reason it is refused.
    pub document: Result<ErpDocument, String>,
}

fn document(kind: DocumentKind, t: &Table, rows: &[usize]) -> Result<ErpDocument, String> {
    let first = rows[0];
    let head = |c: &str| t.get(first, &format!("Document - {c}"));
    let at = |r: usize| move |e: String| format!("ligne {} : {e}", r + 2);
    let tax_inclusive = head("Prix TTC") == YES;
    let price_column = if tax_inclusive {
        "Document - Ligne - PV TTC"
    } else {
        "Document - Ligne - PV HT"
    };
    let mut lines = Vec::with_capacity(rows.len());
    for &r in rows {
        let cell = |c: &str| t.get(r, &format!("Document - Ligne - {c}"));
        let discount = cell("Remise %");
        lines.push(DocumentLine {
            kind: LineKind::Product,
            item_id: cell("Code article").to_string(),
            description: cell("Désignation").to_string(),
            quantity: number(cell("Quantité")).map_err(at(r))?,
            unit_price: number(t.get(r, price_column)).map_err(at(r))?,
            discount_percent: if discount.trim().is_empty() {
                Decimal::ZERO
            } else {
                number(discount).map_err(at(r))?
            },
            vat_code: cell("Code TVA").to_string(),
            vat_rate: Decimal::ZERO,
            lot: some(cell("N° de lot")),
        });
    }
    let optional_number = |c: &str| match some(head(c)) {
        Some(v) => number(&v).map(Some).map_err(at(first)),
        None => Ok(None),
    };
    Ok(ErpDocument {
        kind,
        number: some(head("Numéro du document")),
        date: date(head("Date")).map_err(at(first))?,
        customer_code: head("Code client").to_string(),
        customer_name: head("Nom du client").to_string(),
        reference: head("Référence").to_string(),
        atoosync_order: head("xx_atoosync_order").to_string(),
        series: some(head("Souche")),
        warehouse: some(head("Code dépôt")),
        accounting_category: head("Catégorie comptable").to_string(),
        currency: head("Code devise").to_string(),
        conversion_rate: optional_number("Taux de conversion")?,
        shipping_id: some(head("Code frais de port")),
        shipping_amount_tax_excl: optional_number("Frais de port HT")?.unwrap_or_default(),
        shipping_vat_code: some(head("Code TVA frais de port")),
        shipping_vat_rate: Decimal::ZERO,
        delivery_date: match some(head("Date de livraison")) {
            Some(d) => Some(date(&d).map_err(at(first))?),
            None => None,
        },
        tax_inclusive,
        erp_state: some(head("Etat")),
        billing: address(t, first, "Document - Facturation - "),
        delivery: address(t, first, "Document - Livraison - "),
        lines,
        payments: Vec::new(),
        expected_total_tax_incl: Decimal::ZERO,
        notes: some(head("Notes"))
            .map(|n| n.lines().map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

/// A document file: consecutive rows sharing number, date, customer and web order key are
/// the lines of one document.
pub fn read_documents(kind: DocumentKind, t: &Table) -> Vec<ParsedDocument> {
    let same = |a: usize, b: usize| {
        [
            "Document - Numéro du document",
            D_DATE,
            D_CUSTOMER,
            "Document - xx_atoosync_order",
        ]
        .iter()
        .all(|c| t.get(a, c) == t.get(b, c))
    };
    let mut out: Vec<ParsedDocument> = Vec::new();
    let mut start = 0;
    for i in 0..=t.rows.len() {
        if i < t.rows.len() && (i == start || same(start, i)) {
            continue;
        }
        if i > start {
            let rows: Vec<usize> = (start..i).collect();
            out.push(ParsedDocument {
                key: t.get(start, "Document - xx_atoosync_order").to_string(),
                document: document(kind, t, &rows),
                rows: rows.iter().map(|r| r + 2).collect(),
            });
        }
        start = i;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_windows_1252_and_blank_lines() {
        // "Réf";"Prix" / "a;""b""";"12,5" / blank / "€ œ";"" — in Windows-1252 bytes.
        let mut bytes = b"\"R\xe9f\";\"Prix\"\r\n\"a;\"\"b\"\"\";\"12,5\"\r\n\r\n".to_vec();
        bytes.extend_from_slice(b"\"\x80 \x9c\";\"\"\r\n");
        let t = parse_bytes(&bytes).expect("parsed");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.get(0, "Réf"), "a;\"b\"");
        assert_eq!(number(t.get(0, "Prix")), Ok(Decimal::new(125, 1)));
        assert_eq!(t.get(1, "Réf"), "€ œ");
        assert_eq!(t.missing(&["Prix", "Code"]), vec!["Code"]);
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        assert!(parse_bytes(b"\"A\"\r\n\"open").is_err());
        assert!(parse_bytes(b"\"A\";\"A\"\r\n").is_err_and(|e| e.contains("double")));
        assert!(parse_bytes(b"A\r\nx\"y\r\n").is_err());
        assert!(
            number("12.5").is_err(),
            "a point is not EBP's decimal separator"
        );
        assert!(date("2026-03-01").is_err());
    }

    #[test]
    fn rows_of_one_document_are_grouped() {
        let text = "\"Document - Date\";\"Document - Code client\";\"Document - xx_atoosync_order\";\"Document - Ligne - Code article\";\"Document - Ligne - Quantité\";\"Document - Ligne - PV HT\"\r\n\
\"01/03/2026\";\"C1\";\"12\";\"A\";\"2\";\"10,00\"\r\n\
\"01/03/2026\";\"C1\";\"12\";\"B\";\"1\";\"5\"\r\n\
\"01/03/2026\";\"C1\";\"13\";\"A\";\"x\";\"1\"\r\n";
        // The file as the client sends it: Latin-1 characters are their Windows-1252 bytes.
        let bytes: Vec<u8> = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        let t = parse_bytes(&bytes).expect("parsed");
        let docs = read_documents(DocumentKind::Order, &t);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].rows, vec![2, 3]);
        let d = docs[0].document.as_ref().expect("first document");
        assert_eq!(d.lines.len(), 2);
        assert_eq!(d.lines[0].unit_price, Decimal::new(1000, 2));
        assert!(docs[1]
            .document
            .as_ref()
            .is_err_and(|e| e.starts_with("ligne 4")));
    }
}
