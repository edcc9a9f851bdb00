//! Customers flowing ERP → shop (FEATURES §2 "Customers", §3.2): the ERP customer as read
//! (EBP `Customer` and `Contact` rows, `reference/ebp-api.md` §6), the profile's
//! `[export.customers]` settings, and the pure rules that turn one ERP customer into the
//! shop accounts to write (the customer itself, and one account per contact when asked).
//! No IO: the workflows feed these functions with what the ports read.

pub mod fit;
pub mod rules;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

pub use fit::fit_customer;
pub use rules::{
    check_codes, customer_drafts, group_name_of, is_valid_email, should_be_active, CodeError,
    DraftsOutcome,
};

/// A postal address of the ERP (`MainInvoicingAddress_*`, `MainDeliveryAddress_*`,
/// `Contact.AddressFields_*`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostalAddress {
    /// `Address1`.
    pub address1: String,
    /// `Address2`.
    #[serde(default)]
    pub address2: Option<String>,
    /// `ZipCode`.
    pub postcode: String,
    /// `City`.
    pub city: String,
    /// `CountryIsoCode` (ISO 3166-1 alpha-2).
    pub country_iso: String,
}

impl PostalAddress {
    /// An address without street, postcode or city is not sent (PrestaShop requires them).
    pub fn is_usable(&self) -> bool {
        !self.address1.trim().is_empty()
            && !self.postcode.trim().is_empty()
            && !self.city.trim().is_empty()
    }
}

/// A contact of an ERP customer (EBP `Contact` row).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErpContact {
    /// `Contact.Id`.
    pub id: String,
    /// `ContactFields_FirstName`.
    pub firstname: String,
    /// `ContactFields_Name`.
    pub lastname: String,
    /// `ContactFields_Email`.
    pub email: String,
    /// `ContactFields_Phone` (else `ContactFields_CellPhone`).
    pub phone: String,
    /// The contact's own address (`AddressFields_*`), when it has one.
    #[serde(default)]
    pub address: Option<PostalAddress>,
}

/// One ERP customer (EBP `Customer` row with its contacts), as far as the export needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErpAccount {
    /// Customer code (`Customer.Id`), the key shared with the shop (see
    /// [`rules::customer_drafts`]).
    pub code: String,
    /// `Name` (company or person).
    pub name: String,
    /// `ActiveState` (0 active; 1 asleep, 2 blocked, 3 partially blocked, 4 non-payment).
    pub active_state: i64,
    /// `FamilyId`.
    #[serde(default)]
    pub family: Option<String>,
    /// `PriceListCategoryId`.
    #[serde(default)]
    pub price_category: Option<String>,
    /// `MainInvoicingContact_FirstName`.
    pub firstname: String,
    /// `MainInvoicingContact_Name`.
    pub lastname: String,
    /// `MainInvoicingContact_Email`.
    pub email: String,
    /// `MainInvoicingContact_Phone` (else `_CellPhone`).
    pub phone: String,
    /// SIRET (`Siren` + `Nic`).
    #[serde(default)]
    pub siret: Option<String>,
    /// `NAF` (APE code).
    #[serde(default)]
    pub naf: Option<String>,
    /// Main invoicing address.
    pub billing: PostalAddress,
    /// Main delivery address (empty when the invoicing address is used for delivery).
    pub delivery: PostalAddress,
    /// `sysCreatedDate`.
    #[serde(default)]
    pub created: Option<NaiveDateTime>,
    /// `sysModifiedDate`.
    #[serde(default)]
    pub modified: Option<NaiveDateTime>,
    /// Contacts (EBP `Contact` rows of this customer), when read.
    #[serde(default)]
    pub contacts: Vec<ErpContact>,
}

/// Where shop groups come from (FEATURES §3.2 "create groups from families or price
/// categories").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupSource {
    /// No group mapping: every customer lands in the default group.
    #[default]
    None,
    /// ERP customer families (`CustomerFamily`).
    Family,
    /// ERP price categories (`PriceListCategory`).
    PriceCategory,
}

/// How the password of a new shop account is chosen. PrestaShop requires one on create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordMode {
    /// A random password the customer never sees: they use "forgot password" to log in.
    #[default]
    Random,
}

/// What an update of an existing shop account may overwrite (FEATURES §3.2 "on update
/// replace …"). New accounts always get every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerUpdateSwitches {
    /// E-mail (off by default: the customer logs in with it).
    pub email: bool,
    /// First and last names.
    pub names: bool,
    /// Groups (associations).
    pub group: bool,
    /// Default group too.
    pub default_group: bool,
    /// Addresses.
    pub addresses: bool,
    /// B2B data (company, SIRET, APE).
    pub b2b: bool,
}

impl Default for CustomerUpdateSwitches {
    fn default() -> Self {
        Self {
            email: false,
            names: true,
            group: true,
            default_group: true,
            addresses: true,
            b2b: true,
        }
    }
}

