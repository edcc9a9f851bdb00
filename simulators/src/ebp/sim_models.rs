//! The simulated folder's import models: rows of `EbpSysGenericImportSettings` (`name`,
//! `categoryId` uuid, `export`, `formatId`, `serializedEntity`) served through
//! `GenericQuery`, and the simulator's **own** reading of a received file against the named
//! model (`reference/ebp-import-api-2.md` F4, F5: an import is category + model + one file;
//! models are rows of that table).
//!
//! The real `serializedEntity` is an XML document EBP never published; the simulator
//! serves the project's documented definition format (`docs/EBP.md`, "Import models"):
//!
//! ```xml
//! <GenericImportSettings>
//!   <Format separator=";" textQualifier="" decimalSeparator="." encoding="utf-8"
//!           dateFormat="dd/MM/yyyy"/>
//!   <Column field="Document - Date" caption="Date"/> …
//! </GenericImportSettings>
//! ```
//!
//! and reads it with its own parser (never the client's). A model can also be *opaque*
//! (a definition the client cannot read, like a real EBP one): the simulator then applies
//! the format it was seeded with, as EBP applies the model it knows.

use super::contract as a;
use super::import_files::Table;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Encoding a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimEncoding {
    /// UTF-8 (a leading BOM is skipped).
    Utf8,
    /// Windows-1252.
    Windows1252,
}

/// What the simulator applies when it reads a file with a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimModelFormat {
    /// Field separator.
    pub separator: char,
    /// Text qualifier.
    pub qualifier: Option<char>,
    /// Decimal separator.
    pub decimal: char,
    /// Encoding.
    pub encoding: SimEncoding,
    /// Date format, .NET style.
    pub date_format: String,
    /// Columns (field, caption) in file order.
    pub columns: Vec<(String, String)>,
}

/// One model of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimModel {
    /// `name`.
    pub name: String,
    /// `categoryId`.
    pub category_id: String,
    /// `export`.
    pub export: bool,
    /// `serializedEntity` as served.
    pub serialized: String,
    /// What the simulator applies (parsed from `serialized`, or given for opaque models).
    pub format: SimModelFormat,
}

/// `formatId` served for every model (the delimited-text format id of the desktop
/// connector's models, F5).
pub const TEXT_FORMAT_ID: &str = "04c5697f-b974-4170-8a03-20d295c9487c";

/// The `categoryId` of each category in the simulated folder: the three uuids a production
/// desktop connector inserts (F5) and, for the categories whose uuid is not public, uuids
/// of the simulator's own (the client cannot verify those, and says so).
pub fn category_id(category: &str) -> &'static str {
    match category {
        "SaleOrders" => "d22c51b6-5e65-45d7-a0e8-3b0a8348f16d",
        "SaleDelivery" => "5a1aa132-7002-4cd7-8ec9-71c03c0343ae",
        "SaleInvoices" => "ed7fcd30-7018-49c4-a1fc-622f0dee675c",
        "Customers" => "9a0e5d3c-51f2-4e0b-a1c4-0c7d3e2b5a01",
        "CustomerAddresses" => "9a0e5d3c-51f2-4e0b-a1c4-0c7d3e2b5a02",
        "SaleQuotes" => "9a0e5d3c-51f2-4e0b-a1c4-0c7d3e2b5a03",
        "CustomerSettlements" => "9a0e5d3c-51f2-4e0b-a1c4-0c7d3e2b5a04",
        _ => "00000000-0000-0000-0000-000000000000",
    }
}

