//! EBP import models as the folder itself describes them (`reference/ebp-import-api-2.md`
//! F4, F5): each *import paramétrable* model is a row of `EbpSysGenericImportSettings`
//! (`name`, `categoryId` uuid, `export`, `formatId` uuid, `serializedEntity` text), and the
//! table is in GenericQuery's list, so the client reads the models instead of assuming them.
//!
//! * [`read_models`] reads the rows (one `GenericQuery` call for up to 100 models);
//! * [`check`] matches the model the profile names for each file (`[erp.models]`) against
//!   them: a missing model, an export model or a model of another category is refused with a
//!   French message naming both the model and the file;
//! * [`parse_definition`] reads a model's `serializedEntity` (columns and captions,
//!   separator, text qualifier, decimal separator, encoding, date format); when it parses,
//!   the file is written **to that definition**, otherwise to the profile's explicit format
//!   (`[erp.format]`, [`FileFormat::from_profile`]).
//!
//! **Evidence.** Table and columns: High (desktop schema), Medium (SaaS readability). The
//! category uuids of three categories come from a production desktop connector's inserts
//! (F5: sale orders, delivery notes, invoices); the others are not public, so a model whose
//! `categoryId` is not one of the known uuids is accepted and reported as "not verifiable".
//! The **content** of `serializedEntity` is unknown (an XML document, never published): the
//! format [`parse_definition`] reads is the project's own, documented in `docs/EBP.md`, and a
//! real EBP definition is expected *not* to parse — hence the explicit format fallback.

use super::files;
use super::query::Where;
use crate::ebp::client::cell;
use passerelle_domain::orders::DocumentKind;
use passerelle_domain::profile::{FileEncoding, ImportFileFormat, ImportModelNames};
use serde_json::Value;

/// The table holding the import (and export) models.
pub const MODELS_TABLE: &str = "EbpSysGenericImportSettings";

/// Its columns, as named in a real schema (lower camel case, F5).
pub const MODEL_COLUMNS: [&str; 5] = [
    "name",
    "categoryId",
    "export",
    "formatId",
    "serializedEntity",
];

/// Category uuids seen in a production desktop connector's model inserts (F5, High on the
/// desktop): `Commandes2` (sale orders), `import_bonLivraison` (delivery notes),
/// `import_facture` (invoices). The uuids of the other categories are not public.
pub const KNOWN_CATEGORY_IDS: [(&str, &str); 3] = [
    ("d22c51b6-5e65-45d7-a0e8-3b0a8348f16d", "SaleOrders"),
    ("5a1aa132-7002-4cd7-8ec9-71c03c0343ae", "SaleDelivery"),
    ("ed7fcd30-7018-49c4-a1fc-622f0dee675c", "SaleInvoices"),
];

/// The `formatId` of the three connector models above (the same for all three: taken to be
/// EBP's delimited-text format, an inference).
pub const TEXT_FORMAT_ID: &str = "04c5697f-b974-4170-8a03-20d295c9487c";

/// One row of `EbpSysGenericImportSettings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportModel {
    /// `name` (what the import call names).
    pub name: String,
    /// `categoryId` (a uuid in a real schema; a category name is accepted too).
    pub category_id: String,
    /// `export`: an export model, not an import one.
    pub export: bool,
    /// `formatId`.
    pub format_id: String,
    /// `serializedEntity`: the model's definition.
    pub serialized: String,
}

impl ImportModel {
    /// A model from a GenericQuery row (absent cells read as empty).
    pub fn from_row(row: &Value) -> Self {
        let text = |k: &str| cell(row, k).unwrap_or_default();
        Self {
            name: text("name"),
            category_id: text("categoryId"),
            export: matches!(text("export").to_ascii_lowercase().as_str(), "true" | "1"),
            format_id: text("formatId"),
            serialized: text("serializedEntity"),
        }
    }

    /// The category name of its `categoryId`, when known.
    pub fn category(&self) -> Option<&'static str> {
        category_of(&self.category_id)
    }
}

/// The category name of a `categoryId` (a known uuid, or already a category name).
pub fn category_of(id: &str) -> Option<&'static str> {
    let id = id.trim().trim_matches(['{', '}']).to_ascii_lowercase();
    KNOWN_CATEGORY_IDS
        .iter()
        .find(|(u, _)| *u == id)
        .map(|(_, c)| *c)
        .or_else(|| {
            ALL_CATEGORIES
                .iter()
                .find(|c| c.to_ascii_lowercase() == id)
                .copied()
        })
}

