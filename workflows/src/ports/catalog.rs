//! The catalogue ports of the export workflows (ERP → shop): reading articles, stock and
//! activation data from the ERP page by page, and writing products, prices, stock and
//! activation to the shop in batches. Separate from [`super::Erp`] / [`super::Shop`] (the
//! order flows' ports) so that each flow's needs stay narrow.

use crate::engine::StepError;
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::{ErpArticle, FilterClause, ProductDraft, StockKind};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which articles to read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ArticleQuery {
    /// Columns to read (only what the profile maps: `Item` rows are heavy).
    pub columns: Vec<String>,
    /// The merchant's ERP-side filter.
    pub filter: Vec<FilterClause>,
    /// Only articles published on the web.
    pub published_only: bool,
    /// Only articles modified at or after this instant (ERP local time).
    pub modified_since: Option<NaiveDateTime>,
    /// Only articles created at or after this instant (export of new articles).
    pub created_since: Option<NaiveDateTime>,
}

/// One article as read: well-formed, or refused with the reason (bad ERP data fails that
/// article only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "kebab-case")]
pub enum ArticleRead {
    /// A readable article.
    Ok(Box<ErpArticle>),
    /// An article the adapter could not read.
    Invalid {
        /// Its reference (possibly empty).
        reference: String,
        /// Why, French first.
        reason: String,
    },
}

impl ArticleRead {
    /// The article's reference.
    pub fn reference(&self) -> &str {
        match self {
            ArticleRead::Ok(a) => &a.reference,
            ArticleRead::Invalid { reference, .. } => reference,
        }
    }
}

/// One page of articles, in reference order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticlesPage {
    /// The articles.
    pub articles: Vec<ArticleRead>,
    /// Offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

/// One page of article references whose stock moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferencesPage {
    /// References (deduplicated within the page).
    pub references: Vec<String>,
    /// Offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

/// The ERP side of the catalogue.
#[async_trait]
pub trait CatalogErp: Send + Sync {
    /// One page of articles (at most 100, EBP's page size) from `offset`.
    async fn articles_page(
        &self,
        query: &ArticleQuery,
        offset: u32,
    ) -> Result<ArticlesPage, StepError>;
    /// The articles among `references` (batched look-ups), with `columns`.
    async fn articles_by_references(
        &self,
        references: &[String],
        columns: &[String],
    ) -> Result<Vec<ArticleRead>, StepError>;
    /// One page of references whose stock rows in `warehouses` changed since `since`.
    async fn stock_changed_since(
        &self,
        since: NaiveDateTime,
        warehouses: &[String],
        offset: u32,
    ) -> Result<ReferencesPage, StepError>;
    /// Stock of `references` summed over `warehouses` (every reference gets a level).
    async fn stock_of(
        &self,
        references: &[String],
        warehouses: &[String],
        kind: StockKind,
    ) -> Result<Vec<(String, Decimal)>, StepError>;
}

/// What a product write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Written {
    /// Created (with its shop id).
    Created(String),
    /// Updated (shop id).
    Updated(String),
    /// Already as asked: no write.
    Unchanged(String),
    /// The shop has no product with this reference (and creating was not asked).
    Missing,
    /// The shop refused it (reason).
    Refused(String),
}

/// The shop side of the catalogue. Every write is absolute (set-to) and looks the product
/// up by reference first, so a step run twice writes nothing twice (DESIGN §4 rule 3).
/// `batch`: how many products one call may carry where the platform accepts several.
#[async_trait]
pub trait CatalogShop: Send + Sync {
    /// The platform's field rules: the workflows fit every product to them before its
    /// first write (issue 21). A platform without a table sends values unchecked.
    fn field_rules(&self) -> passerelle_domain::fields::FieldRules {
        passerelle_domain::fields::NO_RULES
    }
    /// Creates (when `create`) or updates the products, by reference.
    async fn upsert_products(
        &self,
        drafts: &[ProductDraft],
        create: bool,
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// References (among `references`) the shop has, with their product id.
    async fn existing(
        &self,
        references: &[String],
        batch: usize,
    ) -> Result<Vec<(String, String)>, StepError>;
    /// Sets base prices (excl. tax) and tax rules of existing products.
    async fn set_prices(
        &self,
        prices: &[(String, Decimal, Option<String>)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// Sets available quantities of existing products (no combination).
    async fn set_stock(
        &self,
        quantities: &[(String, i64)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// The shop category ids of these paths of names (top first) under `root`, creating
    /// the missing ones when `create` (looked up by name and parent first: never twice).
    /// A path whose categories cannot all be found or created maps to its deepest found
    /// prefix (possibly empty).
    async fn ensure_categories(
        &self,
        paths: &[Vec<String>],
        root: &str,
        create: bool,
    ) -> Result<Vec<(Vec<String>, Vec<String>)>, StepError>;
    /// The shop ids of supplementary category `entries` (ids when `by_id`, else names in
    /// any case, looked up anywhere in the tree); an entry the shop does not have maps to
    /// `None` (never created: the merchant names existing categories).
    async fn find_categories(
        &self,
        entries: &[String],
        by_id: bool,
    ) -> Result<Vec<(String, Option<String>)>, StepError>;
    /// The shop ids of manufacturers `names` (any case), creating the missing ones
    /// (looked up by name first: never twice).
    async fn ensure_manufacturers(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String)>, StepError>;
    /// Activates or deactivates existing products (never creates).
    async fn set_active(
        &self,
        states: &[(String, bool)],
        batch: usize,
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// Creates (when `create`) or updates products with combinations (variants grouping):
    /// attribute groups and values found by name or created, combinations found by
    /// reference or created, price impacts and quantities set to (never created twice).
    /// A platform without combinations refuses every product (the default).
    async fn upsert_variant_products(
        &self,
        products: &[super::VariantProduct],
        create: bool,
    ) -> Result<Vec<(String, super::VariantWritten)>, StepError> {
        let _ = create;
        Ok(products
            .iter()
            .map(|p| {
                (
                    p.product.reference.clone(),
                    super::VariantWritten {
                        product: Written::Refused(
                            "déclinaisons non prises en charge par cette boutique (variants not supported)".into(),
                        ),
                        combinations: Vec::new(),
                        stock: Vec::new(),
                    },
                )
            })
            .collect())
    }
}
