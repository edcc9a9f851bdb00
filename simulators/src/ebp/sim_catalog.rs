//! The article store of the EBP simulator: the `Item` columns the catalogue exports read
//! (`reference/ebp-api.md` "Item": `SalePriceVatExcluded`, `VatId`, `AllowPublishOnWeb`,
//! `ActiveState`, `ManageStock`, `Weight`, `DesCom`, custom `xx_*` fields,
//! `sysCreatedDate`), merged into the simulator's `Item` rows; `Columns`, paging,
//! `WhereCondition`, `SysModifiedDate` and the rate limit are the simulator's own.

use super::{iso, lock, now_naive, num, EbpSim, SimItem, MAIN_WAREHOUSE};
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Catalogue columns every `Item` row carries (null when unset), so that `Columns` asking
/// for them is valid even on articles seeded without them.
const STANDARD: &[&str] = &[
    "DesCom",
    "DesComClear",
    "SalePriceVatExcluded",
    "SalePriceVatIncluded",
    "VatId",
    "Weight",
    "NetWeight",
    "FamilyId",
    "SubFamilyId",
    "BarCode",
    crate::ebp::contract::ITEM_IMAGE_COLUMN,
];

/// Extra columns per article, and the custom column names seen (present on every row).
#[derive(Default)]
pub(super) struct CatalogStore {
    columns: BTreeMap<String, Map<String, Value>>,
    custom: BTreeSet<String>,
}

impl CatalogStore {
    /// Completes a base `Item` row with the article's catalogue columns.
    pub(super) fn complete(&self, item: &SimItem, row: &mut Value) {
        let Value::Object(m) = row else { return };
        m.insert("ManageStock".into(), Value::Bool(true));
        for c in STANDARD {
            m.insert((*c).into(), Value::Null);
        }
        for c in &self.custom {
            m.insert(c.clone(), Value::Null);
        }
        m.insert("sysCreatedDate".into(), Value::String(iso(item.modified)));
        if let Some(extra) = self.columns.get(&item.id) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

/// An article to seed, built fluently: `SimArticle::new("A1", "Lampe", 5).price(…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimArticle {
    /// `Item.Id`.
    pub id: String,
    /// `Caption`.
    pub caption: String,
    /// Real stock in the main warehouse.
    pub stock: Decimal,
    /// Other columns, raw (so tests can seed unreadable values).
    pub columns: Map<String, Value>,
}

impl SimArticle {
    /// Published, active, stock-tracked, no price.
    pub fn new(id: &str, caption: &str, stock: i64) -> Self {
        let mut columns = Map::new();
        columns.insert("AllowPublishOnWeb".into(), Value::Bool(true));
        columns.insert("ActiveState".into(), Value::from(0));
        Self {
            id: id.into(),
            caption: caption.into(),
            stock: Decimal::from(stock),
            columns,
        }
    }
    /// Sale price excluding tax (and including tax at `vat_rate` %).
    pub fn price(mut self, excl: Decimal, vat_rate: Decimal) -> Self {
        let incl = (excl * (Decimal::ONE + vat_rate / Decimal::from(100))).round_dp(2);
        self.columns
            .insert("SalePriceVatExcluded".into(), num(excl));
        self.columns
            .insert("SalePriceVatIncluded".into(), num(incl));
        self
    }
    /// VAT code.
    pub fn vat(self, code: &str) -> Self {
        self.column("VatId", Value::String(code.into()))
    }
    /// Published on the web or not.
    pub fn published(self, on: bool) -> Self {
        self.column("AllowPublishOnWeb", Value::Bool(on))
    }
    /// `ActiveState` (0 active, 1 asleep, 2 blocked).
    pub fn state(self, state: i64) -> Self {
        self.column("ActiveState", Value::from(state))
    }
    /// Stock not tracked.
    pub fn untracked(self) -> Self {
        self.column("ManageStock", Value::Bool(false))
    }
    /// Any column, raw.
    pub fn column(mut self, name: &str, value: Value) -> Self {
        self.columns.insert(name.into(), value);
        self
    }
}

impl EbpSim {
    /// Seeds articles (replacing same ids), stock in the main warehouse, dated now.
    pub fn seed_articles(&self, articles: &[SimArticle]) {
        let mut g = lock(&self.inner);
        let now = now_naive();
        for a in articles {
            let mut stock = BTreeMap::new();
            stock.insert(MAIN_WAREHOUSE.to_string(), a.stock);
            g.items.insert(
                a.id.clone(),
                SimItem {
                    id: a.id.clone(),
                    caption: a.caption.clone(),
                    stock,
                    modified: now,
                },
            );
            for k in a.columns.keys() {
                if k.starts_with("xx_") {
                    g.catalog.custom.insert(k.clone());
                }
            }
            let mut cols = a.columns.clone();
            cols.insert("sysCreatedDate".into(), Value::String(iso(now)));
            g.catalog.columns.insert(a.id.clone(), cols);
        }
    }