/// Every category the files use (see `import_request::category`).
const ALL_CATEGORIES: [&str; 7] = [
    "Customers",
    "CustomerAddresses",
    "SaleQuotes",
    "SaleOrders",
    "SaleDelivery",
    "SaleInvoices",
    "CustomerSettlements",
];

// ---------------------------------------------------------------- file format

/// How one file is written: resolved from a model definition or the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFormat {
    /// Field separator.
    pub separator: char,
    /// Text qualifier (`None`: values written bare).
    pub qualifier: Option<char>,
    /// Decimal separator.
    pub decimal: char,
    /// Encoding.
    pub encoding: FileEncoding,
    /// Date format, .NET style (`dd/MM/yyyy`).
    pub date_format: String,
    /// The same as a chrono pattern (`%d/%m/%Y`).
    pub chrono_date: String,
}

fn one_char(value: &str, setting: &str, empty_ok: bool) -> Result<Option<char>, String> {
    let mut it = value.chars();
    match (it.next(), it.next()) {
        (None, _) if empty_ok => Ok(None),
        (Some(c), None) if c != '\r' && c != '\n' => Ok(Some(c)),
        _ => Err(format!(
            "réglage {setting} invalide « {value} » : un seul caractère attendu"
        )),
    }
}

impl FileFormat {
    /// Builds and checks a format (separator, qualifier and decimal separator must differ).
    pub fn new(
        separator: &str,
        qualifier: &str,
        decimal: &str,
        encoding: FileEncoding,
        date_format: &str,
    ) -> Result<Self, String> {
        let separator = one_char(separator, "séparateur", false)?.unwrap_or(';');
        let qualifier = one_char(qualifier, "délimiteur de texte", true)?;
        let decimal = one_char(decimal, "séparateur décimal", false)?.unwrap_or('.');
        if separator == decimal || Some(separator) == qualifier || Some(decimal) == qualifier {
            return Err(format!(
                "séparateur « {separator} », délimiteur de texte et séparateur décimal « {decimal} » doivent être différents"
            ));
        }
        Ok(Self {
            separator,
            qualifier,
            decimal,
            encoding,
            date_format: date_format.to_string(),
            chrono_date: dotnet_date_to_chrono(date_format)?,
        })
    }

    /// The profile's explicit format (`[erp.format]`).
    pub fn from_profile(f: &ImportFileFormat) -> Result<Self, String> {
        Self::new(
            &f.separator,
            &f.text_qualifier,
            &f.decimal_separator,
            f.encoding,
            &f.date_format,
        )
        .map_err(|e| format!("format de fichier du profil (erp.format) : {e}"))
    }

    /// The label sent as the file part's `charset`.
    pub fn charset(&self) -> &'static str {
        encoding_label(self.encoding)
    }

    /// One line describing the format, in French.
    pub fn describe(&self) -> String {
        format!(
            "séparateur « {} », délimiteur de texte {}, séparateur décimal « {} », {}, dates {}",
            self.separator,
            self.qualifier
                .map_or("aucun".to_string(), |q| format!("« {q} »")),
            self.decimal,
            match self.encoding {
                FileEncoding::Utf8Bom => "UTF-8 avec BOM",
                FileEncoding::Windows1252 => "Windows-1252",
            },
            self.date_format
        )
    }
}

impl Default for FileFormat {
    fn default() -> Self {
        let d = ImportFileFormat::default();
        Self {
            separator: ';',
            qualifier: None,
            decimal: '.',
            encoding: d.encoding,
            chrono_date: "%d/%m/%Y".into(),
            date_format: d.date_format,
        }
    }
}

/// The name of an encoding in a definition and a multipart `charset`.
pub fn encoding_label(e: FileEncoding) -> &'static str {
    match e {
        FileEncoding::Utf8Bom => "utf-8",
        FileEncoding::Windows1252 => "windows-1252",
    }
}