/// The customer settings of a profile (FEATURES §3.2), the `[export.customers]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerExportSettings {
    /// Create shop accounts for ERP customers missing from the shop (else ignored).
    pub create_customers: bool,
    /// Each contact with an e-mail becomes its own shop account (same company).
    pub create_contacts: bool,
    /// Contacts without e-mail are left out silently (else each one is reported).
    pub skip_contacts_without_email: bool,
    /// Contacts without their own address get the customer's addresses.
    pub copy_addresses_to_contacts: bool,
    /// Don't send addresses at all.
    pub no_addresses: bool,
    /// Where groups come from.
    pub groups_from: GroupSource,
    /// Shop group of customers without a (found) group; `None`: the platform's own default
    /// customer group (its adapter knows which). Profiles of earlier versions that name one
    /// (`default_group = "3"`) read as `Some`.
    pub default_group: Option<String>,
    /// ERP-side filter (`ID LIKE 'B%'`, clauses joined by AND).
    pub query_filter: Option<String>,
    /// Only customers modified since the last transfer of the action.
    pub incremental: bool,
    /// New-account password mode.
    pub password_mode: PasswordMode,
    /// Newsletter flag of new accounts.
    pub newsletter: bool,
    /// Partner offers (opt-in) flag of new accounts.
    pub optin: bool,
    /// Update switches.
    pub update: CustomerUpdateSwitches,
    /// The shop's languages group names are written in, as the platform identifies them;
    /// empty: the shop's default language (the platform's adapter knows it).
    pub languages: Vec<String>,
    /// `price_display_method` of created groups (0 tax included, 1 tax excluded).
    pub group_price_display: u8,
    /// `show_prices` of created groups.
    pub group_show_prices: bool,
    /// Import prospects: shop accounts created on or after this day (required by the
    /// action; FEATURES §2 "from a start date set on the shop side").
    pub prospects_since: Option<NaiveDate>,
    /// The neutral name sent as first or last name when the shop's person-name rule
    /// refuses the ERP's (a company name standing in for a missing contact name, a name
    /// with nothing usable left once cleaned); the company stays in its own field.
    pub name_placeholder: String,
}

impl Default for CustomerExportSettings {
    fn default() -> Self {
        Self {
            create_customers: true,
            create_contacts: false,
            skip_contacts_without_email: true,
            copy_addresses_to_contacts: false,
            no_addresses: false,
            groups_from: GroupSource::None,
            default_group: None,
            query_filter: None,
            incremental: false,
            password_mode: PasswordMode::Random,
            newsletter: false,
            optin: false,
            update: CustomerUpdateSwitches::default(),
            languages: Vec::new(),
            group_price_display: 0,
            group_show_prices: true,
            prospects_since: None,
            name_placeholder: "Client".into(),
        }
    }
}

/// An address to write in the shop (PrestaShop `addresses`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddressDraft {
    /// `alias` (also how an existing address of the account is recognised: "Facturation",
    /// "Livraison").
    pub alias: String,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company.
    pub company: String,
    /// Street.
    pub address: PostalAddress,
    /// Phone.
    pub phone: String,
}

/// A shop account to create or update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CustomerDraft {
    /// The ERP customer code the account belongs to (written in the shop `note`).
    pub erp_code: String,
    /// For a contact's account, the contact id; `None` for the customer itself.
    pub contact: Option<String>,
    /// E-mail (lower-cased, trimmed): the look-up key in the shop.
    pub email: String,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company.
    pub company: String,
    /// SIRET.
    pub siret: String,
    /// APE code.
    pub ape: String,
    /// Shop group id (resolved from the ERP family or price category label by the
    /// workflow; `None`: the profile's default group).
    pub group: Option<String>,
    /// Newsletter flag (new accounts only).
    pub newsletter: bool,
    /// Opt-in flag (new accounts only).
    pub optin: bool,
    /// Active (false for an asleep/blocked customer).
    pub active: bool,
    /// Addresses (empty: none sent).
    pub addresses: Vec<AddressDraft>,
}

impl CustomerDraft {
    /// The draft's key in a batch: the code, or `code/contact`.
    pub fn key(&self) -> String {
        match &self.contact {
            Some(c) => format!("{}/{c}", self.erp_code),
            None => self.erp_code.clone(),
        }
    }
}

/// A shop group to create (PrestaShop `groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDraft {
    /// The ERP id (family or price category).
    pub erp_id: String,
    /// Name (the look-up key in the shop, any case).
    pub name: String,
    /// `price_display_method`.
    pub price_display_method: u8,
    /// `show_prices`.
    pub show_prices: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_group_absent_means_the_platforms_own_and_an_old_profile_still_names_one() {
        // Journaled configurations and profiles of earlier versions carry the group id.
        let old: CustomerExportSettings =
            serde_json::from_str(r#"{"default_group": "3", "languages": ["1"]}"#).expect("old");
        assert_eq!(old.default_group.as_deref(), Some("3"));
        assert_eq!(old.languages, vec!["1"]);
        // Nothing said: no platform's id in the domain; the adapter applies its default.
        let new: CustomerExportSettings = serde_json::from_str("{}").expect("new");
        assert_eq!(new.default_group, None);
        assert!(new.languages.is_empty());
    }
}
