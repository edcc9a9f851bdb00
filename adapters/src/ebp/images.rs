//! The ERP's own article images (`Item.Image`, see
//! [`crate::ebp::assumptions::ITEM_IMAGE_COLUMN`]): read with `Items/ItemsExtentedQuery`,
//! only `Id` and the image column, `Id In` 100 references per call — the image column is
//! what makes `Item` rows heavy, so it is never read with the product columns.

use super::{cell, EbpClient};
use crate::ebp::assumptions::ITEM_IMAGE_COLUMN;
use crate::ebp::query::{chunks, Where};
use async_trait::async_trait;
use base64::Engine as _;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::ErpImages;

#[async_trait]
impl ErpImages for EbpClient {
    async fn images_of(
        &self,
        references: &[String],
    ) -> Result<Vec<(String, Result<Vec<u8>, String>)>, StepError> {
        let mut out = Vec::new();
        for chunk in chunks(references) {
            let p = vec![
                ("Columns", format!("Id,{ITEM_IMAGE_COLUMN}")),
                ("OrderByValue", "Id".to_string()),
                ("WhereCondition", Where::in_strings("Id", &chunk).to_yaml()),
            ];
            let (rows, _) = self
                .one_page(&self.folder_url("Items/ItemsExtentedQuery"), &p, 0)
                .await?;
            for r in &rows {
                let Some(id) = cell(r, "Id") else { continue };
                let Some(b64) = r.get(ITEM_IMAGE_COLUMN).and_then(|v| v.as_str()) else {
                    continue;
                };
                let b64 = b64.trim();
                if b64.is_empty() {
                    continue;
                }
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| {
                        format!("image de l'ERP illisible (ERP image is not base64) : {e}")
                    });
                out.push((id, decoded));
            }
        }
        Ok(out)
    }
}