fn encoding_of(label: &str) -> Result<FileEncoding, String> {
    match label.trim().to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" | "utf-8-bom" | "utf-8 bom" => Ok(FileEncoding::Utf8Bom),
        "windows-1252" | "cp1252" | "ansi" | "1252" => Ok(FileEncoding::Windows1252),
        other => Err(format!("encodage inconnu « {other} »")),
    }
}

/// Converts a .NET date format (`dd/MM/yyyy HH:mm:ss`) to chrono's; only the day, month,
/// year, hour, minute and second specifiers are taken (others are refused).
pub fn dotnet_date_to_chrono(f: &str) -> Result<String, String> {
    let chars: Vec<char> = f.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let spec = match (c, n) {
            ('d', 2) => Some("%d"),
            ('M', 2) => Some("%m"),
            ('y', 4) => Some("%Y"),
            ('y', 2) => Some("%y"),
            ('H', 2) => Some("%H"),
            ('m', 2) => Some("%M"),
            ('s', 2) => Some("%S"),
            _ if c.is_ascii_alphabetic() => {
                return Err(format!("format de date non pris en charge « {f} »"));
            }
            _ => None,
        };
        match spec {
            Some(s) => out.push_str(s),
            None => {
                for _ in 0..n {
                    if c == '%' {
                        out.push_str("%%");
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        i += n;
    }
    if out.is_empty() {
        return Err("format de date vide".into());
    }
    Ok(out)
}

// ---------------------------------------------------------------- definitions

/// A model definition the client can write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDefinition {
    /// Its format.
    pub format: FileFormat,
    /// Its columns in file order: (field, caption in the header). Fields are the project's
    /// column identifiers (the default captions of `files.rs`, e.g. `Document - Date`).
    pub columns: Vec<(String, String)>,
}

/// Reads a `serializedEntity` written in the project's definition format:
///
/// ```xml
/// <GenericImportSettings>
///   <Format separator=";" textQualifier="&quot;" decimalSeparator="," encoding="windows-1252"
///           dateFormat="dd/MM/yyyy"/>
///   <Column field="Document - Date" caption="Date pièce"/>
///   …
/// </GenericImportSettings>
/// ```
///
/// Anything else (EBP's real, unpublished XML) is an error saying why, and the caller falls
/// back to the profile's explicit format.
pub fn parse_definition(xml: &str) -> Result<ModelDefinition, String> {
    use quick_xml::events::Event;
    let text = xml.trim_start_matches('\u{feff}').trim();
    if text.is_empty() || text.eq_ignore_ascii_case("null") {
        return Err("définition vide".into());
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut root: Option<String> = None;
    let mut format: Option<FileFormat> = None;
    let mut columns = Vec::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("XML illisible : {e}"))?;
        let el = match &ev {
            Event::Start(e) | Event::Empty(e) => e.clone(),
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(el.name().as_ref()).to_string();
        let mut attrs = std::collections::HashMap::new();
        for a in el.attributes() {
            let a = a.map_err(|e| format!("attribut illisible : {e}"))?;
            let v = a
                .unescape_value()
                .map_err(|e| format!("attribut illisible : {e}"))?
                .to_string();
            attrs.insert(String::from_utf8_lossy(a.key.as_ref()).to_string(), v);
        }
        let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        if root.is_none() {
            if name != "GenericImportSettings" {
                return Err(format!("élément racine « {name} » non reconnu"));
            }
            root = Some(name);
            continue;
        }
        match name.as_str() {
            "Format" => {
                format = Some(FileFormat::new(
                    &get("separator"),
                    &get("textQualifier"),
                    &get("decimalSeparator"),
                    encoding_of(&get("encoding"))?,
                    &get("dateFormat"),
                )?);
            }
            "Column" => {
                let field = get("field");
                if field.is_empty() {
                    return Err("colonne sans champ".into());
                }
                let caption = attrs.get("caption").cloned().unwrap_or(field.clone());
                columns.push((field, caption));
            }
            _ => {}
        }
    }
    let format = format.ok_or("pas d'élément Format")?;
    if columns.is_empty() {
        return Err("aucune colonne".into());
    }
    Ok(ModelDefinition { format, columns })
}

/// Writes a definition in the format [`parse_definition`] reads (for the simulator's
/// default models, the docs and set-up help).
pub fn definition_xml(format: &FileFormat, columns: &[(String, String)]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut x = String::from("<GenericImportSettings>");
    x.push_str(&format!(
        "<Format separator=\"{}\" textQualifier=\"{}\" decimalSeparator=\"{}\" encoding=\"{}\" dateFormat=\"{}\"/>",
        esc(&format.separator.to_string()),
        esc(&format.qualifier.map(String::from).unwrap_or_default()),
        esc(&format.decimal.to_string()),
        encoding_label(format.encoding),
        esc(&format.date_format)
    ));
    for (f, c) in columns {
        x.push_str(&format!(
            "<Column field=\"{}\" caption=\"{}\"/>",
            esc(f),
            esc(c)
        ));
    }
    x.push_str("</GenericImportSettings>");
    x
}

// ---------------------------------------------------------------- checks

/// Where a file's format comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatSource {
    /// The model's definition.
    Model,
    /// The profile's explicit format, because the definition does not parse (why).
    Profile(String),
}

/// How one file is written and to which model it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// File name (`Orders.txt`…).
    pub file: String,
    /// Model name.
    pub model: String,
    /// Format.
    pub format: FileFormat,
    /// The model's columns (field, caption), or `None`: every column, default captions.
    pub columns: Option<Vec<(String, String)>>,
    /// Where the format comes from.
    pub source: FormatSource,
    /// The category could not be verified (uuid not public): the uuid.
    pub unverified_category: Option<String>,
}

