//! The article catalogue flowing ERP → shop (FEATURES §2 "Articles", §3.1): the ERP article
//! as read, the profile's export settings, and the pure rules that turn one into shop
//! product fields (text mapping, RTF → HTML, VAT mapping, price rounding, stock, the
//! activation rule). No IO: the workflows feed these functions with what the ports read.

pub mod extras;
pub mod filter;
pub mod fit;
pub mod links;
pub mod media;
pub mod rtf;
pub mod rules;
pub mod specific;
pub mod variants;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use extras::{CategoryKey, ExtraCategories, LocalTexts};
pub use filter::{parse_query_filter, FilterClause, FilterOp};
pub use fit::fit_product;
pub use rules::{
    category_path, check_references, product_fields, round_price, should_be_active, slugify,
    stock_quantity, ArticleError, ProductDraft, StockDecision,
};
pub use variants::{AttributeFields, VariantSettings};

/// One ERP article (EBP `Item` row, `reference/ebp-api.md` "Item"), as far as the export
/// needs it. Fields the profile does not map may be left at their defaults: the ERP side
/// reads only the mapped columns (`Columns`), because `Item` rows are heavy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErpArticle {
    /// Article code (`Item.Id`), the key shared with the shop product reference.
    pub reference: String,
    /// Label (`Caption`).
    pub caption: String,
    /// Commercial description, possibly RTF (`DesCom`).
    #[serde(default)]
    pub description: Option<String>,
    /// Commercial description as plain text (`DesComClear`).
    #[serde(default)]
    pub description_clear: Option<String>,
    /// Sale price excluding tax (`SalePriceVatExcluded`).
    #[serde(default)]
    pub price_excl_tax: Option<Decimal>,
    /// Sale price including tax (`SalePriceVatIncluded`).
    #[serde(default)]
    pub price_incl_tax: Option<Decimal>,
    /// VAT code (`VatId`).
    #[serde(default)]
    pub vat_id: Option<String>,
    /// Published on the web (`AllowPublishOnWeb`).
    #[serde(default)]
    pub published: bool,
    /// Sleep/blocked state (`ActiveState`: 0 active, anything else asleep or blocked).
    #[serde(default)]
    pub active_state: i64,
    /// Stock is tracked (`ManageStock`).
    #[serde(default = "yes")]
    pub stock_tracked: bool,
    /// Gross weight (`Weight`).
    #[serde(default)]
    pub weight: Option<Decimal>,
    /// Net weight (`NetWeight`).
    #[serde(default)]
    pub net_weight: Option<Decimal>,
    /// Family (`FamilyId`).
    #[serde(default)]
    pub family: Option<String>,
    /// Sub-family (`SubFamilyId`).
    #[serde(default)]
    pub sub_family: Option<String>,
    /// Bar code (`BarCode`).
    #[serde(default)]
    pub barcode: Option<String>,
    /// Every other column read (custom fields `xx_*` included), as text.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// `sysCreatedDate`.
    #[serde(default)]
    pub created: Option<NaiveDateTime>,
    /// `sysModifiedDate`.
    #[serde(default)]
    pub modified: Option<NaiveDateTime>,
}

fn yes() -> bool {
    true
}

impl ErpArticle {
    /// The value of an ERP column by name: standard columns first, then the other fields
    /// read (custom fields). Empty strings count as absent.
    pub fn field(&self, column: &str) -> Option<String> {
        let v = match column {
            "Id" => Some(self.reference.clone()),
            "Caption" => Some(self.caption.clone()),
            "DesCom" => self.description.clone(),
            "DesComClear" => self.description_clear.clone(),
            "FamilyId" => self.family.clone(),
            "SubFamilyId" => self.sub_family.clone(),
            "BarCode" => self.barcode.clone(),
            other => self.fields.get(other).cloned(),
        };
        v.filter(|s| !s.trim().is_empty())
    }
}

/// Which shop text field is fed by which ERP column (`None`: not sent). Column names are
/// EBP's (`Caption`, `DesCom`, `DesComClear`, custom fields `xx_…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextMapping {
    /// Product name.
    pub name: Option<String>,
    /// Long description (RTF converted to HTML).
    pub description: Option<String>,
    /// Short description.
    pub summary: Option<String>,
    /// Meta title.
    pub meta_title: Option<String>,
    /// Meta description.
    pub meta_description: Option<String>,
    /// Meta keywords.
    pub meta_keywords: Option<String>,
    /// URL slug (made URL-safe); when unset, the slug is derived from the name.
    pub slug: Option<String>,
}

