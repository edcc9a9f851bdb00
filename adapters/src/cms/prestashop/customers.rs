//! `CustomerShop` for PrestaShop ([`PrestaShopCustomers`]): shop accounts found by e-mail
//! in batches (`GET /api/customers?filter[email]=[a|b]&display=full`), created with
//! `POST /api/customers` (one per call: the new id is read from the answer) and updated with
//! `PATCH /api/customers/{id}` (only the fields sent change); addresses through
//! `/api/addresses` (found by `id_customer` and `alias`), groups through `/api/groups`
//! (found by name).
//!
//! Webservice facts (PrestaShop devdocs, "Resources for Customers / Addresses / Groups":
//! <https://devdocs.prestashop-project.org/8/webservice/resources/customers>,
//! <https://devdocs.prestashop-project.org/8/webservice/resources/addresses>,
//! <https://devdocs.prestashop-project.org/8/webservice/resources/groups>): a customer
//! requires `passwd`, `lastname`, `firstname` (`isCustomerName`) and `email` (`isEmail`);
//! groups are the `associations/groups` list plus `id_default_group`; an address requires
//! `id_country`, `alias`, `lastname`, `firstname`, `address1` and `city`; a group requires
//! its multilingual `name`, `reduction`, `price_display_method` and `show_prices`.
//!
//! The link to the ERP: the private `note` carries `Code client EBP : CODE` (the same line
//! the order import writes back). An account found by e-mail but tagged with another code
//! belongs to another ERP customer and is never overwritten (refused with the reason).
//! A customer whose e-mail is not found is looked up by that tag too
//! (`filter[note]=%[Code client EBP : CODE]%`, the "contains" filter of the webservice
//! cheat sheet, <https://devdocs.prestashop-project.org/8/webservice/cheat-sheet>): its
//! ERP e-mail changed, and its account is updated (the e-mail itself only when the profile
//! replaces e-mails) instead of a second account being created. Contacts' accounts also
//! carry `Contact EBP : ID`; deactivating a customer also deactivates them.

use super::{check_id, or_filter, PrestaShopClient};
use crate::cms::prestashop::model::{association_ids, tagged_value, text, with_tagged_line, Obj};
use crate::cms::prestashop::ERP_CODE_PREFIX;
use async_trait::async_trait;
use chrono::NaiveDateTime;
use passerelle_domain::customer_export::{
    AddressDraft, CustomerDraft, CustomerUpdateSwitches, GroupDraft,
};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{CustomerShop, Prospect, ProspectsPage, Written};
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tokio::sync::Mutex;

/// PrestaShop's default customer group ("Client", id 3 on a standard install): where a
/// customer goes when the profile names no group for it.
pub(crate) const DEFAULT_CUSTOMER_GROUP: &str = "3";

/// The note line naming the ERP contact an account was made for (contacts' accounts carry
/// their customer's code too, so the customer's own account is the one without it).
pub(crate) const CONTACT_PREFIX: &str = "Contact EBP : ";

/// E-mails per look-up call (they all go in one `filter[email]=[…]` of the URL).
const EMAILS_PER_CALL: usize = 50;

/// A PrestaShop shop seen as customer accounts, group names written in `languages`.
pub struct PrestaShopCustomers {
    client: PrestaShopClient,
    languages: Vec<String>,
    countries: Mutex<Option<HashMap<String, String>>>,
}

impl PrestaShopCustomers {
    /// Over `client`, group names written in each of `languages` (`["1"]` when empty).
    pub fn new(client: PrestaShopClient, languages: Vec<String>) -> Self {
        let languages = if languages.is_empty() {
            vec!["1".to_string()]
        } else {
            languages
        };
        Self {
            client,
            languages,
            countries: Mutex::new(None),
        }
    }
}

fn esc(v: &str) -> String {
    quick_xml::escape::escape(v).to_string()
}

/// A value PrestaShop's filter syntax cannot carry (it would change the filter).
fn unsearchable(v: &str) -> bool {
    v.contains(['|', '[', ']', ',', '%', '!', '<', '>'])
}

