//! `LinksErp` for [`EbpClient`]: linked articles (cross-selling) from `LinkedItem` and bills
//! of materials (packs) from `ItemComponent`, read with `GenericQuery` per 100 articles
//! (`ItemId In` / `ParentItemId In`), as recorded in [`crate::ebp::assumptions`]
//! (`LINKED_ITEM_TABLE`, `ITEM_COMPONENT_TABLE`).

use super::{cell, cell_decimal, EbpClient};
use crate::ebp::assumptions::{ITEM_COMPONENT_TABLE, LINKED_ITEM_TABLE};
use crate::ebp::query::{chunks, Where};
use async_trait::async_trait;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{ErpLinks, LinksErp};
use serde_json::Value;

impl EbpClient {
    /// Every row of `table` where `key` is one of `references`, sorted by `key` then
    /// `order`, page after page.
    async fn rows_for(
        &self,
        table: &str,
        columns: &str,
        key: &str,
        references: &[String],
    ) -> Result<Vec<Value>, StepError> {
        let url = self.folder_url("GenericQuery");
        let mut out = Vec::new();
        for chunk in chunks(references) {
            let p = vec![
                ("TableName", table.to_string()),
                ("Columns", columns.to_string()),
                ("OrderByValue", key.to_string()),
                ("WhereCondition", Where::in_strings(key, &chunk).to_yaml()),
            ];
            let mut offset = 0;
            loop {
                let (rows, next) = self.one_page(&url, &p, offset).await?;
                out.extend(rows);
                match next {
                    Some(n) if n > offset => offset = n,
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

fn order(row: &Value, column: &str) -> i64 {
    cell(row, column).and_then(|o| o.parse().ok()).unwrap_or(0)
}

#[async_trait]
impl LinksErp for EbpClient {
    async fn links(
        &self,
        references: &[String],
        cross_selling: bool,
        packs: bool,
    ) -> Result<ErpLinks, StepError> {
        let mut out = ErpLinks::default();
        if cross_selling && !references.is_empty() {
            let mut rows = self
                .rows_for(
                    LINKED_ITEM_TABLE,
                    "ItemId,LinkedItemId,LineOrder,OfferForSale",
                    "ItemId",
                    references,
                )
                .await?;
            rows.sort_by_key(|r| (cell(r, "ItemId"), order(r, "LineOrder")));
            for r in rows {
                let for_sale = matches!(cell(&r, "OfferForSale").as_deref(), Some("true" | "1"));
                if let (true, Some(a), Some(b)) =
                    (for_sale, cell(&r, "ItemId"), cell(&r, "LinkedItemId"))
                {
                    out.linked.push((a, b));
                }
            }
        }
        if packs && !references.is_empty() {
            let mut rows = self
                .rows_for(
                    ITEM_COMPONENT_TABLE,
                    "ParentItemId,ItemId,Quantity,ComponentOrder",
                    "ParentItemId",
                    references,
                )
                .await?;
            rows.sort_by_key(|r| (cell(r, "ParentItemId"), order(r, "ComponentOrder")));
            for r in rows {
                if let (Some(p), Some(c)) = (cell(&r, "ParentItemId"), cell(&r, "ItemId")) {
                    out.components.push((p, c, cell_decimal(&r, "Quantity")));
                }
            }
        }
        Ok(out)
    }
}