const ADDRESS: [&str; 10] = [
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

/// Every field the simulator reads from a file, in the default order (the default
/// models list them under their own names).
pub fn fields_of(file: &str) -> Vec<String> {
    let p = |prefix: &str, names: &[&str]| -> Vec<String> {
        names.iter().map(|n| format!("{prefix}{n}")).collect()
    };
    match file {
        a::CUSTOMERS_FILE => p(
            "Client - ",
            &[
                "Code",
                "Nom",
                "Contact - Prénom",
                "Contact - Nom",
                "Contact - E-mail",
                "SIRET",
                "N° TVA intracommunautaire",
                "Compte comptable",
                "Code commercial",
                "Code famille",
                "Catégorie tarifaire",
                "Catégorie comptable",
            ],
        ),
        a::ADDRESSES_FILE => {
            let mut v = p("Adresse - ", &["Code client", "Type", "Principale"]);
            v.extend(p("Adresse - ", &ADDRESS));
            v
        }
        a::PAYMENTS_FILE => p(
            "Règlement - ",
            &[
                "xx_atoosync_order",
                "Date",
                "Montant",
                "Mode de règlement",
                "Moyen de paiement",
                "Compte",
                "Libellé",
                "Écart",
            ],
        ),
        _ => {
            let mut v = p(
                "Document - ",
                &[
                    "Numéro du document",
                    "Date",
                    "Code client",
                    "Nom du client",
                    "Référence",
                    "xx_atoosync_order",
                    "Souche",
                    "Code dépôt",
                    "Catégorie comptable",
                    "Code devise",
                    "Taux de conversion",
                    "Code frais de port",
                    "Frais de port HT",
                    "Code TVA frais de port",
                    "Date de livraison",
                    "Prix TTC",
                    "Etat",
                    "Notes",
                ],
            );
            v.extend(p("Document - Facturation - ", &ADDRESS));
            v.extend(p("Document - Livraison - ", &ADDRESS));
            v.extend(p(
                "Document - Ligne - ",
                &[
                    "Code article",
                    "Désignation",
                    "Quantité",
                    "PV HT",
                    "PV TTC",
                    "Remise %",
                    "Code TVA",
                    "N° de lot",
                ],
            ));
            v
        }
    }
}

/// Numeric fields (their decimal separator is the model's).
const NUMBERS: [&str; 7] = [
    "Document - Taux de conversion",
    "Document - Frais de port HT",
    "Document - Ligne - Quantité",
    "Document - Ligne - PV HT",
    "Document - Ligne - PV TTC",
    "Document - Ligne - Remise %",
    "Règlement - Montant",
];
/// Date fields (their format is the model's).
const DATES: [&str; 3] = [
    "Document - Date",
    "Document - Date de livraison",
    "Règlement - Date",
];

impl SimModelFormat {
    /// The default format (`;`, no qualifier, decimal point, UTF-8, `dd/MM/yyyy`) with every
    /// field of `file` under its own name.
    pub fn default_for(file: &str) -> Self {
        Self {
            separator: ';',
            qualifier: None,
            decimal: '.',
            encoding: SimEncoding::Utf8,
            date_format: "dd/MM/yyyy".into(),
            columns: fields_of(file)
                .into_iter()
                .map(|f| (f.clone(), f))
                .collect(),
        }
    }

    /// The definition served in `serializedEntity`.
    pub fn to_xml(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
        };
        let mut x = format!(
            "<GenericImportSettings><Format separator=\"{}\" textQualifier=\"{}\" decimalSeparator=\"{}\" encoding=\"{}\" dateFormat=\"{}\"/>",
            esc(&self.separator.to_string()),
            esc(&self.qualifier.map(String::from).unwrap_or_default()),
            esc(&self.decimal.to_string()),
            match self.encoding {
                SimEncoding::Utf8 => "utf-8",
                SimEncoding::Windows1252 => "windows-1252",
            },
            esc(&self.date_format)
        );
        for (f, c) in &self.columns {
            x.push_str(&format!(
                "<Column field=\"{}\" caption=\"{}\"/>",
                esc(f),
                esc(c)
            ));
        }
        x.push_str("</GenericImportSettings>");
        x
    }

    /// The simulator's own reading of a definition.
    pub fn from_xml(xml: &str) -> Result<Self, String> {
        use quick_xml::events::Event;
        let mut r = quick_xml::Reader::from_str(xml.trim());
        let mut f: Option<Self> = None;
        let mut columns = Vec::new();
        loop {
            match r.read_event().map_err(|e| e.to_string())? {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    let mut at: HashMap<String, String> = HashMap::new();
                    for x in e.attributes().flatten() {
                        let v = x.unescape_value().map_err(|e| e.to_string())?.to_string();
                        at.insert(String::from_utf8_lossy(x.key.as_ref()).into_owned(), v);
                    }
                    let ch = |k: &str| at.get(k).and_then(|v| v.chars().next());
                    match e.name().as_ref() {
                        b"Format" => {
                            f = Some(Self {
                                separator: ch("separator").ok_or("séparateur absent")?,
                                qualifier: ch("textQualifier"),
                                decimal: ch("decimalSeparator")
                                    .ok_or("séparateur décimal absent")?,
                                encoding: match at.get("encoding").map(|s| s.to_ascii_lowercase()) {
                                    Some(s) if s == "windows-1252" => SimEncoding::Windows1252,
                                    Some(s) if s.starts_with("utf-8") => SimEncoding::Utf8,
                                    other => return Err(format!("encodage inconnu {other:?}")),
                                },
                                date_format: at.get("dateFormat").cloned().unwrap_or_default(),
                                columns: Vec::new(),
                            })
                        }
                        b"Column" => {
                            let field = at.get("field").cloned().ok_or("colonne sans champ")?;
                            let caption = at.get("caption").cloned().unwrap_or(field.clone());
                            columns.push((field, caption));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let mut f = f.ok_or("définition sans format")?;
        f.columns = columns;
        Ok(f)
    }

    /// Decodes a received file, splits it with the model's separator and qualifier, maps
    /// its header captions to fields, and rewrites numbers and dates in the simulator's
    /// internal convention (decimal comma, `dd/MM/yyyy`); a value that does not follow the
    /// model is marked so that its row is refused.
    pub fn read(&self, bytes: &[u8]) -> Result<Table, String> {
        let text = match self.encoding {
            SimEncoding::Utf8 => {
                let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
                String::from_utf8(b.to_vec())
                    .map_err(|_| "fichier illisible : UTF-8 invalide".to_string())?
            }
            SimEncoding::Windows1252 => super::import_files::decode_cp1252(bytes),
        };
        let mut records =
            super::import_files::split(&text, self.separator, self.qualifier)?.into_iter();
        let header = records.next().ok_or("fichier vide")?;
        let mut fields = Vec::with_capacity(header.len());
        for h in &header {
            match self.columns.iter().find(|(_, c)| c == h) {
                Some((f, _)) => fields.push(f.clone()),
                None => return Err(format!("colonne « {h} » inconnue du modèle")),
            }
        }
        let date_fmt = chrono_of(&self.date_format)?;
        let rows: Vec<Vec<String>> = records
            .filter(|r| !(r.len() == 1 && r[0].is_empty()))
            .map(|mut r| {
                for (i, v) in r.iter_mut().enumerate() {
                    let Some(f) = fields.get(i) else { continue };
                    if v.trim().is_empty() {
                        continue;
                    }
                    if NUMBERS.contains(&f.as_str()) {
                        let other = if self.decimal == ',' { '.' } else { ',' };
                        *v = if v.contains(other) {
                            format!("?{v}")
                        } else {
                            v.replace(self.decimal, ",")
                        };
                    } else if DATES.contains(&f.as_str()) {
                        *v = match chrono::NaiveDate::parse_from_str(v.trim(), &date_fmt) {
                            Ok(d) => d.format("%d/%m/%Y").to_string(),
                            Err(_) => format!("?{v}"),
                        };
                    }
                }
                r
            })
            .collect();
        Table::from_parts(fields, rows)
    }
}

/// .NET date pattern to chrono (the specifiers the models use).
fn chrono_of(f: &str) -> Result<String, String> {
    let mut out = f.to_string();
    for (n, c) in [
        ("yyyy", "%Y"),
        ("MM", "%m"),
        ("dd", "%d"),
        ("HH", "%H"),
        ("mm", "%M"),
        ("ss", "%S"),
    ] {
        out = out.replace(n, c);
    }
    if out.is_empty()
        || out
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !out.contains(&format!("%{c}")))
    {
        return Err(format!(
            "format de date du modèle non pris en charge « {f} »"
        ));
    }
    Ok(out)
}

impl SimModel {
    /// A model of `file`'s category with a readable definition.
    pub fn new(name: &str, file: &str, format: SimModelFormat) -> Self {
        Self {
            name: name.into(),
            category_id: category_id(a::category(file).unwrap_or_default()).into(),
            export: false,
            serialized: format.to_xml(),
            format,
        }
    }

    /// A model whose `serializedEntity` is `served` (a definition the client may not read)
    /// while the simulator applies `format`.
    pub fn opaque(name: &str, file: &str, served: &str, format: SimModelFormat) -> Self {
        Self {
            serialized: served.into(),
            ..Self::new(name, file, format)
        }
    }

    /// The `EbpSysGenericImportSettings` row.
    pub fn row(&self) -> Value {
        json!({
            "name": self.name, "categoryId": self.category_id, "export": self.export,
            "formatId": TEXT_FORMAT_ID, "serializedEntity": self.serialized,
            "sysModifiedDate": "2026-01-05T09:00:00",
        })
    }
}

/// The folder's default models: one per file, named as the demo profile names them.
pub fn default_models() -> Vec<SimModel> {
    [
        (a::CUSTOMERS_FILE, "Passerelle - Clients"),
        (a::ADDRESSES_FILE, "Passerelle - Adresses"),
        ("Quotes.txt", "Passerelle - Devis"),
        ("Orders.txt", "Passerelle - Commandes"),
        ("Delivery Notes.txt", "Passerelle - Bons de livraison"),
        ("Invoices.txt", "Passerelle - Factures"),
        (a::PAYMENTS_FILE, "Passerelle - Règlements"),
    ]
    .into_iter()
    .map(|(file, name)| SimModel::new(name, file, SimModelFormat::default_for(file)))
    .collect()
}

/// Checks that `model` exists, imports and belongs to `file`'s category.
pub fn model_for<'m>(
    models: &'m [SimModel],
    file: &str,
    model: &str,
) -> Result<&'m SimModel, String> {
    let m = models
        .iter()
        .find(|m| m.name == model)
        .ok_or_else(|| format!("modèle d'import introuvable : « {model} »"))?;
    if m.export {
        return Err(format!("« {model} » est un modèle d'export"));
    }
    let want = category_id(a::category(file).unwrap_or_default());
    if !m.category_id.eq_ignore_ascii_case(want) {
        return Err(format!(
            "le modèle « {model} » n'est pas de la catégorie du fichier {file}"
        ));
    }
    Ok(m)
}