fn xml(entity: &str, inner: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop><{entity}>{inner}</{entity}></prestashop>")
}

fn field(name: &str, v: &str) -> String {
    format!("<{name}>{}</{name}>", esc(v))
}

/// The id of the single resource in a write answer (`{"customer":{"id":…}}`).
fn answered_id(body: &[u8], entity: &str) -> Result<String, StepError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| StepError::permanent(format!("réponse PrestaShop illisible : {e}")))?;
    let id = v
        .get(entity)
        .and_then(|o| o.get("id"))
        .map(|i| i.as_str().map(str::to_string).unwrap_or(i.to_string()))
        .unwrap_or_default();
    check_id(&id)?;
    Ok(id)
}

/// What an account write needs: the draft, the existing row when found.
enum Target<'a> {
    New(&'a CustomerDraft),
    Existing(&'a CustomerDraft, Obj),
}

impl PrestaShopCustomers {
    /// Accounts with these e-mails (lower-case), in calls of [`EMAILS_PER_CALL`].
    async fn by_emails(&self, emails: &[String]) -> Result<HashMap<String, Vec<Obj>>, StepError> {
        let mut out: HashMap<String, Vec<Obj>> = HashMap::new();
        for chunk in emails.chunks(EMAILS_PER_CALL) {
            let rows = self
                .client
                .list(
                    "customers",
                    &[
                        ("filter[email]".into(), or_filter(&mut chunk.iter())),
                        ("filter[deleted]".into(), "[0]".into()),
                        ("display".into(), "full".into()),
                    ],
                )
                .await?;
            for r in rows {
                out.entry(text(&r, "email").trim().to_lowercase())
                    .or_default()
                    .push(r);
            }
        }
        Ok(out)
    }

    /// The account of ERP customer `code` (not a contact's), by the tag in its note.
    async fn by_code(&self, code: &str) -> Result<Option<Obj>, StepError> {
        if unsearchable(code) {
            return Ok(None);
        }
        let rows = self
            .client
            .list(
                "customers",
                &[
                    (
                        "filter[note]".into(),
                        format!("%[{}{code}]%", ERP_CODE_PREFIX),
                    ),
                    ("filter[deleted]".into(), "[0]".into()),
                    ("display".into(), "full".into()),
                ],
            )
            .await?;
        Ok(rows.into_iter().find(|r| {
            let note = text(r, "note");
            tagged_value(&note, ERP_CODE_PREFIX).as_deref() == Some(code)
                && tagged_value(&note, CONTACT_PREFIX).is_none()
        }))
    }

    /// Country ids by ISO code (read once).
    async fn country_ids(&self) -> Result<HashMap<String, String>, StepError> {
        let mut guard = self.countries.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let rows = self
            .client
            .list("countries", &[("display".into(), "[id,iso_code]".into())])
            .await?;
        let map: HashMap<String, String> = rows
            .iter()
            .map(|r| (text(r, "iso_code").to_uppercase(), text(r, "id")))
            .collect();
        *guard = Some(map.clone());
        Ok(map)
    }

    /// The account of `code` among the rows of one e-mail: the one tagged with the code,
    /// else an untagged one; `Err` when every row belongs to another ERP customer.
    fn pick(rows: Option<&Vec<Obj>>, code: &str) -> Result<Option<Obj>, String> {
        let Some(rows) = rows.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let tag = |r: &Obj| tagged_value(&text(r, "note"), ERP_CODE_PREFIX);
        if let Some(r) = rows.iter().find(|r| tag(r).as_deref() == Some(code)) {
            return Ok(Some(r.clone()));
        }
        if let Some(r) = rows.iter().find(|r| tag(r).is_none()) {
            return Ok(Some(r.clone()));
        }
        Err(format!(
            "e-mail déjà utilisé par le compte {} lié au client ERP {} (e-mail used by another ERP customer's account)",
            text(&rows[0], "id"),
            tag(&rows[0]).unwrap_or_default()
        ))
    }

    /// The fields of an account write (None: unchanged existing account).
    fn customer_xml(
        d: &CustomerDraft,
        current: Option<&Obj>,
        u: &CustomerUpdateSwitches,
    ) -> Option<String> {
        let mut s = String::new();
        let mut changed = false;
        let mut set = |s: &mut String, name: &str, wanted: &str, allowed: bool| {
            if !allowed {
                return;
            }
            match current {
                Some(c) if text(c, name) == wanted => {}
                _ => {
                    changed = true;
                    s.push_str(&field(name, wanted));
                }
            }
        };
        let new = current.is_none();
        if let Some(c) = current {
            s.push_str(&field("id", &text(c, "id")));
        }
        set(&mut s, "email", &d.email, new || u.email);
        set(&mut s, "firstname", &d.firstname, new || u.names);
        set(&mut s, "lastname", &d.lastname, new || u.names);
        set(&mut s, "company", &d.company, new || u.b2b);
        set(&mut s, "siret", &d.siret, new || u.b2b);
        set(&mut s, "ape", &d.ape, new || u.b2b);
        // No group from the profile: PrestaShop's own default customer group.
        let group = d
            .group
            .clone()
            .unwrap_or_else(|| DEFAULT_CUSTOMER_GROUP.to_string());
        set(&mut s, "id_default_group", &group, new || u.default_group);
        let note = current.map(|c| text(c, "note")).unwrap_or_default();
        let tagged = with_tagged_line(&note, ERP_CODE_PREFIX, &d.erp_code);
        let tagged = match &d.contact {
            Some(k) => {
                let base = tagged.clone().unwrap_or_else(|| note.clone());
                with_tagged_line(&base, CONTACT_PREFIX, k).or(tagged)
            }
            None => tagged,
        };
        if let Some(n) = tagged {
            changed = true;
            s.push_str(&field("note", &n));
        }
        if new {
            s.push_str(&field("passwd", &uuid::Uuid::new_v4().simple().to_string()));
            s.push_str(&field("newsletter", if d.newsletter { "1" } else { "0" }));
            s.push_str(&field("optin", if d.optin { "1" } else { "0" }));
            s.push_str(&field("active", if d.active { "1" } else { "0" }));
            s.push_str(&field("id_lang", "1"));
        }
        {
            let have = current.map(|c| association_ids(c, "groups"));
            if new || (u.group && have.as_deref() != Some(std::slice::from_ref(&group))) {
                changed = true;
                s.push_str(&format!(
                    "<associations><groups><group><id>{}</id></group></groups></associations>",
                    esc(&group)
                ));
            }
        }
        (new || changed).then_some(s)
    }

    /// Writes one account; answers its id and whether something was written.
    async fn write_account(
        &self,
        t: &Target<'_>,
        u: &CustomerUpdateSwitches,
    ) -> Result<(String, bool), StepError> {
        match t {
            Target::New(d) => {
                let body = Self::customer_xml(d, None, u).unwrap_or_default();
                let answer = self
                    .client
                    .call(Method::POST, "customers", &[], Some(xml("customer", &body)))
                    .await?;
                Ok((answered_id(&answer, "customer")?, true))
            }
            Target::Existing(d, row) => {
                let id = text(row, "id");
                check_id(&id)?;
                match Self::customer_xml(d, Some(row), u) {
                    None => Ok((id, false)),
                    Some(body) => {
                        self.client
                            .call(
                                Method::PATCH,
                                &format!("customers/{id}"),
                                &[],
                                Some(xml("customer", &body)),
                            )
                            .await?;
                        Ok((id, true))
                    }
                }
            }
        }
    }

    /// Sets the account's addresses (found by alias); answers whether one was written.
    async fn write_addresses(
        &self,
        customer: &str,
        wanted: &[AddressDraft],
        countries: &HashMap<String, String>,
    ) -> Result<bool, StepError> {
        if wanted.is_empty() {
            return Ok(false);
        }
        let rows = self
            .client
            .list(
                "addresses",
                &[
                    ("filter[id_customer]".into(), format!("[{customer}]")),
                    ("filter[deleted]".into(), "[0]".into()),
                    ("display".into(), "full".into()),
                ],
            )
            .await?;
        let mut written = false;
        for a in wanted {
            let country = countries
                .get(&a.address.country_iso.to_uppercase())
                .cloned()
                .unwrap_or_default();
            let fields: Vec<(&str, String)> = vec![
                ("alias", a.alias.clone()),
                ("firstname", a.firstname.clone()),
                ("lastname", a.lastname.clone()),
                ("company", a.company.clone()),
                ("address1", a.address.address1.clone()),
                ("address2", a.address.address2.clone().unwrap_or_default()),
                ("postcode", a.address.postcode.clone()),
                ("city", a.address.city.clone()),
                ("id_country", country),
                ("phone", a.phone.clone()),
            ];
            let current = rows.iter().find(|r| text(r, "alias") == a.alias);
            match current {
                Some(r) if fields.iter().all(|(k, v)| text(r, k) == *v) => {}
                Some(r) => {
                    let id = text(r, "id");
                    check_id(&id)?;
                    let mut body = field("id", &id);
                    for (k, v) in &fields {
                        body.push_str(&field(k, v));
                    }
                    self.client
                        .call(
                            Method::PATCH,
                            &format!("addresses/{id}"),
                            &[],
                            Some(xml("address", &body)),
                        )
                        .await?;
                    written = true;
                }
                None => {
                    let mut body = field("id_customer", customer);
                    for (k, v) in &fields {
                        body.push_str(&field(k, v));
                    }
                    self.client
                        .call(Method::POST, "addresses", &[], Some(xml("address", &body)))
                        .await?;
                    written = true;
                }
            }
        }
        Ok(written)
    }

    /// One account and its addresses; a permanent refusal becomes that account's
    /// `Refused`, a transient error fails the step (retried; every write is looked up
    /// again first, so nothing is created twice).
    async fn upsert_one(
        &self,
        t: Target<'_>,
        u: &CustomerUpdateSwitches,
        countries: &HashMap<String, String>,
    ) -> Result<Written, StepError> {
        let (d, new) = match &t {
            Target::New(d) => (*d, true),
            Target::Existing(d, _) => (*d, false),
        };
        if let Some(a) = d
            .addresses
            .iter()
            .find(|a| !countries.contains_key(&a.address.country_iso.to_uppercase()))
        {
            return Ok(Written::Refused(format!(
                "pays « {} » inconnu de la boutique (unknown country)",
                a.address.country_iso
            )));
        }
        let res = async {
            let (id, wrote) = self.write_account(&t, u).await?;
            let addresses = if new || u.addresses {
                self.write_addresses(&id, &d.addresses, countries).await?
            } else {
                false
            };
            Ok::<_, StepError>(match (new, wrote || addresses) {
                (true, _) => Written::Created(id),
                (false, true) => Written::Updated(id),
                (false, false) => Written::Unchanged(id),
            })
        }
        .await;
        match res {
            Ok(w) => Ok(w),
            Err(StepError::Permanent(msg)) => Ok(Written::Refused(msg)),
            Err(e) => Err(e),
        }
    }

    /// The accounts made for the contacts of these customers follow their customer (one
    /// look-up per call: every account tagged as a contact's). A contact's account changed
    /// turns its customer's `Unchanged` into `Updated`.
    async fn set_contacts_active(
        &self,
        states: &[(String, String, bool)],
        out: &mut [(String, Written)],
    ) -> Result<(), StepError> {
        if states.is_empty() {
            return Ok(());
        }
        let wanted: HashMap<&str, bool> = states
            .iter()
            .map(|(code, _, active)| (code.as_str(), *active))
            .collect();
        let rows = self
            .client
            .list(
                "customers",
                &[
                    (
                        "filter[note]".into(),
                        format!("%[{}]%", CONTACT_PREFIX.trim()),
                    ),
                    ("filter[deleted]".into(), "[0]".into()),
                    ("display".into(), "[id,active,note]".into()),
                ],
            )
            .await?;
        for r in rows {
            let note = text(&r, "note");
            let (Some(code), Some(_)) = (
                tagged_value(&note, ERP_CODE_PREFIX),
                tagged_value(&note, CONTACT_PREFIX),
            ) else {
                continue;
            };
            let Some(active) = wanted.get(code.as_str()) else {
                continue;
            };
            let flag = if *active { "1" } else { "0" };
            if text(&r, "active") == flag {
                continue;
            }
            let id = text(&r, "id");
            check_id(&id)?;
            let body = format!("{}{}", field("id", &id), field("active", flag));
            match self
                .client
                .call(
                    Method::PATCH,
                    &format!("customers/{id}"),
                    &[],
                    Some(xml("customer", &body)),
                )
                .await
            {
                Ok(_) => {
                    for (c, w) in out.iter_mut() {
                        if *c == code {
                            if let Written::Unchanged(main) = w {
                                *w = Written::Updated(main.clone());
                            }
                        }
                    }
                }
                Err(StepError::Permanent(msg)) => {
                    tracing::warn!(%msg, account = %id, "compte de contact non modifié");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The first-language name of a group row.
    fn group_name(r: &Obj) -> String {
        text(r, "name").trim().to_string()
    }
}

#[async_trait]
impl CustomerShop for PrestaShopCustomers {
    fn field_rules(&self) -> passerelle_domain::fields::FieldRules {
        crate::cms::prestashop::fields::FIELD_RULES
    }

    async fn upsert_customers(
        &self,
        drafts: &[CustomerDraft],
        create: bool,
        update: &CustomerUpdateSwitches,
    ) -> Result<Vec<(String, Written)>, StepError> {
        let mut out = Vec::new();
        let searchable: Vec<&CustomerDraft> = drafts
            .iter()
            .filter(|d| {
                if unsearchable(&d.email) {
                    out.push((
                        d.key(),
                        Written::Refused(format!(
                            "e-mail « {} » non recherchable dans la boutique (unsearchable e-mail)",
                            d.email
                        )),
                    ));
                    false
                } else {
                    true
                }
            })
            .collect();
        let mut emails: Vec<String> = searchable.iter().map(|d| d.email.clone()).collect();
        emails.sort();
        emails.dedup();
        let found = self.by_emails(&emails).await?;
        let countries = if drafts.iter().any(|d| !d.addresses.is_empty()) {
            self.country_ids().await?
        } else {
            HashMap::new()
        };
        // Accounts written by this call, by e-mail: the look-up above predates them, and two
        // ERP customers sharing an e-mail must not get two accounts.
        let mut claimed: HashMap<String, String> = HashMap::new();
        for d in searchable {
            if let Some(other) = claimed.get(&d.email).filter(|c| **c != d.erp_code) {
                out.push((
                    d.key(),
                    Written::Refused(format!(
                        "e-mail déjà utilisé par le client ERP {other} (e-mail used by another ERP customer)"
                    )),
                ));
                continue;
            }
            let w = match Self::pick(found.get(&d.email), &d.erp_code) {
                Err(why) => Written::Refused(why),
                Ok(Some(row)) => {
                    self.upsert_one(Target::Existing(d, row), update, &countries)
                        .await?
                }
                Ok(None) => match (&d.contact, self.by_code(&d.erp_code).await?) {
                    (None, Some(row)) => {
                        self.upsert_one(Target::Existing(d, row), update, &countries)
                            .await?
                    }
                    _ if create => self.upsert_one(Target::New(d), update, &countries).await?,
                    _ => Written::Missing,
                },
            };
            if matches!(
                w,
                Written::Created(_) | Written::Updated(_) | Written::Unchanged(_)
            ) {
                claimed.insert(d.email.clone(), d.erp_code.clone());
            }
            out.push((d.key(), w));
        }
        Ok(out)
    }

    async fn groups(&self) -> Result<Vec<(String, String)>, StepError> {
        let rows = self
            .client
            .list("groups", &[("display".into(), "[id,name]".into())])
            .await?;
        Ok(rows
            .iter()
            .map(|r| (Self::group_name(r), text(r, "id")))
            .collect())
    }

    async fn ensure_groups(
        &self,
        groups: &[GroupDraft],
    ) -> Result<Vec<(String, Written)>, StepError> {
        let existing: HashMap<String, String> = self
            .groups()
            .await?
            .into_iter()
            .map(|(n, id)| (n.to_lowercase(), id))
            .collect();
        let mut out = Vec::new();
        for g in groups {
            if let Some(id) = existing.get(&g.name.to_lowercase()) {
                out.push((g.name.clone(), Written::Unchanged(id.clone())));
                continue;
            }
            let names: String = self
                .languages
                .iter()
                .map(|l| format!("<language id=\"{}\">{}</language>", esc(l), esc(&g.name)))
                .collect();
            let body = format!(
                "<name>{names}</name>{}{}{}",
                field("reduction", "0"),
                field("price_display_method", &g.price_display_method.to_string()),
                field("show_prices", if g.show_prices { "1" } else { "0" }),
            );
            let w = match self
                .client
                .call(Method::POST, "groups", &[], Some(xml("group", &body)))
                .await
            {
                Ok(answer) => Written::Created(answered_id(&answer, "group")?),
                Err(StepError::Permanent(msg)) => Written::Refused(msg),
                Err(e) => return Err(e),
            };
            out.push((g.name.clone(), w));
        }
        Ok(out)
    }

    async fn set_customers_active(
        &self,
        states: &[(String, String, bool)],
    ) -> Result<Vec<(String, Written)>, StepError> {
        let mut out = Vec::new();
        let mut emails: Vec<String> = states
            .iter()
            .filter(|(_, e, _)| !unsearchable(e))
            .map(|(_, e, _)| e.clone())
            .collect();
        emails.sort();
        emails.dedup();
        let found = self.by_emails(&emails).await?;
        for (code, email, active) in states {
            if unsearchable(email) {
                out.push((code.clone(), Written::Missing));
                continue;
            }
            let picked = match Self::pick(found.get(email), code) {
                Ok(None) => self
                    .by_code(code)
                    .await
                    .map(|r| r.ok_or(()))?
                    .map_err(|_| None),
                Ok(Some(row)) => Ok(row),
                Err(why) => Err(Some(why)),
            };
            let w = match picked {
                Err(Some(why)) => Written::Refused(why),
                Err(None) => Written::Missing,
                Ok(row) => {
                    let id = text(&row, "id");
                    check_id(&id)?;
                    let wanted = if *active { "1" } else { "0" };
                    if text(&row, "active") == wanted {
                        Written::Unchanged(id)
                    } else {
                        let body = format!("{}{}", field("id", &id), field("active", wanted));
                        match self
                            .client
                            .call(
                                Method::PATCH,
                                &format!("customers/{id}"),
                                &[],
                                Some(xml("customer", &body)),
                            )
                            .await
                        {
                            Ok(_) => Written::Updated(id),
                            Err(StepError::Permanent(msg)) => Written::Refused(msg),
                            Err(e) => return Err(e),
                        }
                    }
                }
            };
            out.push((code.clone(), w));
        }
        self.set_contacts_active(states, &mut out).await?;
        Ok(out)
    }

    async fn prospects(
        &self,
        since: NaiveDateTime,
        after: u64,
    ) -> Result<ProspectsPage, StepError> {
        let page = 100usize;
        let rows = self
            .client
            .list(
                "customers",
                &[
                    ("filter[id]".into(), format!(">[{after}]")),
                    (
                        "filter[date_add]".into(),
                        format!(">[{}]", since.format("%Y-%m-%d %H:%M:%S")),
                    ),
                    ("filter[is_guest]".into(), "[0]".into()),
                    ("filter[deleted]".into(), "[0]".into()),
                    ("date".into(), "1".into()),
                    ("sort".into(), "[id_ASC]".into()),
                    ("limit".into(), page.to_string()),
                    ("display".into(), "full".into()),
                ],
            )
            .await?;
        let next_after = (rows.len() == page)
            .then(|| rows.last().and_then(|r| text(r, "id").parse().ok()))
            .flatten();
        let ids: Vec<String> = rows.iter().map(|r| text(r, "id")).collect();
        for id in &ids {
            check_id(id)?;
        }
        let mut with_orders = std::collections::BTreeSet::new();
        let mut addresses: BTreeMap<String, Obj> = BTreeMap::new();
        if !ids.is_empty() {
            // Only the customer column is read: an order whose other fields are broken
            // does not hide the page. Should the batch still be unreadable, each account
            // is asked alone, and one whose orders cannot be read counts as having some
            // (never create an ERP customer on a guess).
            let orders_of = |ids: &mut dyn Iterator<Item = &String>| {
                vec![
                    ("filter[id_customer]".to_string(), or_filter(ids)),
                    ("display".to_string(), "[id_customer]".to_string()),
                ]
            };
            match self
                .client
                .list("orders", &orders_of(&mut ids.iter()))
                .await
            {
                Ok(rows) => with_orders.extend(rows.iter().map(|o| text(o, "id_customer"))),
                Err(StepError::Permanent(why)) => {
                    tracing::warn!(%why, "commandes illisibles : lecture compte par compte");
                    for id in &ids {
                        let mut q = orders_of(&mut std::iter::once(id));
                        q.push(("limit".into(), "1".into()));
                        match self.client.list("orders", &q).await {
                            Ok(rows) if rows.is_empty() => {}
                            Ok(_) | Err(StepError::Permanent(_)) => {
                                with_orders.insert(id.clone());
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
            for a in self
                .client
                .list(
                    "addresses",
                    &[
                        ("filter[id_customer]".into(), or_filter(&mut ids.iter())),
                        ("filter[deleted]".into(), "[0]".into()),
                        ("sort".into(), "[id_ASC]".into()),
                        ("display".into(), "full".into()),
                    ],
                )
                .await?
            {
                addresses.entry(text(&a, "id_customer")).or_insert(a);
            }
        }
        let countries: HashMap<String, String> = if addresses.is_empty() {
            HashMap::new()
        } else {
            self.country_ids()
                .await?
                .into_iter()
                .map(|(iso, id)| (id, iso))
                .collect()
        };
        let prospects = rows
            .iter()
            .filter(|r| !with_orders.contains(&text(r, "id")))
            .map(|r| {
                let id = text(r, "id");
                let address = addresses
                    .get(&id)
                    .map(|a| passerelle_domain::orders::Address {
                        firstname: text(a, "firstname"),
                        lastname: text(a, "lastname"),
                        company: Some(text(a, "company")).filter(|c| !c.is_empty()),
                        address1: text(a, "address1"),
                        address2: Some(text(a, "address2")).filter(|c| !c.is_empty()),
                        postcode: text(a, "postcode"),
                        city: text(a, "city"),
                        country_iso: countries
                            .get(&text(a, "id_country"))
                            .cloned()
                            .unwrap_or_default(),
                        state: None,
                        phone: Some(text(a, "phone")).filter(|c| !c.is_empty()),
                    });
                Prospect {
                    email: text(r, "email"),
                    firstname: text(r, "firstname"),
                    lastname: text(r, "lastname"),
                    company: text(r, "company"),
                    siret: text(r, "siret"),
                    erp_code: tagged_value(&text(r, "note"), ERP_CODE_PREFIX),
                    address,
                    id,
                }
            })
            .collect();
        Ok(ProspectsPage {
            prospects,
            next_after,
        })
    }
}