    /// Changes columns of an article as a user would (its `sysModifiedDate` becomes now).
    /// Returns false when the article is unknown.
    pub fn update_article(&self, id: &str, columns: &[(&str, Value)]) -> bool {
        let mut guard = lock(&self.inner);
        let g = &mut *guard;
        let Some(item) = g.items.get_mut(id) else {
            return false;
        };
        item.modified = now_naive();
        for (k, v) in columns {
            if *k == "Caption" {
                if let Some(c) = v.as_str() {
                    item.caption = c.to_string();
                }
                continue;
            }
            if k.starts_with("xx_") {
                g.catalog.custom.insert((*k).to_string());
            }
            g.catalog
                .columns
                .entry(id.to_string())
                .or_default()
                .insert((*k).to_string(), v.clone());
        }
        true
    }

    /// Back-dates an article (creation and modification), as if untouched since `at`.
    pub fn date_article(&self, id: &str, at: NaiveDateTime) {
        let mut g = lock(&self.inner);
        if let Some(i) = g.items.get_mut(id) {
            i.modified = at;
        }
        g.catalog
            .columns
            .entry(id.to_string())
            .or_default()
            .insert("sysCreatedDate".into(), Value::String(iso(at)));
    }

    /// Back-dates every article (bench and tests: "nothing changed since `at`").
    pub fn date_all_articles(&self, at: NaiveDateTime) {
        let ids: Vec<String> = lock(&self.inner).items.keys().cloned().collect();
        for id in ids {
            self.date_article(&id, at);
        }
    }
}

/// The demo folder's articles: the shared seed's catalogue ([`crate::seed::demo_articles`],
/// the same references, names, prices and stock every demo shop serves), VAT codes `TN`
/// (20 %), `TI` (10 %), `TR` (5.5 %), `EX` (none), an RTF commercial description and a
/// `xx_Accroche` custom field; plus two articles the shop does not have yet (created by the
/// export) and one not published (left out).
pub fn demo_articles() -> Vec<SimArticle> {
    let vat = |rate: Option<Decimal>| match rate.map(|r| r.normalize().to_string()).as_deref() {
        Some("20") => ("TN", Decimal::from(20)),
        Some("10") => ("TI", Decimal::from(10)),
        Some("5.5") => ("TR", Decimal::new(55, 1)),
        _ => ("EX", Decimal::ZERO),
    };
    let mut out: Vec<SimArticle> = crate::seed::demo_articles()
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let (code, rate) = vat(a.vat_rate);
            let name = a.name;
            SimArticle::new(&a.reference, &name, a.stock)
                .price(a.price_excl, rate)
                .vat(code)
                .column(
                    "DesCom",
                    Value::String(format!(
                        "{{\\rtf1\\ansi\\ansicpg1252 {{\\fonttbl{{\\f0 Tahoma;}}}}\\f0 \\b {name}\\b0\\par Qualit\\'e9 Maison Lumi\\'e8re.\\par}}"
                    )),
                )
                .column(
                    "xx_Accroche",
                    Value::String(format!("Sélection n° {}", i + 1)),
                )
                .column("Weight", Value::from(250 * (i as i64 + 1)))
        })
        .collect();
    out.push(
        SimArticle::new("VASE-Gres", "Vase en grès émaillé", 8)
            .price(Decimal::new(4500, 2), Decimal::from(20))
            .vat("TN")
            .column("xx_Accroche", Value::String("Nouveauté".into()))
            .column("Weight", Value::from(900)),
    );
    out.push(
        SimArticle::new("BOUGIE-Soja", "Bougie parfumée soja", 30)
            .price(Decimal::new(1890, 2), Decimal::from(20))
            .vat("TN")
            .column("Weight", Value::from(300)),
    );
    out.push(
        SimArticle::new("ARCHIVE-2019", "Ancienne collection", 0)
            .price(Decimal::new(990, 2), Decimal::from(20))
            .vat("TN")
            .published(false),
    );
    out
}