impl Default for TextMapping {
    fn default() -> Self {
        Self {
            name: Some("Caption".into()),
            description: Some("DesCom".into()),
            summary: None,
            meta_title: None,
            meta_description: None,
            meta_keywords: None,
            slug: None,
        }
    }
}

impl TextMapping {
    /// The ERP columns this mapping reads.
    pub fn columns(&self) -> Vec<String> {
        [
            &self.name,
            &self.description,
            &self.summary,
            &self.meta_title,
            &self.meta_description,
            &self.meta_keywords,
            &self.slug,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// What an update of an existing shop product may overwrite (FEATURES §3.1, last bullet).
/// New products always get every mapped field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateSwitches {
    /// Name.
    pub name: bool,
    /// Short description.
    pub summary: bool,
    /// Long description.
    pub description: bool,
    /// Meta fields and URL slug.
    pub meta: bool,
    /// Price and tax rule.
    pub price: bool,
    /// Quantity.
    pub quantity: bool,
    /// Weight.
    pub weight: bool,
    /// Manufacturer (brand).
    pub manufacturer: bool,
    /// Categories (levels and supplementary categories).
    pub category: bool,
    /// Bar code (EAN-13).
    pub ean: bool,
    /// Width, height and depth.
    pub dimensions: bool,
    /// Texts in every shop language (off: an update writes the first language only, so
    /// translations made in the shop are kept).
    pub all_languages: bool,
    /// Specific prices (customer-group and customer-specific), when the profile sends them.
    pub specific_prices: bool,
    /// Articles with a bill of materials become packs (when all components are in the shop).
    pub packs: bool,
    /// Images (sent to existing products too).
    pub images: bool,
    /// Documents (attached to existing products too).
    pub documents: bool,
}

impl Default for UpdateSwitches {
    fn default() -> Self {
        Self {
            name: true,
            summary: true,
            description: true,
            meta: true,
            price: true,
            quantity: true,
            weight: true,
            manufacturer: true,
            category: true,
            ean: true,
            dimensions: true,
            all_languages: true,
            specific_prices: true,
            packs: false,
            images: true,
            documents: true,
        }
    }
}

/// ERP columns of a product's dimensions, in the shop's unit (`None`: not sent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dimensions {
    /// Width.
    pub width: Option<String>,
    /// Height.
    pub height: Option<String>,
    /// Depth.
    pub depth: Option<String>,
}

impl Dimensions {
    /// The columns mapped.
    pub fn columns(&self) -> Vec<String> {
        [&self.width, &self.height, &self.depth]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// Which ERP stock figure is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StockKind {
    /// Real stock (`RealStock`).
    #[default]
    Real,
    /// Virtual stock (`VirtualStock`: real minus customer orders plus supplier orders).
    Virtual,
}

/// Which ERP weight is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightSource {
    /// No weight.
    #[default]
    None,
    /// Gross weight (`Weight`).
    Gross,
    /// Net weight (`NetWeight`).
    Net,
}

/// The export settings of a profile (FEATURES §3.1), the `[export]` section of its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogSettings {
    /// Create products missing from the shop (else they are ignored).
    pub create_products: bool,
    /// Text mapping.
    pub text: TextMapping,
    /// The shop's languages the texts are written to, as the platform identifies them (the
    /// same text in each, unless `language_texts` maps that language to its own columns);
    /// empty: the shop's default language, which the platform's adapter knows.
    pub languages: Vec<String>,
    /// Per shop language id, the columns of its own texts (FEATURES §3.1 "Language
    /// mapping per shop language"); an unmapped or empty column falls back to `text`.
    pub language_texts: BTreeMap<String, TextMapping>,
    /// ERP column holding the manufacturer (brand) name; `None`: not sent.
    pub manufacturer: Option<String>,
    /// Supplementary categories from an ERP field; `None`: none.
    pub extra_categories: Option<ExtraCategories>,
    /// ERP column sent as the product's EAN-13 (usually `BarCode`); `None`: not sent.
    pub ean13: Option<String>,
    /// ERP columns of the product's dimensions (FEATURES §3.1 "Custom fields").
    pub dimensions: Dimensions,
    /// Out-of-stock handling of the stock updates: a product whose quantity falls to 0 is
    /// deactivated, and activated again when stock is back (if the activation rule lets
    /// it: published and not asleep).
    pub disable_when_out_of_stock: bool,
    /// ERP VAT code → shop tax rules group id.
    pub vat: BTreeMap<String, String>,
    /// Tax rules group for VAT codes missing from `vat`.
    pub default_tax_rule: Option<String>,
    /// Only articles published on the web.
    pub published_only: bool,
    /// ERP-side filter (`ID LIKE 'EM%'`, clauses joined by AND).
    pub query_filter: Option<String>,
    /// Only articles modified since the last transfer of the same action.
    pub incremental: bool,
    /// Shop-side update switches.
    pub update: UpdateSwitches,
    /// New products are active.
    pub new_products_active: bool,
    /// Default category id of new products.
    pub default_category: Option<String>,
    /// Price decimals (half-up rounding).
    pub price_precision: u32,
    /// Warehouses summed (empty: no stock update).
    pub warehouses: Vec<String>,
    /// Which stock figure.
    pub stock_kind: StockKind,
    /// Quantity sent for articles whose stock is not tracked.
    pub default_quantity: i64,
    /// Send negative stock as is (else 0).
    pub allow_negative_stock: bool,
    /// Which weight.
    pub weight: WeightSource,
    /// Multiplier applied to the ERP weight (unit conversion, e.g. 0.001 for g → kg).
    pub weight_factor: Decimal,
    /// Shop writes per call where the platform accepts several (advanced option).
    pub batch_size: u32,
    /// Category levels: the ERP column giving each level's name, top first (at most 6);
    /// empty: categories are not touched.
    pub category_levels: Vec<String>,
    /// Create the categories of those levels missing from the shop (else the product
    /// goes to the deepest existing one).
    pub create_categories: bool,
    /// Variants grouping (`[export.variants]`); `None`: every article is a plain product.
    pub variants: Option<VariantSettings>,
    /// Customer-group and customer-specific prices (`update-prices`, and `export-articles`
    /// when the `specific_prices` update switch is on).
    pub specific_prices: specific::SpecificPriceSettings,
    /// ERP linked articles become shop accessories (cross-selling) in `export-articles`.
    pub cross_selling: bool,
    /// Customer exports (`[export.customers]`, FEATURES §3.2).
    pub customers: crate::customer_export::CustomerExportSettings,
    /// Images and documents (`[export.media]`).
    pub media: media::MediaSettings,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            create_products: true,
            text: TextMapping::default(),
            languages: Vec::new(),
            language_texts: BTreeMap::new(),
            manufacturer: None,
            extra_categories: None,
            ean13: None,
            dimensions: Dimensions::default(),
            disable_when_out_of_stock: false,
            vat: BTreeMap::new(),
            default_tax_rule: None,
            published_only: true,
            query_filter: None,
            incremental: false,
            update: UpdateSwitches::default(),
            new_products_active: true,
            default_category: None,
            price_precision: 2,
            warehouses: Vec::new(),
            stock_kind: StockKind::Real,
            default_quantity: 0,
            allow_negative_stock: false,
            weight: WeightSource::None,
            weight_factor: Decimal::ONE,
            batch_size: 50,
            category_levels: Vec::new(),
            create_categories: true,
            variants: None,
            specific_prices: specific::SpecificPriceSettings::default(),
            cross_selling: false,
            customers: Default::default(),
            media: media::MediaSettings::default(),
        }
    }
}