impl FileSpec {
    /// The default spec of a file (default model name, default format, every column).
    pub fn default_for(file: &str) -> Self {
        Self {
            file: file.to_string(),
            model: super::assumptions::model_name(file).to_string(),
            format: FileFormat::default(),
            columns: None,
            source: FormatSource::Profile("définition non lue".into()),
            unverified_category: None,
        }
    }

    /// The caption a field has in this file.
    pub fn caption_of<'a>(&'a self, field: &'a str) -> Option<&'a str> {
        match &self.columns {
            None => Some(field),
            Some(cols) => cols
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, c)| c.as_str()),
        }
    }
}

/// The result of checking one file's model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCheck {
    /// File name.
    pub file: String,
    /// What the file holds, in French (`commandes`).
    pub label: &'static str,
    /// The model the profile names.
    pub wanted: String,
    /// The category the file needs.
    pub category: &'static str,
    /// The spec to write with, or why the model is refused (French, naming model and file).
    pub outcome: Result<FileSpec, String>,
}

/// Every file, in the order they are sent, with its French label.
pub fn all_files() -> Vec<(&'static str, &'static str)> {
    use super::assumptions as a;
    let mut v = vec![
        (a::CUSTOMERS_FILE, "clients"),
        (a::ADDRESSES_FILE, "adresses"),
    ];
    for k in a::ALL_KINDS {
        v.push((a::document_file(k), kind_label(k)));
    }
    v.push((a::PAYMENTS_FILE, "règlements"));
    v
}

fn kind_label(k: DocumentKind) -> &'static str {
    match k {
        DocumentKind::Quote => "devis",
        DocumentKind::Order => "commandes",
        DocumentKind::DeliveryNote => "bons de livraison",
        DocumentKind::Invoice => "factures",
    }
}

/// The model the profile names for a file.
pub fn wanted_model<'a>(names: &'a ImportModelNames, file: &str) -> &'a str {
    use super::assumptions as a;
    match file {
        a::CUSTOMERS_FILE => &names.customers,
        a::ADDRESSES_FILE => &names.addresses,
        a::PAYMENTS_FILE => &names.payments,
        _ => match a::kind_of_file(file) {
            Some(DocumentKind::Quote) => &names.quotes,
            Some(DocumentKind::DeliveryNote) => &names.delivery_notes,
            Some(DocumentKind::Invoice) => &names.invoices,
            _ => &names.orders,
        },
    }
}

/// Checks the model of every file against the folder's models.
pub fn check(
    models: &[ImportModel],
    names: &ImportModelNames,
    explicit: &ImportFileFormat,
) -> Vec<ModelCheck> {
    all_files()
        .into_iter()
        .map(|(file, label)| {
            let wanted = wanted_model(names, file).to_string();
            let category = super::import_request::category(file);
            let outcome = check_one(models, file, &wanted, category, explicit);
            ModelCheck {
                file: file.to_string(),
                label,
                wanted,
                category,
                outcome,
            }
        })
        .collect()
}

