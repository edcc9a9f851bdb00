//! The customer ports of the customer workflows: reading ERP customers (with contacts) and
//! customer families / price categories page by page, and writing shop accounts, addresses
//! and groups in batches; reading shop prospects (accounts without orders). Separate from
//! the catalogue and order ports so each flow's needs stay narrow.

use crate::engine::StepError;
use crate::ports::Written;
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::catalog::FilterClause;
use passerelle_domain::customer_export::{
    CustomerDraft, CustomerUpdateSwitches, ErpAccount, GroupDraft, GroupSource,
};
use serde::{Deserialize, Serialize};

/// Which ERP customers to read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CustomerQuery {
    /// The merchant's ERP-side filter.
    pub filter: Vec<FilterClause>,
    /// Only customers modified at or after this instant.
    pub modified_since: Option<NaiveDateTime>,
    /// Only customers created at or after this instant (export of new customers).
    pub created_since: Option<NaiveDateTime>,
    /// Read their contacts too.
    pub with_contacts: bool,
}

/// One customer as read: well-formed, or refused with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "kebab-case")]
pub enum CustomerRead {
    /// A readable customer.
    Ok(Box<ErpAccount>),
    /// A row the adapter could not read.
    Invalid {
        /// Its code (possibly empty).
        code: String,
        /// Why, French first.
        reason: String,
    },
}

impl CustomerRead {
    /// The customer's code.
    pub fn code(&self) -> &str {
        match self {
            CustomerRead::Ok(c) => &c.code,
            CustomerRead::Invalid { code, .. } => code,
        }
    }
}

/// One page of ERP customers, in code order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomersPage {
    /// The customers.
    pub customers: Vec<CustomerRead>,
    /// Offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

/// An ERP customer family or price category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpGroup {
    /// Its ERP id.
    pub id: String,
    /// Its label (the shop group's name).
    pub name: String,
}

/// The ERP side of the customer exports.
#[async_trait]
pub trait CustomerErp: Send + Sync {
    /// One page of customers (at most 100, EBP's page size) from `offset`.
    async fn customers_page(
        &self,
        query: &CustomerQuery,
        offset: u32,
    ) -> Result<CustomersPage, StepError>;
    /// Every customer family or price category.
    async fn customer_groups(&self, source: GroupSource) -> Result<Vec<ErpGroup>, StepError>;
}

/// A shop account with no order yet (a prospect), as the shop holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prospect {
    /// Shop customer id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company.
    pub company: String,
    /// SIRET.
    pub siret: String,
    /// The ERP code already written back on the account, when there is one.
    pub erp_code: Option<String>,
    /// The account's first address, when it has one.
    pub address: Option<passerelle_domain::orders::Address>,
}

/// One page of prospects (keyset paging on the shop id).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProspectsPage {
    /// Accounts of the page without any order.
    pub prospects: Vec<Prospect>,
    /// The last shop id read (the next page starts after it); `None`: no more.
    pub next_after: Option<u64>,
}

/// The shop side of the customer exports. Every write looks the account (by e-mail) or
/// the group (by name) up first and sets absolute values, so a step run twice writes
/// nothing twice (DESIGN §4 rule 3).
#[async_trait]
pub trait CustomerShop: Send + Sync {
    /// The platform's field rules: the workflows fit every account to them before it is
    /// written (issue 21). A platform without a table sends values unchecked.
    fn field_rules(&self) -> passerelle_domain::fields::FieldRules {
        passerelle_domain::fields::NO_RULES
    }
    /// Creates (when `create`) or updates the accounts and their addresses; answers per
    /// draft key ([`CustomerDraft::key`]).
    async fn upsert_customers(
        &self,
        drafts: &[CustomerDraft],
        create: bool,
        update: &CustomerUpdateSwitches,
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// The shop groups: (name, id).
    async fn groups(&self) -> Result<Vec<(String, String)>, StepError>;
    /// Creates the groups missing (by name, any case); answers per group name.
    async fn ensure_groups(
        &self,
        groups: &[GroupDraft],
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// Activates or deactivates the accounts of these ERP customers (found by e-mail, and
    /// only when the account is not tagged with another code); never creates. Input:
    /// (code, e-mail, active); answers per code.
    async fn set_customers_active(
        &self,
        states: &[(String, String, bool)],
    ) -> Result<Vec<(String, Written)>, StepError>;
    /// One page of accounts created since `since` without any order, after shop id `after`.
    async fn prospects(&self, since: NaiveDateTime, after: u64)
        -> Result<ProspectsPage, StepError>;
}
