//! `demo-engine`: the engine's demonstration workflow. It reads a list of items from a
//! backend (whose first answer may be a transient error), validates each item (a negative
//! quantity fails that item only) and applies one idempotent external effect per item.
//! It exercises every engine rule until the real sync actions exist, and it is what the
//! crash, fencing and retry tests drive.

use crate::engine::{RetryPolicy, RunContext, RunError, StepError, Workflow, WorkflowFuture};
use async_trait::async_trait;
use passerelle_domain::ItemOutcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// One item of the demo backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoItem {
    /// Reference shown in progress lines.
    pub reference: String,
    /// Quantity; negative values are invalid input.
    pub quantity: i64,
}

/// The receipt of an applied effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Id of the effect at the backend (the same for a repeated idempotency key).
    pub effect_id: String,
    /// True when the backend had already applied this key (a resumed step).
    pub replayed: bool,
}

/// The demo backend port.
#[async_trait]
pub trait DemoBackend: Send + Sync {
    /// Lists the items to process.
    async fn list_items(&self) -> Result<Vec<DemoItem>, StepError>;
    /// Applies the effect for one item; the same key applies it at most once.
    async fn apply(&self, idempotency_key: &str, item: &DemoItem) -> Result<Receipt, StepError>;
}

/// Input of a demo-engine run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DemoInput {
    /// Retry delay override in milliseconds (tests and demo keep it short).
    #[serde(default)]
    pub retry_initial_ms: Option<u64>,
}

/// The workflow.
pub struct DemoEngine {
    backend: Arc<dyn DemoBackend>,
}

impl DemoEngine {
    /// A workflow using `backend`.
    pub fn new(backend: Arc<dyn DemoBackend>) -> Self {
        Self { backend }
    }
}

fn policy(input: &DemoInput) -> RetryPolicy {
    let mut p = RetryPolicy::READ;
    if let Some(ms) = input.retry_initial_ms {
        p.initial = Duration::from_millis(ms);
        p.jitter = 0.0;
    }
    p
}

/// Pure validation of one item.
pub fn validate(item: &DemoItem) -> Result<(), StepError> {
    if item.reference.trim().is_empty() {
        return Err(StepError::permanent("référence vide (empty reference)"));
    }
    if item.quantity < 0 {
        return Err(StepError::permanent(format!(
            "quantité négative ({}) pour {} (negative quantity)",
            item.quantity, item.reference
        )));
    }
    Ok(())
}

impl Workflow for DemoEngine {
    fn run(&self, ctx: RunContext, input: Value) -> WorkflowFuture {
        let backend = self.backend.clone();
        Box::pin(async move {
            let input: DemoInput = serde_json::from_value(input)
                .map_err(|e| RunError::failed(format!("entrée invalide : {e}")))?;
            let policy = policy(&input);
            let items = ctx
                .step("read_items", &policy, || backend.list_items())
                .await?;
            let counts = ctx
                .for_each_item(
                    items,
                    |it| (it.reference.clone(), it.reference.clone()),
                    |ictx, _item_ref, item| {
                        let backend = backend.clone();
                        async move {
                            let it = item.clone();
                            ictx.step(
                                "validate",
                                &RetryPolicy::NONE,
                                || async move { validate(&it) },
                            )
                            .await?;
                            let key = ictx.idempotency_key("apply_effect");
                            let receipt: Receipt = ictx
                                .step("apply_effect", &policy, || async move {
                                    backend.apply(&key, &item).await
                                })
                                .await?;
                            Ok(ItemOutcome::Succeeded(Some(format!(
                                "effet {} appliqué",
                                receipt.effect_id
                            ))))
                        }
                    },
                )
                .await?;
            ctx.note(format!(
                "{} élément(s) : {} réussi(s), {} en échec, {} ignoré(s)",
                counts.total, counts.succeeded, counts.failed, counts.ignored
            ))
            .await?;
            Ok(())
        })
    }
}