fn check_one(
    models: &[ImportModel],
    file: &str,
    wanted: &str,
    category: &'static str,
    explicit: &ImportFileFormat,
) -> Result<FileSpec, String> {
    let imports: Vec<&ImportModel> = models.iter().filter(|m| !m.export).collect();
    let Some(m) = models.iter().find(|m| m.name == wanted) else {
        let present: Vec<&str> = imports.iter().map(|m| m.name.as_str()).collect();
        return Err(format!(
            "modèle d'import « {wanted} » introuvable dans le dossier EBP (fichier {file}, catégorie {category}) ; modèles présents : {}",
            if present.is_empty() { "aucun".to_string() } else { present.join(", ") }
        ));
    };
    if m.export {
        return Err(format!(
            "le modèle « {wanted} » est un modèle d'export, pas d'import (fichier {file})"
        ));
    }
    let unverified_category = match m.category() {
        Some(c) if c == category => None,
        Some(c) => {
            return Err(format!(
                "le modèle d'import « {wanted} » est de la catégorie {c}, pas {category} : il ne peut pas importer le fichier {file}"
            ));
        }
        None => Some(m.category_id.clone()),
    };
    let (format, columns, source) = match parse_definition(&m.serialized) {
        Ok(d) => {
            let missing: Vec<&str> = files::required_fields(file)
                .into_iter()
                .filter(|f| !d.columns.iter().any(|(c, _)| c == f))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "le modèle d'import « {wanted} » n'a pas la ou les colonnes obligatoires {} (fichier {file})",
                    missing.join(", ")
                ));
            }
            (d.format, Some(d.columns), FormatSource::Model)
        }
        Err(why) => (
            FileFormat::from_profile(explicit)?,
            None,
            FormatSource::Profile(why),
        ),
    };
    Ok(FileSpec {
        file: file.to_string(),
        model: wanted.to_string(),
        format,
        columns,
        source,
        unverified_category,
    })
}

/// The filter of [`read_models`]: none (every model; export ones are told apart after).
pub fn models_filter() -> Option<Where> {
    None
}

/// Reads the folder's models (one GenericQuery call per 100 models).
pub async fn read_models(
    client: &super::EbpClient,
) -> Result<Vec<ImportModel>, passerelle_workflows::engine::StepError> {
    let rows = client
        .generic_query(
            MODELS_TABLE,
            &MODEL_COLUMNS,
            models_filter().as_ref(),
            "name",
            None,
        )
        .await?;
    Ok(rows.iter().map(ImportModel::from_row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_dates_become_chrono_patterns() {
        assert_eq!(
            dotnet_date_to_chrono("dd/MM/yyyy").as_deref(),
            Ok("%d/%m/%Y")
        );
        assert_eq!(
            dotnet_date_to_chrono("yyyy-MM-dd HH:mm:ss").as_deref(),
            Ok("%Y-%m-%d %H:%M:%S")
        );
        assert!(dotnet_date_to_chrono("dddd d MMMM").is_err());
    }

    #[test]
    fn a_definition_round_trips_and_others_are_refused() {
        let f = FileFormat::new(";", "\"", ",", FileEncoding::Windows1252, "dd/MM/yyyy")
            .expect("format");
        let cols = vec![(
            "Document - Date".to_string(),
            "Date & \"pièce\"".to_string(),
        )];
        let d = parse_definition(&definition_xml(&f, &cols)).expect("parsed");
        assert_eq!(d.format, f);
        assert_eq!(d.columns, cols);
        assert!(parse_definition("null").is_err());
        assert!(
            parse_definition("<ImportSettings><Field/></ImportSettings>")
                .is_err_and(|e| e.contains("ImportSettings"))
        );
        assert!(FileFormat::new(";", ";", ",", FileEncoding::Utf8Bom, "dd/MM/yyyy").is_err());
    }

    #[test]
    fn categories_are_known_by_uuid_or_name() {
        assert_eq!(
            category_of("{D22C51B6-5E65-45D7-A0E8-3B0A8348F16D}"),
            Some("SaleOrders")
        );
        assert_eq!(category_of("saleinvoices"), Some("SaleInvoices"));
        assert_eq!(category_of("0b6f5e1c-0000-4000-8000-000000000000"), None);
    }
}
