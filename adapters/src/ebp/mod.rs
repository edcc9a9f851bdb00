//! EBP Gestion Commerciale SaaS ("Open Line" online): client and the shared
//! limits (`reference/ebp-api.md`).
//!
//! * **Reads** use the SaaS Gestion family under
//!   `https://api-developpeurs.ebp.com/gescom/api/v1/Folders/{FolderId}/…`: `GenericQuery`
//!   (`TableName`, `Columns`, `WhereCondition` YAML, `OrderByValue`, `FromModifiedDate`),
//!   `Clients/ExtendedQuery`, `Items/ItemsExtentedQuery` (sic) and
//!   `Documents/SaleDocument/WithLines`; pages of `Offset`/`Limit` ≤ 100 until `paging.total`.
//! * **Writes** go through the Import API (`/import/api/v1/createImport`, multipart): the
//!   batch becomes the text files of EBP's *import paramétrable* (`Customers.txt`,
//!   `Adresses.txt`, `Orders.txt`, …), sent in one call. Everything about that contract
//!   that EBP does not document publicly is an assumption gathered in [`assumptions`].
//! * **Auth**: OAuth 2.0 authorization code at `api-login.ebp.com`, access token 1 h,
//!   single-use rotating refresh tokens, serialised through a [`gate::TokenStore`]; every
//!   call also carries the APIM header `ebp-subscription-key`.
//! * **Limits** (per subscription): 1 call/s and 10,000 calls/day, enforced on our side by
//!   a [`gate::CallGate`] shared by every worker, before EBP answers 429.
//!
//! Modules: [`client`] (`EbpClient`, implements the `Erp` port), [`query`] (WhereCondition
//! builder), [`files`] (import files writer and parser), [`memory`] (in-memory gate and token store), [`gate`] (the traits). The simulator
//! (`EbpSim`) lives in the `passerelle-simulators` crate, with its own reader of the files.

pub mod assumptions;
pub mod client;
pub mod files;
pub mod gate;
pub mod import_request;
pub mod memory;
pub mod models;
pub mod query;

pub use client::{ConfigEntry, EbpClient, EbpConfig, EbpConfiguration, Folder, ImportOutcome};
pub use gate::{CallGate, GateError, RefreshFn, Refreshed, TokenPair, TokenStore};
pub use memory::{MemoryGate, MemoryTokenStore};
pub use query::{Operator, ValueType, Where};