impl CatalogSettings {
    /// The ERP columns an export of products reads: the key, the mapped texts, and what
    /// the rules need. Heavy columns that are not mapped (images, unmapped RTF) stay out.
    pub fn product_columns(&self) -> Vec<String> {
        let mut c: Vec<String> = [
            "Id",
            "Caption",
            "SalePriceVatExcluded",
            "VatId",
            "AllowPublishOnWeb",
            "ActiveState",
            "ManageStock",
            "sysCreatedDate",
            "sysModifiedDate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        c.extend(self.text.columns());
        for m in self.language_texts.values() {
            c.extend(m.columns());
        }
        c.extend(self.manufacturer.iter().cloned());
        c.extend(self.extra_categories.iter().map(|x| x.field.clone()));
        c.extend(self.ean13.iter().cloned());
        c.extend(self.dimensions.columns());
        match self.weight {
            WeightSource::None => {}
            WeightSource::Gross => c.push("Weight".into()),
            WeightSource::Net => c.push("NetWeight".into()),
        }
        c.extend(self.category_levels.iter().take(6).cloned());
        c.extend(self.variants.iter().flat_map(VariantSettings::columns));
        let mut seen = std::collections::BTreeSet::new();
        c.retain(|x| seen.insert(x.clone()));
        c
    }

    /// The columns an update of prices reads.
    pub fn price_columns(&self) -> Vec<String> {
        [
            "Id",
            "SalePriceVatExcluded",
            "VatId",
            "AllowPublishOnWeb",
            "sysModifiedDate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The columns an update of stock (or of activation) reads.
    pub fn stock_columns(&self) -> Vec<String> {
        [
            "Id",
            "AllowPublishOnWeb",
            "ActiveState",
            "ManageStock",
            "sysModifiedDate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}
