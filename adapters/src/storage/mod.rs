//! Online storage of the article images and documents (FEATURES §3.1 "Images"):
//! [`ftp::FtpStorage`] (FTP and explicit FTPS, passive mode), [`dropbox::DropboxStorage`],
//! [`pcloud::PcloudStorage`], [`cloudinary::CloudinaryStorage`] (simulated in the
//! `passerelle-simulators` crate), plus the per-product memo of what was sent ([`LedgerMemos`]).

pub mod cloudinary;
pub mod dropbox;
pub mod ftp;
mod http;
pub mod pcloud;

use async_trait::async_trait;
use passerelle_domain::{AccountId, ProfileId, RunId};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{MediaMemo, MediaMemos, UpdateLedger};
use std::sync::Arc;

/// The memos kept as `SyncCursor` aggregates of the profile (flow `media:REFERENCE`), so
/// they live in the event log like every other record of a run. A cursor only moves
/// forward, so each value starts with a sequence number (`0000000003|{json}`).
pub struct LedgerMemos {
    ledger: Arc<dyn UpdateLedger>,
    account: AccountId,
    profile: ProfileId,
}

impl LedgerMemos {
    /// The memos of `profile`.
    pub fn new(ledger: Arc<dyn UpdateLedger>, account: AccountId, profile: ProfileId) -> Self {
        Self {
            ledger,
            account,
            profile,
        }
    }

    async fn read(&self, reference: &str) -> Result<(u64, MediaMemo), StepError> {
        let v = self
            .ledger
            .cursor(&self.account, &self.profile, &flow(reference))
            .await?;
        let Some(v) = v else {
            return Ok((0, MediaMemo::default()));
        };
        let (seq, json) = v.split_once('|').unwrap_or(("0", ""));
        let memo = serde_json::from_str(json).unwrap_or_default();
        Ok((seq.parse().unwrap_or(0), memo))
    }
}

fn flow(reference: &str) -> String {
    format!("media:{reference}")
}

#[async_trait]
impl MediaMemos for LedgerMemos {
    async fn memo(&self, reference: &str) -> Result<MediaMemo, StepError> {
        Ok(self.read(reference).await?.1)
    }

    async fn remember(
        &self,
        run: RunId,
        reference: &str,
        memo: &MediaMemo,
    ) -> Result<(), StepError> {
        let (seq, current) = self.read(reference).await?;
        if &current == memo {
            return Ok(());
        }
        let json = serde_json::to_string(memo)
            .map_err(|e| StepError::permanent(format!("mémo des médias : {e}")))?;
        self.ledger
            .advance_cursor(
                &self.account,
                &self.profile,
                run,
                &flow(reference),
                &format!("{:010}|{json}", seq + 1),
            )
            .await
    }
}
