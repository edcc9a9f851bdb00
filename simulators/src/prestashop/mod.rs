//! In-process simulator of the PrestaShop Webservice (1.7 / 8.x) for tests and demos.
//!
//! Faithful where the client depends on it (`PS-docs:webservice/cheat-sheet.md`,
//! `getting-started.md`, `resources/*.md`):
//! * paths `/api/<resource>` and `/api/<resource>/<id>`, Basic auth with the key as user
//!   name (or `ws_key=`), 401 with PrestaShop's error body otherwise;
//! * list options `filter[field]=[a|b]` (OR), `[a,b]` (interval), `[a]`, `>[a]`, `<[a]`,
//!   `display=full|[f1,f2]` (no display: ids only), `sort=[field_ASC|DESC]`,
//!   `limit=offset,count` or `limit=count`; filtering or sorting on a date field without
//!   `date=1` answers 400; an unknown filter field answers 400;
//! * JSON output (`output_format=JSON`): `{"orders":[…]}`, a bare `[]` for an empty list
//!   (PrestaShop issues #10172 / #22760), `{"order":{…}}` for one resource, every value a
//!   string except `id`, multilingual fields as `[{"id":"1","value":"…"}]`, `associations`;
//! * XML write bodies (`<prestashop><order_history>…`): `POST order_histories`
//!   (`sendemail=1` recorded), `PUT`/`PATCH` of `orders`, `customers`, `stock_availables`
//!   (`<id>` required in the body, as PrestaShop wants); `POST stock_availables` is 405.
//!
//! Test controls: call counters per `"METHOD resource"` (`"GET orders/:id"` for one
//! resource), fault injection (a seeded share of 5xx / 429 with Retry-After / delays, or
//! queued faults for the next calls) and per-order corruption ([`Corruption`]).

pub(crate) mod json;
use crate::seed::{self, Seed, SeedBreakage, SeedCarrier, SeedPaymentMethod, SeedStatus};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime};
use json::text;
pub use json::Obj;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};

/// PrestaShop rounds half up (`PS_ROUND_HALF_UP`, the default round mode).
const HALF_UP: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The key [`PrestaShopSim::start_demo`] accepts (32 characters, like a real key).
pub const DEMO_KEY: &str = "ZQ88PRJX5VWQHCWE4EE7SQ7HPNX00RAJ";

const DATE_FIELDS: &[&str] = &["date_add", "date_upd", "invoice_date", "delivery_date"];

/// Resources served, with their singular (element) name.
const RESOURCES: &[(&str, &str)] = &[
    ("orders", "order"),
    ("order_details", "order_detail"),
    ("order_histories", "order_history"),
    ("order_cart_rules", "order_cart_rule"),
    ("order_payments", "order_payment"),
    ("order_carriers", "order_carrier"),
    ("order_states", "order_state"),
    ("customers", "customer"),
    ("addresses", "address"),
    ("carriers", "carrier"),
    ("currencies", "currency"),
    ("countries", "country"),
    ("states", "state"),
    ("taxes", "tax"),
    ("products", "product"),
    ("stock_availables", "stock_available"),
    ("shops", "shop"),
    ("customer_threads", "customer_thread"),
    ("customer_messages", "customer_message"),
    ("attachments", "attachment"),
    ("categories", "category"),
    ("manufacturers", "manufacturer"),
    ("product_options", "product_option"),
    ("product_option_values", "product_option_value"),
    ("combinations", "combination"),
    ("groups", "group"),
    ("specific_prices", "specific_price"),
];

fn singular(resource: &str) -> Option<&'static str> {
    RESOURCES
        .iter()
        .find(|(r, _)| *r == resource)
        .map(|(_, s)| *s)
}

mod sim_catalog;

mod sim_combinations;

mod sim_customers;

mod sim_images;

mod sim_prices;

mod sim_validate;
pub use sim_images::SimImage;

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/// A customer to add with [`SimShop::add_customer`].
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    /// E-mail.
    pub email: String,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company (B2B).
    pub company: String,
    /// SIRET (B2B, France).
    pub siret: String,
    /// Guest checkout.
    pub is_guest: bool,
    /// Private note.
    pub note: String,
}

/// An address to add with [`SimShop::add_address`].
#[derive(Debug, Clone, Default)]
pub struct NewAddress {
    /// Owner.
    pub customer_id: u64,
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// Company.
    pub company: String,
    /// Intra-community VAT number.
    pub vat_number: String,
    /// First line.
    pub address1: String,
    /// Second line.
    pub address2: String,
    /// Postcode.
    pub postcode: String,
    /// City.
    pub city: String,
    /// ISO country code (`FR`, `BE`, `DE`, `IT`, `CH`, `US`).
    pub country_iso: String,
    /// State ISO code (`CA`, `NY` for the US).
    pub state_iso: String,
    /// Phone.
    pub phone: String,
}

/// An order line for [`NewOrder`].
#[derive(Debug, Clone, Default)]
pub struct NewLine {
    /// Product reference (need not exist in the catalog).
    pub reference: String,
    /// Product name.
    pub name: String,
    /// Quantity.
    pub quantity: i64,
    /// Unit price before reduction, tax excluded.
    pub price_tax_excl: Decimal,
    /// Tax id (1: 20 %, 2: 10 %, 3: 5.5 %, 4: 2.1 %); `None`: no tax (0 %).
    pub tax_id: Option<u64>,
    /// Line reduction, percent.
    pub reduction_percent: Decimal,
    /// Line reduction per unit, tax excluded.
    pub reduction_amount_tax_excl: Decimal,
}

impl NewLine {
    /// A line without reduction.
    pub fn new(
        reference: &str,
        name: &str,
        quantity: i64,
        price: Decimal,
        tax: Option<u64>,
    ) -> Self {
        NewLine {
            reference: reference.into(),
            name: name.into(),
            quantity,
            price_tax_excl: price,
            tax_id: tax,
            ..NewLine::default()
        }
    }
}

/// A cart rule for [`NewOrder`].
#[derive(Debug, Clone, Default)]
pub struct NewCartRule {
    /// Name.
    pub name: String,
    /// Amount, tax included.
    pub value: Decimal,
    /// Amount, tax excluded.
    pub value_tax_excl: Decimal,
}

/// Gift wrapping for [`NewOrder`].
#[derive(Debug, Clone, Default)]
pub struct NewGift {
    /// Wrapping price, tax excluded.
    pub wrapping_tax_excl: Decimal,
    /// Wrapping tax rate, percent.
    pub tax_rate: Decimal,
    /// Gift message.
    pub message: String,
}

/// An order to add with [`SimShop::add_order`]; totals are computed like PrestaShop does
/// (unit prices to 6 decimals, line and order totals to 2).
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Customer id.
    pub customer_id: u64,
    /// Invoice address id.
    pub invoice_address_id: u64,
    /// Delivery address id.
    pub delivery_address_id: u64,
    /// Shop id (multi-shop).
    pub shop_id: u64,
    /// Current state id.
    pub state_id: u64,
    /// Currency ISO code (`EUR`, `USD`).
    pub currency_iso: String,
    /// Carrier id (1 pick-up, 2 Colissimo, 3 Chronopost).
    pub carrier_id: u64,
    /// Shipping, tax excluded.
    pub shipping_tax_excl: Decimal,
    /// Shipping tax rate, percent.
    pub carrier_tax_rate: Decimal,
    /// Lines.
    pub lines: Vec<NewLine>,
    /// Cart rules.
    pub cart_rules: Vec<NewCartRule>,
    /// Gift wrapping.
    pub gift: Option<NewGift>,
    /// Payment module.
    pub module: String,
    /// Payment label.
    pub payment: String,
    /// Record a payment of the total (`order_payments`).
    pub paid: bool,
    /// Transaction id of the payment.
    pub transaction_id: String,
    /// Invoice number (invoice dated `date_add`), `None`: not invoiced.
    pub invoice_number: Option<u64>,
    /// Creation time (shop local time).
    pub date_add: NaiveDateTime,
    /// Private note.
    pub note: String,
}

impl NewOrder {
    /// A paid order in EUR, shop 1, state 2 (payment accepted), Colissimo 5 € + 20 %.
    pub fn new(customer_id: u64, address_id: u64, lines: Vec<NewLine>) -> Self {
        NewOrder {
            customer_id,
            invoice_address_id: address_id,
            delivery_address_id: address_id,
            shop_id: 1,
            state_id: 2,
            currency_iso: "EUR".into(),
            carrier_id: 2,
            shipping_tax_excl: Decimal::new(500, 2),
            carrier_tax_rate: Decimal::new(20, 0),
            lines,
            cart_rules: Vec::new(),
            gift: None,
            module: "ps_checkpayment".into(),
            payment: "Chèque".into(),
            paid: true,
            transaction_id: String::new(),
            invoice_number: None,
            date_add: base_date(),
            note: String::new(),
        }
    }
}

fn base_date() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 1, 6)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .unwrap_or_default()
}

fn ps_date(d: NaiveDateTime) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn d6(d: Decimal) -> String {
    format!("{:.6}", d.round_dp_with_strategy(6, HALF_UP))
}

fn lang(v: &str) -> Value {
    json!([{ "id": "1", "value": v }])
}

/// The simulated shop's data: every resource as PrestaShop's JSON objects.
#[derive(Debug, Clone)]
pub struct SimShop {
    res: BTreeMap<String, BTreeMap<u64, Obj>>,
}

impl Default for SimShop {
    fn default() -> Self {
        Self::new()
    }
}

fn obj(fields: Vec<(&str, Value)>) -> Obj {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

impl SimShop {
    /// A shop with reference data only: taxes (1: TVA FR 20 %, 2: 10 %, 3: 5.5 %, 4: 2.1 %),
    /// countries (PrestaShop ids: 1 DE, 3 BE, 8 FR, 10 IT, 19 CH, 21 US), states (CA, NY),
    /// currencies (1 EUR, 2 USD at 1.08), carriers (1 pick-up, 2 Colissimo, 3 Chronopost),
    /// the 12 standard order states and shops 1 and 2; no product.
    pub fn empty() -> Self {
        let mut shop = SimShop {
            res: BTreeMap::new(),
        };
        for r in RESOURCES {
            shop.res.insert(r.0.to_string(), BTreeMap::new());
        }
        sim_customers::seed_groups(&mut shop);
        for (id, rate, name) in [
            (1, "20.000", "TVA FR 20%"),
            (2, "10.000", "TVA FR 10%"),
            (3, "5.500", "TVA FR 5.5%"),
            (4, "2.100", "TVA FR 2.1%"),
        ] {
            shop.put(
                "taxes",
                id,
                obj(vec![
                    ("rate", s(rate)),
                    ("active", s("1")),
                    ("deleted", s("0")),
                    ("name", lang(name)),
                ]),
            );
        }
        for (id, iso, name) in [
            (1, "DE", "Allemagne"),
            (3, "BE", "Belgique"),
            (8, "FR", "France"),
            (10, "IT", "Italie"),
            (19, "CH", "Suisse"),
            (21, "US", "États-Unis"),
        ] {
            shop.put(
                "countries",
                id,
                obj(vec![
                    ("id_zone", s("1")),
                    ("iso_code", s(iso)),
                    ("contains_states", s(if iso == "US" { "1" } else { "0" })),
                    ("active", s("1")),
                    ("name", lang(name)),
                ]),
            );
        }
        for (id, iso, name) in [(5, "CA", "California"), (32, "NY", "New York")] {
            shop.put(
                "states",
                id,
                obj(vec![
                    ("id_zone", s("2")),
                    ("id_country", s("21")),
                    ("iso_code", s(iso)),
                    ("name", s(name)),
                    ("active", s("1")),
                ]),
            );
        }
        for (id, iso, rate, name) in [
            (1, "EUR", "1.000000", "Euro"),
            (2, "USD", "1.080000", "Dollar"),
        ] {
            shop.put(
                "currencies",
                id,
                obj(vec![
                    ("names", lang(name)),
                    ("name", s(name)),
                    ("iso_code", s(iso)),
                    ("conversion_rate", s(rate)),
                    ("deleted", s("0")),
                    ("active", s("1")),
                ]),
            );
        }
        for (id, name) in [
            (1, "Retrait en magasin"),
            (2, "Colissimo"),
            (3, "Chronopost"),
        ] {
            shop.put(
                "carriers",
                id,
                obj(vec![
                    ("deleted", s("0")),
                    ("name", s(name)),
                    ("active", s("1")),
                    ("delay", lang("48 h")),
                ]),
            );
        }
        for (id, name, paid) in [
            (1, "En attente du paiement par chèque", "0"),
            (2, "Paiement accepté", "1"),
            (3, "En cours de préparation", "1"),
            (4, "Expédié", "1"),
            (5, "Livré", "1"),
            (6, "Annulé", "0"),
            (7, "Remboursé", "1"),
            (8, "Erreur de paiement", "0"),
            (9, "En attente de réapprovisionnement (payé)", "1"),
            (10, "En attente de virement bancaire", "0"),
            (11, "Paiement à distance accepté", "1"),
            (12, "En attente de réapprovisionnement (non payé)", "0"),
        ] {
            // `delivery` as in install-dev/data/xml/order_state.xml@0e45caa5 (3, 4, 5).
            let delivery = if matches!(id, 3..=5) { "1" } else { "0" };
            shop.put(
                "order_states",
                id,
                obj(vec![
                    ("paid", s(paid)),
                    ("delivery", s(delivery)),
                    ("deleted", s("0")),
                    ("name", lang(name)),
                ]),
            );
        }
        for (id, name) in [(1, "Maison Lumière"), (2, "Maison Lumière Pro")] {
            shop.put(
                "shops",
                id,
                obj(vec![
                    ("id_shop_group", s("1")),
                    ("id_category", s("2")),
                    ("active", s("1")),
                    ("name", s(name)),
                ]),
            );
        }
        for (id, parent, name, root) in [(1, 0, "Racine", "1"), (2, 1, "Accueil", "0")] {
            shop.put(
                "categories",
                id,
                obj(vec![
                    ("id_parent", s(parent)),
                    ("active", s("1")),
                    ("is_root_category", s(root)),
                    ("name", lang(name)),
                    ("link_rewrite", lang(&name.to_lowercase())),
                ]),
            );
        }
        shop
    }

    /// [`SimShop::empty`] with the seed's demo catalogue as products.
    pub fn new() -> Self {
        let mut shop = SimShop::empty();
        for a in seed::demo_articles() {
            shop.add_product(
                &a.reference,
                &a.name,
                a.price_excl,
                tax_id(a.vat_rate),
                a.stock,
            );
        }
        shop
    }

    fn put(&mut self, resource: &str, id: u64, mut o: Obj) {
        o.insert("id".into(), json!(id));
        // `id` first, like PrestaShop.
        let mut out = Obj::new();
        out.insert("id".into(), json!(id));
        out.extend(o.into_iter().filter(|(k, _)| k != "id"));
        self.res.entry(resource.into()).or_default().insert(id, out);
    }

    fn insert(&mut self, resource: &str, o: Obj) -> u64 {
        let id = self
            .res
            .get(resource)
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        self.put(resource, id, o);
        id
    }

    /// One row.
    pub fn get(&self, resource: &str, id: u64) -> Option<&Obj> {
        self.res.get(resource).and_then(|m| m.get(&id))
    }

    /// One row, mutable (to break data in tests).
    pub fn get_mut(&mut self, resource: &str, id: u64) -> Option<&mut Obj> {
        self.res.get_mut(resource).and_then(|m| m.get_mut(&id))
    }

    /// All rows of a resource, by id.
    pub fn rows(&self, resource: &str) -> Vec<&Obj> {
        self.res
            .get(resource)
            .map(|m| m.values().collect())
            .unwrap_or_default()
    }

    /// Deletes a row (e.g. a customer deleted after the order).
    pub fn remove(&mut self, resource: &str, id: u64) -> Option<Obj> {
        self.res.get_mut(resource).and_then(|m| m.remove(&id))
    }

    fn id_by(&self, resource: &str, field: &str, value: &str) -> Option<u64> {
        self.res.get(resource).and_then(|m| {
            m.iter()
                .find(|(_, o)| text(o, field) == value)
                .map(|(id, _)| *id)
        })
    }

    fn tax_rate(&self, tax: Option<u64>) -> Decimal {
        tax.and_then(|t| self.get("taxes", t))
            .and_then(|t| text(t, "rate").parse().ok())
            .unwrap_or(Decimal::ZERO)
    }

    /// Adds an active category `name` under `parent` (as a merchant creates one in the
    /// back office); returns its id.
    pub fn add_category(&mut self, name: &str, parent: u64) -> u64 {
        let lang = |v: &str| json!([{"id": "1", "value": v}]);
        self.insert(
            "categories",
            obj(vec![
                ("id_parent", s(parent)),
                ("active", s("1")),
                ("is_root_category", s("0")),
                ("name", lang(name)),
                ("link_rewrite", lang(&name.to_lowercase())),
            ]),
        )
    }

    /// Adds a product (no combinations) and its `stock_availables` row; returns its id.
    pub fn add_product(
        &mut self,
        reference: &str,
        name: &str,
        price_tax_excl: Decimal,
        tax_id: Option<u64>,
        quantity: i64,
    ) -> u64 {
        let id = self.insert(
            "products",
            obj(vec![
                ("reference", s(reference)),
                ("price", s(d6(price_tax_excl))),
                ("id_tax_rules_group", s(tax_id.unwrap_or(0))),
                ("active", s("1")),
                ("type", s("simple")),
                ("name", lang(name)),
            ]),
        );
        self.insert(
            "stock_availables",
            obj(vec![
                ("id_product", s(id)),
                ("id_product_attribute", s("0")),
                ("id_shop", s("1")),
                ("id_shop_group", s("0")),
                ("quantity", s(quantity)),
                ("depends_on_stock", s("0")),
                ("out_of_stock", s("2")),
                ("location", s("")),
            ]),
        );
        id
    }

    /// Adds a customer; returns its id.
    pub fn add_customer(&mut self, c: &NewCustomer) -> u64 {
        self.insert(
            "customers",
            obj(vec![
                ("id_default_group", s(if c.is_guest { "2" } else { "3" })),
                ("id_lang", s("1")),
                ("lastname", s(&c.lastname)),
                ("firstname", s(&c.firstname)),
                ("email", s(&c.email)),
                ("note", s(&c.note)),
                ("is_guest", s(if c.is_guest { "1" } else { "0" })),
                ("company", s(&c.company)),
                ("siret", s(&c.siret)),
                ("ape", s("")),
                ("active", s("1")),
                ("deleted", s("0")),
                ("date_add", s(ps_date(base_date()))),
                ("date_upd", s(ps_date(base_date()))),
                ("associations", json!({"groups": [{"id": "3"}]})),
            ]),
        )
    }

    /// Adds an address; returns its id.
    pub fn add_address(&mut self, a: &NewAddress) -> u64 {
        let country = self
            .id_by("countries", "iso_code", &a.country_iso)
            .unwrap_or(8);
        let state = if a.state_iso.is_empty() {
            0
        } else {
            self.id_by("states", "iso_code", &a.state_iso).unwrap_or(0)
        };
        self.insert(
            "addresses",
            obj(vec![
                ("id_customer", s(a.customer_id)),
                ("id_manufacturer", s("0")),
                ("id_supplier", s("0")),
                ("id_warehouse", s("0")),
                ("id_country", s(country)),
                ("id_state", s(state)),
                ("alias", s("Mon adresse")),
                ("company", s(&a.company)),
                ("lastname", s(&a.lastname)),
                ("firstname", s(&a.firstname)),
                ("vat_number", s(&a.vat_number)),
                ("address1", s(&a.address1)),
                ("address2", s(&a.address2)),
                ("postcode", s(&a.postcode)),
                ("city", s(&a.city)),
                ("other", s("")),
                ("phone", s(&a.phone)),
                ("phone_mobile", s("")),
                ("dni", s("")),
                ("deleted", s("0")),
                ("date_add", s(ps_date(base_date()))),
                ("date_upd", s(ps_date(base_date()))),
            ]),
        )
    }

    /// Adds an order with its `order_details`, `order_cart_rules`, `order_carriers`,
    /// `order_payments` (when paid) and first `order_histories` rows; returns its id.
    pub fn add_order(&mut self, o: &NewOrder) -> u64 {
        let next = self
            .res
            .get("orders")
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let reference = order_reference(next);
        let hundred = Decimal::ONE_HUNDRED;
        let currency = self
            .id_by("currencies", "iso_code", &o.currency_iso)
            .unwrap_or(1);
        let conversion = self
            .get("currencies", currency)
            .map(|c| text(c, "conversion_rate"))
            .unwrap_or_else(|| "1.000000".into());
        let date = ps_date(o.date_add);

        let mut rows = Vec::new();
        let (mut products_excl, mut products_incl) = (Decimal::ZERO, Decimal::ZERO);
        for l in &o.lines {
            let rate = self.tax_rate(l.tax_id);
            let factor = (hundred + rate) / hundred;
            let after = ((l.price_tax_excl - l.reduction_amount_tax_excl)
                * (hundred - l.reduction_percent)
                / hundred)
                .round_dp_with_strategy(6, HALF_UP);
            let unit_incl = (after * factor).round_dp_with_strategy(6, HALF_UP);
            let q = Decimal::from(l.quantity);
            let total_excl = (after * q).round_dp_with_strategy(2, HALF_UP);
            let total_incl = (unit_incl * q).round_dp_with_strategy(2, HALF_UP);
            products_excl += total_excl;
            products_incl += total_incl;
            let product_id = self
                .id_by("products", "reference", &l.reference)
                .unwrap_or(0);
            rows.push((
                l, product_id, after, unit_incl, total_excl, total_incl, factor,
            ));
        }
        let ship_incl = (o.shipping_tax_excl * (hundred + o.carrier_tax_rate) / hundred)
            .round_dp_with_strategy(2, HALF_UP);
        let (wrap_excl, wrap_incl) = o
            .gift
            .as_ref()
            .map(|g| {
                (
                    g.wrapping_tax_excl,
                    (g.wrapping_tax_excl * (hundred + g.tax_rate) / hundred)
                        .round_dp_with_strategy(2, HALF_UP),
                )
            })
            .unwrap_or_default();
        let disc_incl: Decimal = o.cart_rules.iter().map(|r| r.value).sum();
        let disc_excl: Decimal = o.cart_rules.iter().map(|r| r.value_tax_excl).sum();
        let paid_excl = products_excl + o.shipping_tax_excl + wrap_excl - disc_excl;
        let paid_incl = products_incl + ship_incl + wrap_incl - disc_incl;

        let mut order_rows = Vec::new();
        let mut detail_ids = Vec::new();
        for (l, product_id, after, unit_incl, total_excl, total_incl, factor) in rows {
            let detail = obj(vec![
                ("id_order", s(next)),
                ("product_id", s(product_id)),
                ("product_attribute_id", s("0")),
                ("product_quantity_reinjected", s("0")),
                ("group_reduction", s("0.00")),
                ("discount_quantity_applied", s("0")),
                ("download_hash", s("")),
                ("download_deadline", s("0000-00-00 00:00:00")),
                ("id_order_invoice", s("0")),
                ("id_warehouse", s("0")),
                ("id_shop", s(o.shop_id)),
                ("id_customization", s("0")),
                ("product_name", s(&l.name)),
                ("product_quantity", s(l.quantity)),
                ("product_quantity_in_stock", s(l.quantity)),
                ("product_quantity_return", s("0")),
                ("product_quantity_refunded", s("0")),
                ("product_price", s(d6(l.price_tax_excl))),
                (
                    "reduction_percent",
                    s(format!("{:.2}", l.reduction_percent)),
                ),
                (
                    "reduction_amount",
                    s(d6(l.reduction_amount_tax_excl * factor)),
                ),
                (
                    "reduction_amount_tax_incl",
                    s(d6(l.reduction_amount_tax_excl * factor)),
                ),
                (
                    "reduction_amount_tax_excl",
                    s(d6(l.reduction_amount_tax_excl)),
                ),
                ("product_quantity_discount", s("0.000000")),
                ("product_ean13", s("")),
                ("product_isbn", s("")),
                ("product_upc", s("")),
                ("product_mpn", s("")),
                ("product_reference", s(&l.reference)),
                ("product_supplier_reference", s("")),
                ("product_weight", s("1.000000")),
                ("tax_computation_method", s("0")),
                ("id_tax_rules_group", s(l.tax_id.unwrap_or(0))),
                ("ecotax", s("0.000000")),
                ("ecotax_tax_rate", s("0.000")),
                ("unit_price_tax_incl", s(d6(unit_incl))),
                ("unit_price_tax_excl", s(d6(after))),
                ("total_price_tax_incl", s(d6(total_incl))),
                ("total_price_tax_excl", s(d6(total_excl))),
                ("total_shipping_price_tax_excl", s("0.000000")),
                ("total_shipping_price_tax_incl", s("0.000000")),
                ("purchase_supplier_price", s("0.000000")),
                ("original_product_price", s(d6(l.price_tax_excl))),
                ("original_wholesale_price", s("0.000000")),
                (
                    "associations",
                    json!({"taxes": l.tax_id.map(|t| vec![json!({"id": t.to_string()})]).unwrap_or_default()}),
                ),
            ]);
            let did = self.insert("order_details", detail);
            detail_ids.push(did);
            order_rows.push(json!({
                "id": did.to_string(),
                "product_id": product_id.to_string(),
                "product_attribute_id": "0",
                "product_quantity": l.quantity.to_string(),
                "product_name": l.name,
                "product_reference": l.reference,
                "product_ean13": "",
                "product_isbn": "",
                "product_upc": "",
                "product_price": d6(l.price_tax_excl),
                "id_customization": "0",
                "unit_price_tax_incl": d6(unit_incl),
                "unit_price_tax_excl": d6(after),
            }));
        }
        let (invoice_number, invoice_date) = match o.invoice_number {
            Some(n) => (n.to_string(), date.clone()),
            None => ("0".to_string(), "0000-00-00 00:00:00".to_string()),
        };
        let gift = o.gift.as_ref();
        let order = obj(vec![
            ("id_address_delivery", s(o.delivery_address_id)),
            ("id_address_invoice", s(o.invoice_address_id)),
            ("id_cart", s(next + 100)),
            ("id_currency", s(currency)),
            ("id_lang", s("1")),
            ("id_customer", s(o.customer_id)),
            ("id_carrier", s(o.carrier_id)),
            ("current_state", s(o.state_id)),
            ("module", s(&o.module)),
            ("invoice_number", s(invoice_number)),
            ("invoice_date", s(invoice_date)),
            ("delivery_number", s("0")),
            ("delivery_date", s("0000-00-00 00:00:00")),
            ("valid", s(if o.paid { "1" } else { "0" })),
            ("date_add", s(&date)),
            ("date_upd", s(&date)),
            ("shipping_number", s("")),
            ("note", s(&o.note)),
            ("id_shop_group", s("1")),
            ("id_shop", s(o.shop_id)),
            ("secure_key", s(format!("{:032x}", next * 7_919))),
            ("payment", s(&o.payment)),
            ("recyclable", s("0")),
            ("gift", s(if gift.is_some() { "1" } else { "0" })),
            (
                "gift_message",
                s(gift.map(|g| g.message.as_str()).unwrap_or("")),
            ),
            ("mobile_theme", s("0")),
            ("total_discounts", s(d6(disc_incl))),
            ("total_discounts_tax_incl", s(d6(disc_incl))),
            ("total_discounts_tax_excl", s(d6(disc_excl))),
            ("total_paid", s(d6(paid_incl))),
            ("total_paid_tax_incl", s(d6(paid_incl))),
            ("total_paid_tax_excl", s(d6(paid_excl))),
            (
                "total_paid_real",
                s(d6(if o.paid { paid_incl } else { Decimal::ZERO })),
            ),
            ("total_products", s(d6(products_excl))),
            ("total_products_wt", s(d6(products_incl))),
            ("total_shipping", s(d6(ship_incl))),
            ("total_shipping_tax_incl", s(d6(ship_incl))),
            ("total_shipping_tax_excl", s(d6(o.shipping_tax_excl))),
            ("carrier_tax_rate", s(format!("{:.3}", o.carrier_tax_rate))),
            ("total_wrapping", s(d6(wrap_incl))),
            ("total_wrapping_tax_incl", s(d6(wrap_incl))),
            ("total_wrapping_tax_excl", s(d6(wrap_excl))),
            ("round_mode", s("2")),
            ("round_type", s("2")),
            ("conversion_rate", s(&conversion)),
            ("reference", s(&reference)),
            ("associations", json!({ "order_rows": order_rows })),
        ]);
        self.put("orders", next, order);
        for r in &o.cart_rules {
            self.insert(
                "order_cart_rules",
                obj(vec![
                    ("id_order", s(next)),
                    ("id_cart_rule", s(next)),
                    ("id_order_invoice", s("0")),
                    ("name", s(&r.name)),
                    ("value", s(d6(r.value))),
                    ("value_tax_excl", s(d6(r.value_tax_excl))),
                    ("free_shipping", s("0")),
                    ("deleted", s("0")),
                ]),
            );
        }
        self.insert(
            "order_carriers",
            obj(vec![
                ("id_order", s(next)),
                ("id_carrier", s(o.carrier_id)),
                ("id_order_invoice", s("0")),
                ("weight", s("1.000000")),
                ("shipping_cost_tax_excl", s(d6(o.shipping_tax_excl))),
                ("shipping_cost_tax_incl", s(d6(ship_incl))),
                ("tracking_number", s("")),
                ("date_add", s(&date)),
            ]),
        );
        if o.paid {
            self.insert(
                "order_payments",
                obj(vec![
                    ("order_reference", s(&reference)),
                    ("id_currency", s(currency)),
                    ("amount", s(d6(paid_incl))),
                    ("payment_method", s(&o.payment)),
                    ("conversion_rate", s(&conversion)),
                    ("transaction_id", s(&o.transaction_id)),
                    ("card_number", s("")),
                    ("card_brand", s("")),
                    ("card_expiration", s("")),
                    ("card_holder", s("")),
                    ("date_add", s(&date)),
                ]),
            );
        }
        self.insert(
            "order_histories",
            obj(vec![
                ("id_employee", s("0")),
                ("id_order_state", s(o.state_id)),
                ("id_order", s(next)),
                ("date_add", s(&date)),
            ]),
        );
        next
    }

    /// A shop with `n` realistic orders: private customers, guests, companies with SIRET
    /// and VAT numbers, Belgian and US customers (USD, a state, no VAT), multi-VAT carts
    /// (20 % / 5.5 % / 0 %), line reductions, cart rules, gift wrap, shops 1 and 2, a few
    /// references unknown to the catalog (and to the ERP), states 1–6. Deterministic.
    pub fn seed_demo(n: usize) -> Self {
        SimShop::from_seed(&Seed::demo(n)).0
    }

    /// The shop of a neutral [`Seed`], rendered the PrestaShop way: its articles as products
    /// (VAT rates as tax ids 1–4), one customer and one address per seed customer (a guest
    /// is an `is_guest` account, a company's SIRET on the customer and VAT number on the
    /// address), and the orders (statuses as the standard order states, the carrier as pick-up
    /// 1 / Colissimo 2 / Chronopost 3, payments as their modules, vouchers as cart rules).
    /// Returns it with the ids of the orders broken on purpose and how.
    pub fn from_seed(seed: &Seed) -> (Self, Vec<(u64, Option<SeedBreakage>)>) {
        let mut shop = SimShop::empty();
        for a in &seed.articles {
            shop.add_product(
                &a.reference,
                &a.name,
                a.price_excl,
                tax_id(a.vat_rate),
                a.stock,
            );
        }
        let people: Vec<(u64, u64)> = seed
            .customers
            .iter()
            .map(|c| {
                let cid = shop.add_customer(&NewCustomer {
                    email: c.email.clone(),
                    firstname: c.firstname.clone(),
                    lastname: c.lastname.clone(),
                    company: c.company.clone(),
                    siret: c.siret.clone(),
                    is_guest: c.guest,
                    note: String::new(),
                });
                let aid = shop.add_address(&NewAddress {
                    customer_id: cid,
                    firstname: c.firstname.clone(),
                    lastname: c.lastname.clone(),
                    company: c.company.clone(),
                    vat_number: c.vat_number.clone(),
                    address1: c.street.clone(),
                    postcode: c.postcode.clone(),
                    city: c.city.clone(),
                    country_iso: c.country.clone(),
                    state_iso: c.region.clone(),
                    phone: c.phone.clone(),
                    ..NewAddress::default()
                });
                (cid, aid)
            })
            .collect();
        let mut broken = Vec::new();
        for o in &seed.orders {
            let Some(&(cid, aid)) = people.get(o.customer) else {
                continue;
            };
            let lines = o
                .lines
                .iter()
                .map(|l| {
                    let mut nl = NewLine::new(
                        &l.reference,
                        &l.name,
                        l.quantity,
                        l.unit_price_excl,
                        tax_id(l.vat_rate),
                    );
                    nl.reduction_percent = l.discount_percent;
                    nl
                })
                .collect();
            let mut n = NewOrder::new(cid, aid, lines);
            n.shop_id = u64::from(o.store);
            n.state_id = state_id(o.status);
            n.date_add = o.created;
            n.currency_iso = o.currency.clone();
            n.carrier_id = match o.carrier {
                SeedCarrier::Pickup => 1,
                SeedCarrier::Standard => 2,
                SeedCarrier::International => 3,
            };
            n.shipping_tax_excl = o.shipping_excl;
            n.carrier_tax_rate = o.shipping_vat_rate;
            n.module = match o.payment {
                SeedPaymentMethod::Check => "ps_checkpayment",
                SeedPaymentMethod::Transfer => "ps_wirepayment",
                SeedPaymentMethod::Paypal => "paypal",
                SeedPaymentMethod::Card => "stripe_official",
            }
            .into();
            n.payment = o.payment.label().into();
            n.transaction_id = o.transaction.clone();
            n.paid = o.paid;
            n.invoice_number = o.invoice_number;
            n.cart_rules = o
                .discounts
                .iter()
                .map(|d| NewCartRule {
                    name: d.name.clone(),
                    value: d.amount_incl,
                    value_tax_excl: d.amount_excl,
                })
                .collect();
            n.gift = o.gift.as_ref().map(|g| NewGift {
                wrapping_tax_excl: g.amount_excl,
                tax_rate: g.vat_rate,
                message: g.message.clone(),
            });
            n.note = o.note.clone();
            let id = shop.add_order(&n);
            if o.broken.is_some() || o.lines.iter().any(|l| l.quantity < 0) {
                broken.push((id, o.broken));
            }
        }
        (shop, broken)
    }
}

/// The simulated shop's tax id of a VAT rate (1: 20 %, 2: 10 %, 3: 5.5 %, 4: 2.1 %; none
/// for no VAT or a rate it has no tax for).
fn tax_id(rate: Option<Decimal>) -> Option<u64> {
    let r = rate?.normalize().to_string();
    match r.as_str() {
        "20" => Some(1),
        "10" => Some(2),
        "5.5" => Some(3),
        "2.1" => Some(4),
        _ => None,
    }
}

/// The standard order state of a neutral status.
fn state_id(status: SeedStatus) -> u64 {
    match status {
        SeedStatus::AwaitingCheck => 1,
        SeedStatus::PaymentAccepted => 2,
        SeedStatus::Processing => 3,
        SeedStatus::Shipped => 4,
        SeedStatus::Delivered => 5,
        SeedStatus::Cancelled => 6,
        SeedStatus::AwaitingTransfer => 10,
    }
}

/// A 9-letter reference like PrestaShop's (`XKBKNABJK`), deterministic.
fn order_reference(id: u64) -> String {
    let mut x = id.wrapping_mul(2_654_435_761).wrapping_add(97);
    (0..9)
        .map(|_| {
            let c = (b'A' + (x % 26) as u8) as char;
            x = x / 26 + id * 31;
            c
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 503 Service Unavailable.
    ServerError,
    /// 429 with this Retry-After (seconds).
    RateLimited(u64),
    /// Answer normally after this delay (longer than the client timeout: a timeout).
    Delay(Duration),
}

/// Random faults, reproducible with the seed.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Share of calls answered 503 (0.0–1.0).
    pub server_error_share: f64,
    /// Share of calls answered 429.
    pub rate_limit_share: f64,
    /// Retry-After of those 429, seconds.
    pub retry_after_secs: u64,
    /// Share of calls delayed.
    pub delay_share: f64,
    /// The delay.
    pub delay: Duration,
    /// Random seed.
    pub seed: u64,
}

/// How one order is broken in the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// The order's JSON is cut (the whole list answer no longer parses).
    BrokenJson,
    /// Its `payment` label is Latin-1 (`Ch\xE8que`), not UTF-8.
    InvalidUtf8,
    /// Its `gift_message` is 5 MB long (set in the data at once).
    HugeField,
    /// Its `order_details` rows are not served.
    MissingDetails,
}

struct SimState {
    shop: SimShop,
    key: String,
    faults: FaultConfig,
    queued: VecDeque<Fault>,
    rng: StdRng,
    calls: BTreeMap<String, u32>,
    corrupt: HashMap<u64, Corruption>,
    emails: Vec<(u64, String)>,
    /// Bytes of the files uploaded through `attachments/file`, by attachment id.
    files: HashMap<u64, Vec<u8>>,
    /// Product images (`images/products/…`).
    images: sim_images::Images,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running PrestaShop simulator.
pub struct PrestaShopSim {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for PrestaShopSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PrestaShopSim {
    /// Serves `shop` on 127.0.0.1 (any free port), accepting webservice key `key`.
    pub async fn start(shop: SimShop, key: &str) -> std::io::Result<PrestaShopSim> {
        Self::start_at(shop, key, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// [`PrestaShopSim::start`] on `addr` (`passerelle sim --listen`).
    pub async fn start_at(
        shop: SimShop,
        key: &str,
        addr: SocketAddr,
    ) -> std::io::Result<PrestaShopSim> {
        let state = Arc::new(Mutex::new(SimState {
            shop,
            key: key.to_string(),
            faults: FaultConfig::default(),
            queued: VecDeque::new(),
            rng: StdRng::seed_from_u64(0),
            calls: BTreeMap::new(),
            corrupt: HashMap::new(),
            emails: Vec::new(),
            files: HashMap::new(),
            images: sim_images::Images::default(),
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(PrestaShopSim { addr, state, task })
    }

    /// [`SimShop::seed_demo`] with `n` orders, key [`DEMO_KEY`].
    pub async fn start_demo(n: usize) -> std::io::Result<PrestaShopSim> {
        Self::start(SimShop::seed_demo(n), DEMO_KEY).await
    }

    /// The shop URL (`http://127.0.0.1:PORT`, no trailing slash; the API is under `/api/`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The accepted key.
    pub fn key(&self) -> String {
        lock(&self.state).key.clone()
    }

    /// Reads or changes the data.
    pub fn with_shop<R>(&self, f: impl FnOnce(&mut SimShop) -> R) -> R {
        f(&mut lock(&self.state).shop)
    }

    /// One row, as served.
    pub fn row(&self, resource: &str, id: u64) -> Option<Obj> {
        lock(&self.state).shop.get(resource, id).cloned()
    }

    /// The order's current state id.
    pub fn order_state(&self, order_id: u64) -> Option<String> {
        self.row("orders", order_id)
            .map(|o| text(&o, "current_state"))
    }

    /// The order's state history (state ids, oldest first).
    pub fn order_history(&self, order_id: u64) -> Vec<String> {
        let g = lock(&self.state);
        g.shop
            .rows("order_histories")
            .into_iter()
            .filter(|h| text(h, "id_order") == order_id.to_string())
            .map(|h| text(h, "id_order_state"))
            .collect()
    }

    /// The order's private note.
    pub fn order_note(&self, order_id: u64) -> Option<String> {
        self.row("orders", order_id).map(|o| text(&o, "note"))
    }

    /// The customer's private note.
    pub fn customer_note(&self, customer_id: u64) -> Option<String> {
        self.row("customers", customer_id).map(|o| text(&o, "note"))
    }

    /// Stock of the product with this reference (no combination).
    pub fn stock(&self, reference: &str) -> Option<i64> {
        let g = lock(&self.state);
        let pid = g.shop.id_by("products", "reference", reference)?;
        g.shop
            .rows("stock_availables")
            .into_iter()
            .find(|s| {
                text(s, "id_product") == pid.to_string() && text(s, "id_product_attribute") == "0"
            })
            .and_then(|s| text(s, "quantity").parse().ok())
    }

    /// The tracking number of the order's carrier row.
    pub fn order_tracking(&self, order_id: u64) -> Option<String> {
        let g = lock(&self.state);
        g.shop
            .rows("order_carriers")
            .into_iter()
            .find(|c| text(c, "id_order") == order_id.to_string())
            .map(|c| text(c, "tracking_number"))
    }

    /// The PDFs attached to the order: (file name, bytes), through the order's customer
    /// messages that link an attachment.
    pub fn order_attachments(&self, order_id: u64) -> Vec<(String, Vec<u8>)> {
        let g = lock(&self.state);
        let threads: Vec<String> = g
            .shop
            .rows("customer_threads")
            .into_iter()
            .filter(|t| text(t, "id_order") == order_id.to_string())
            .map(|t| text(t, "id"))
            .collect();
        let mut out = Vec::new();
        for m in g.shop.rows("customer_messages") {
            if !threads.contains(&text(m, "id_customer_thread")) {
                continue;
            }
            let msg = text(m, "message");
            let Some(id) = msg
                .split("id_attachment=")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse::<u64>().ok())
            else {
                continue;
            };
            if let (Some(a), Some(bytes)) = (g.shop.get("attachments", id), g.files.get(&id)) {
                out.push((text(a, "file_name"), bytes.clone()));
            }
        }
        out
    }

    /// `(order id, state id)` of every state change asked with `sendemail=1`.
    pub fn emails_sent(&self) -> Vec<(u64, String)> {
        lock(&self.state).emails.clone()
    }

    /// Calls received for `"METHOD resource"` (e.g. `"GET orders"`, `"GET orders/:id"`,
    /// `"POST order_histories"`), faulted ones included.
    pub fn calls(&self, key: &str) -> u32 {
        lock(&self.state).calls.get(key).copied().unwrap_or(0)
    }

    /// All counters.
    pub fn call_counts(&self) -> BTreeMap<String, u32> {
        lock(&self.state).calls.clone()
    }

    /// Total calls received.
    pub fn calls_total(&self) -> u32 {
        lock(&self.state).calls.values().sum()
    }

    /// Resets the counters.
    pub fn reset_calls(&self) {
        lock(&self.state).calls.clear();
    }

    /// Random faults from now on (reseeded).
    pub fn set_faults(&self, faults: FaultConfig) {
        let mut g = lock(&self.state);
        g.rng = StdRng::seed_from_u64(faults.seed);
        g.faults = faults;
    }

    /// Faults for the next calls, in order (before any random one).
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state).queued.extend(faults);
    }

    /// Breaks one order in the answers.
    pub fn corrupt_order(&self, order_id: u64, how: Corruption) {
        let mut g = lock(&self.state);
        if how == Corruption::HugeField {
            if let Some(o) = g.shop.get_mut("orders", order_id) {
                o.insert("gift_message".into(), s("x".repeat(5 * 1024 * 1024)));
            }
        }
        g.corrupt.insert(order_id, how);
    }
}

struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

fn api_err(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

fn error_response(e: ApiError, as_json: bool) -> Response {
    let mut resp = if as_json {
        (
            e.status,
            [("content-type", "application/json")],
            json!({"errors": [{"code": e.code, "message": e.message}]}).to_string(),
        )
            .into_response()
    } else {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n<errors>\n<error>\n<code><![CDATA[{}]]></code>\n<message><![CDATA[{}]]></message>\n</error>\n</errors>\n</prestashop>\n",
            e.code, e.message
        );
        (e.status, [("content-type", "text/xml;charset=utf-8")], body).into_response()
    };
    if e.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static(
                "Basic realm=\"Welcome to PrestaShop Webservice, please enter the authentication key as the login. No password required.\"",
            ),
        );
    }
    resp
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let as_json = param("output_format")
        .or_else(|| param("io_format"))
        .or_else(|| {
            headers
                .get("output-format")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let Some(rest) = uri.path().strip_prefix("/api") else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let resource = segs.first().copied().unwrap_or("").to_string();
    let id = segs.get(1).map(|s| s.to_string());
    let key = format!(
        "{method} {resource}{}",
        if id.is_some() { "/:id" } else { "" }
    );

    // Count, then maybe fault (a proxy's 503 or a WAF's 429 comes before PHP).
    let fault = {
        let mut g = lock(&state);
        *g.calls.entry(key).or_insert(0) += 1;
        match g.queued.pop_front() {
            Some(f) => Some(f),
            None => {
                let f = g.faults.clone();
                let r: f64 = if f.server_error_share + f.rate_limit_share > 0.0 {
                    g.rng.random()
                } else {
                    1.0
                };
                if r < f.server_error_share {
                    Some(Fault::ServerError)
                } else if r < f.server_error_share + f.rate_limit_share {
                    Some(Fault::RateLimited(f.retry_after_secs))
                } else if f.delay_share > 0.0 && g.rng.random::<f64>() < f.delay_share {
                    Some(Fault::Delay(f.delay))
                } else {
                    None
                }
            }
        }
    };
    match fault {
        Some(Fault::ServerError) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "<html><body>503 Service Unavailable</body></html>",
            )
                .into_response()
        }
        Some(Fault::RateLimited(secs)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "Too Many Requests",
            )
                .into_response()
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }

    let mut g = lock(&state);
    if let Err(e) = check_auth(&g.key, &headers, param("ws_key")) {
        return error_response(e, as_json);
    }
    if resource == "images" {
        return sim_images::handle(&mut g, &method, &segs, &headers, &body);
    }
    if resource == "attachments" && id.as_deref() == Some("file") && method == Method::POST {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        return match upload_attachment(&mut g, &ct, &body) {
            Ok(b) => (StatusCode::OK, [("content-type", "application/json")], b).into_response(),
            Err(e) => error_response(e, as_json),
        };
    }
    let result = match (&method, id) {
        (&Method::GET, _) if resource.is_empty() => Ok((
            StatusCode::OK,
            json!({"api": RESOURCES.iter().map(|r| r.0).collect::<Vec<_>>()})
                .to_string()
                .into_bytes(),
        )),
        (m, id) if sim_combinations::handles(m, &resource) => {
            sim_combinations::write(&mut g.shop, m, &resource, id.as_deref(), &body)
        }
        (m, id) if sim_prices::handles(m, &resource, id.is_some()) => {
            sim_prices::write(&mut g.shop, m, id.as_deref(), &body)
        }
        (m, id) if sim_catalog::handles(m, &resource, id.is_some()) => {
            sim_catalog::write(&mut g.shop, m, &resource, id.as_deref(), &body)
        }
        (m, id) if sim_customers::handles(m, &resource, id.is_some()) => {
            sim_customers::write(&mut g.shop, m, &resource, id.as_deref(), &body)
        }
        (&Method::GET, None) => list(&g, &resource, &params)
            .map(|rows| (StatusCode::OK, render_list(&g, &resource, &rows, as_json))),
        (&Method::GET, Some(id)) => {
            single(&g, &resource, &id, as_json).map(|b| (StatusCode::OK, b))
        }
        (&Method::POST, None) => {
            let sendemail = param("sendemail").is_some_and(|v| v == "1");
            create(&mut g, &resource, &body, sendemail)
        }
        (m, Some(id)) if m == Method::PUT && resource == "attachments" => {
            sim_images::put_attachment(&mut g, &id, &body)
        }
        (m, Some(id)) if m == Method::PUT || m == Method::PATCH => {
            let sendemail = param("sendemail").is_some_and(|v| v == "1");
            let r = update(&mut g, &resource, &id, &body, sendemail);
            if let (Ok(_), "stock_availables", Ok(n)) = (&r, resource.as_str(), id.parse()) {
                sim_combinations::sync_product_quantity(&mut g.shop, n);
            }
            r
        }
        _ => Err(api_err(
            StatusCode::METHOD_NOT_ALLOWED,
            100,
            format!("Method {method} is not valid for resource {resource}"),
        )),
    };
    match result {
        Ok((status, bytes)) => {
            let ct = if as_json {
                "application/json"
            } else {
                "text/xml;charset=utf-8"
            };
            (status, [("content-type", ct)], bytes).into_response()
        }
        Err(e) => error_response(e, as_json),
    }
}

fn check_auth(key: &str, headers: &HeaderMap, ws_key: Option<String>) -> Result<(), ApiError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .map(|u| u.split(':').next().unwrap_or("").to_string())
        .or(ws_key)
        .unwrap_or_default();
    if given.is_empty() {
        Err(api_err(
            StatusCode::UNAUTHORIZED,
            17,
            "Authentication key is empty",
        ))
    } else if given != key {
        Err(api_err(
            StatusCode::UNAUTHORIZED,
            18,
            "Invalid authentication key",
        ))
    } else {
        Ok(())
    }
}

fn known(resource: &str) -> Result<&'static str, ApiError> {
    singular(resource).ok_or_else(|| {
        api_err(
            StatusCode::BAD_REQUEST,
            22,
            format!("Resource of type \"{resource}\" does not exists. Did you mean: \"orders\"?"),
        )
    })
}

fn is_date_field(f: &str) -> bool {
    DATE_FIELDS.contains(&f)
}

fn list(g: &SimState, resource: &str, params: &[(String, String)]) -> Result<Vec<Obj>, ApiError> {
    known(resource)?;
    let dates = params.iter().any(|(k, v)| k == "date" && v == "1");
    let first = g.shop.res.get(resource).and_then(|m| m.values().next());
    // `filter[id]=[…]` on exact ids is a primary-key look-up in PrestaShop's SQL: served
    // from the map here too, so per-order reads (`field_of`) stay O(1) in a large shop.
    let by_id = params
        .iter()
        .find(|(k, _)| k == "filter[id]")
        .and_then(|(_, v)| Matcher::new(v).ids);
    let mut rows: Vec<&Obj> = match &by_id {
        Some(ids) => {
            let mut v: Vec<u64> = ids.iter().copied().collect();
            v.sort_unstable();
            v.iter()
                .filter_map(|id| g.shop.get(resource, *id))
                .collect()
        }
        None => g.shop.rows(resource),
    };
    for (k, v) in params {
        let Some(field) = k.strip_prefix("filter[").and_then(|f| f.strip_suffix(']')) else {
            continue;
        };
        if is_date_field(field) && !dates {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                33,
                format!(
                    "The field \"{field}\" is a date: add the parameter date=1 to filter on it"
                ),
            ));
        }
        if field != "id" && first.is_some_and(|r| !r.contains_key(field)) {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                32,
                format!("Unable to filter by this field \"{field}\""),
            ));
        }
        let m = Matcher::new(v);
        rows.retain(|r| match r.get(field) {
            // Borrowed: filtering a large table allocates nothing per row.
            Some(Value::String(s)) => m.matches(s),
            _ => m.matches(&text(r, field)),
        });
    }
    if resource == "order_details" {
        rows.retain(|r| {
            let oid: u64 = text(r, "id_order").parse().unwrap_or(0);
            g.corrupt.get(&oid) != Some(&Corruption::MissingDetails)
        });
    }
    if let Some((_, sort)) = params.iter().find(|(k, _)| k == "sort") {
        let inner = sort.trim_start_matches('[').trim_end_matches(']');
        let (field, dir) = inner.rsplit_once('_').unwrap_or((inner, "ASC"));
        if is_date_field(field) && !dates {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                33,
                format!("The field \"{field}\" is a date: add the parameter date=1 to sort on it"),
            ));
        }
        rows.sort_by(|a, b| cmp_values(&text(a, field), &text(b, field)));
        if dir.eq_ignore_ascii_case("DESC") {
            rows.reverse();
        }
    }
    if let Some((_, limit)) = params.iter().find(|(k, _)| k == "limit") {
        let (off, n) = match limit.split_once(',') {
            Some((o, n)) => (o.trim().parse().unwrap_or(0), n.trim().parse().unwrap_or(0)),
            None => (0usize, limit.trim().parse().unwrap_or(0usize)),
        };
        rows = rows.into_iter().skip(off).take(n).collect();
    }
    let display = params
        .iter()
        .find(|(k, _)| k == "display")
        .map(|(_, v)| v.as_str());
    Ok(rows
        .into_iter()
        .map(|r| match display {
            Some("full") => r.clone(),
            Some(list) => {
                let fields: Vec<&str> = list
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(str::trim)
                    .collect();
                r.iter()
                    .filter(|(k, _)| fields.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
            None => r
                .iter()
                .filter(|(k, _)| *k == "id")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect())
}

fn cmp_values(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn eq_value(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// A filter prepared once per request: an OR-list of plain ids (`[1|2|…|250]`, what the
/// client sends for a page's related rows) becomes a hash set, so a page costs one lookup
/// per row instead of one comparison per id; anything else goes through [`matches`].
struct Matcher<'a> {
    filter: &'a str,
    ids: Option<std::collections::HashSet<u64>>,
    /// `[A|B|C]` of non-numeric values (product references), lower-cased: compared
    /// case-insensitively like `eq_value`, one hash lookup per row.
    words: Option<std::collections::HashSet<String>>,
}

impl<'a> Matcher<'a> {
    fn new(filter: &'a str) -> Self {
        let ids = filter
            .trim()
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .filter(|inner| !inner.contains(','))
            .and_then(|inner| {
                inner
                    .split('|')
                    .map(|x| {
                        let x = x.trim();
                        // Only canonical ids: "007" or "1.0" keep the general comparison.
                        (!x.starts_with('0') || x == "0")
                            .then(|| x.parse::<u64>().ok())
                            .flatten()
                    })
                    .collect::<Option<std::collections::HashSet<u64>>>()
            });
        let words = match ids {
            Some(_) => None,
            None => filter
                .trim()
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .filter(|inner| !inner.contains(','))
                .and_then(|inner| {
                    inner
                        .split('|')
                        .map(|x| {
                            let x = x.trim();
                            x.parse::<f64>().is_err().then(|| x.to_lowercase())
                        })
                        .collect::<Option<std::collections::HashSet<String>>>()
                }),
        };
        Matcher { filter, ids, words }
    }

    fn matches(&self, value: &str) -> bool {
        if let Some(w) = &self.words {
            if value.parse::<f64>().is_err() {
                return w.contains(&value.to_lowercase());
            }
        }
        match (&self.ids, value.parse::<u64>()) {
            (Some(ids), Ok(v)) if !value.starts_with('0') || value == "0" => ids.contains(&v),
            _ => matches(value, self.filter),
        }
    }
}

/// PrestaShop filter syntax on one value.
fn matches(value: &str, filter: &str) -> bool {
    let f = filter.trim();
    let bracket = |x: &str| {
        x.strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .map(str::to_string)
    };
    if let Some(inner) = f.strip_prefix('>').and_then(bracket) {
        return cmp_values(value, &inner).is_gt();
    }
    if let Some(inner) = f.strip_prefix('<').and_then(bracket) {
        return cmp_values(value, &inner).is_lt();
    }
    if let Some(inner) = f.strip_prefix('!').and_then(bracket) {
        return !inner.split('|').any(|x| eq_value(value, x));
    }
    // `%[x]%` contains, `[x]%` begins, `%[x]` ends (not case sensitive; cheat sheet,
    // https://devdocs.prestashop-project.org/8/webservice/cheat-sheet).
    let (v, low) = (value.to_lowercase(), f.to_lowercase());
    if let Some(inner) = low.strip_prefix('%').and_then(|x| x.strip_suffix('%')) {
        if let Some(x) = bracket(inner) {
            return v.contains(&x);
        }
    }
    if let Some(x) = low.strip_suffix('%').and_then(bracket) {
        return v.starts_with(&x);
    }
    if let Some(x) = low.strip_prefix('%').and_then(bracket) {
        return v.ends_with(&x);
    }
    match bracket(f) {
        Some(inner) if inner.contains('|') => inner.split('|').any(|x| eq_value(value, x)),
        Some(inner) => match inner.split_once(',') {
            Some((a, b)) => cmp_values(value, a).is_ge() && cmp_values(value, b).is_le(),
            None => eq_value(value, &inner),
        },
        None => eq_value(value, f),
    }
}

/// Serialises one row, applying its order's corruption.
fn render_row(g: &SimState, resource: &str, row: &Obj) -> Vec<u8> {
    let bytes = serde_json::to_vec(row).unwrap_or_default();
    if resource != "orders" || row.len() <= 1 {
        return bytes;
    }
    let id: u64 = text(row, "id").parse().unwrap_or(0);
    match g.corrupt.get(&id) {
        Some(Corruption::BrokenJson) => {
            let mut b = bytes;
            b.pop();
            b.extend_from_slice(b",\"total_paid\":}");
            b
        }
        Some(Corruption::InvalidUtf8) => {
            let label = format!("\"payment\":{}", Value::String(text(row, "payment")));
            let text = String::from_utf8_lossy(&bytes).to_string();
            match text.find(&label) {
                Some(pos) => {
                    let mut b = text.as_bytes()[..pos].to_vec();
                    b.extend_from_slice(b"\"payment\":\"Ch\xE8que\"");
                    b.extend_from_slice(&text.as_bytes()[pos + label.len()..]);
                    b
                }
                None => bytes,
            }
        }
        _ => bytes,
    }
}

fn render_list(g: &SimState, resource: &str, rows: &[Obj], as_json: bool) -> Vec<u8> {
    if !as_json {
        return render_xml(resource, rows);
    }
    if rows.is_empty() {
        return b"[]".to_vec();
    }
    let mut out = format!("{{\"{resource}\":[").into_bytes();
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(render_row(g, resource, r));
    }
    out.extend_from_slice(b"]}");
    out
}

fn single(g: &SimState, resource: &str, id: &str, as_json: bool) -> Result<Vec<u8>, ApiError> {
    let one = known(resource)?;
    let row = id
        .parse::<u64>()
        .ok()
        .and_then(|i| g.shop.get(resource, i))
        .ok_or_else(|| api_err(StatusCode::NOT_FOUND, 87, format!("Id(s) not exists: {id}")))?;
    if !as_json {
        return Ok(render_xml(resource, std::slice::from_ref(row)));
    }
    let mut out = format!("{{\"{one}\":").into_bytes();
    out.extend(render_row(g, resource, row));
    out.push(b'}');
    Ok(out)
}

/// Minimal XML output (flat fields; the client reads JSON).
fn render_xml(resource: &str, rows: &[Obj]) -> Vec<u8> {
    let one = singular(resource).unwrap_or("item");
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n<{resource}>\n");
    for r in rows {
        s.push_str(&format!("<{one}>"));
        for (k, v) in r {
            if !v.is_object() && !v.is_array() {
                s.push_str(&format!("<{k}><![CDATA[{}]]></{k}>", text(r, k)));
            }
        }
        s.push_str(&format!("</{one}>\n"));
    }
    s.push_str(&format!("</{resource}>\n</prestashop>\n"));
    s.into_bytes()
}

/// The fields of a one-element body whose element must be `<one>` (code 127 otherwise, as
/// PrestaShop answers a body naming another resource).
fn parse_entity(body: &[u8], one: &str) -> Result<Vec<(String, String)>, ApiError> {
    let (entity, fields) = parse_xml(body)?;
    if entity != one {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            127,
            format!("XML error : <{one}> expected"),
        ));
    }
    Ok(fields)
}

/// The value of field `name` in a parsed body, empty when absent.
fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Parses `<prestashop><entity><field>value</field>…</entity></prestashop>`; nested
/// elements (associations, languages) are skipped.
fn parse_xml(body: &[u8]) -> Result<(String, Vec<(String, String)>), ApiError> {
    use quick_xml::events::Event;
    let bad = |m: String| api_err(StatusCode::BAD_REQUEST, 127, format!("XML error : {m}"));
    let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut entity = String::new();
    let mut field = String::new();
    let mut value = String::new();
    let mut fields = Vec::new();
    loop {
        match reader.read_event().map_err(|e| bad(e.to_string()))? {
            Event::Start(e) => {
                depth += 1;
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                match depth {
                    1 if name != "prestashop" => {
                        return Err(bad("root element must be <prestashop>".into()))
                    }
                    2 => entity = name,
                    3 => {
                        field = name;
                        value.clear();
                    }
                    _ => {}
                }
            }
            Event::Empty(e) if depth == 2 => {
                fields.push((
                    String::from_utf8_lossy(e.name().as_ref()).to_string(),
                    String::new(),
                ));
            }
            Event::Text(t) if depth == 3 => {
                value.push_str(&t.unescape().map_err(|e| bad(e.to_string()))?);
            }
            Event::CData(c) if depth == 3 => {
                value.push_str(&String::from_utf8_lossy(&c.into_inner()));
            }
            Event::End(_) => {
                if depth == 3 {
                    fields.push((field.clone(), value.trim().to_string()));
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if entity.is_empty() {
        return Err(bad("no resource element".into()));
    }
    Ok((entity, fields))
}

fn now_ps() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn create(
    g: &mut SimState,
    resource: &str,
    body: &[u8],
    sendemail: bool,
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let one = known(resource)?;
    if matches!(resource, "customer_threads" | "customer_messages") {
        return create_message(g, resource, one, body);
    }
    if resource != "order_histories" {
        return Err(api_err(
            StatusCode::METHOD_NOT_ALLOWED,
            100,
            format!("Method POST is not valid for resource {resource}"),
        ));
    }
    let fields = parse_entity(body, one)?;
    let get = |f: &str| field(&fields, f);
    let order_id: u64 = get("id_order").parse().unwrap_or(0);
    let state = get("id_order_state");
    if g.shop.get("orders", order_id).is_none() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property OrderHistory->id_order is empty.\"",
        ));
    }
    if state
        .parse::<u64>()
        .ok()
        .and_then(|s| g.shop.get("order_states", s))
        .is_none()
    {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property OrderHistory->id_order_state is empty.\"",
        ));
    }
    let now = now_ps();
    let hid = g.shop.insert(
        "order_histories",
        obj(vec![
            ("id_employee", s("0")),
            ("id_order_state", s(&state)),
            ("id_order", s(order_id)),
            ("date_add", s(&now)),
        ]),
    );
    // `OrderHistory::changeIdOrderState`: no same-state guard (posting the current state
    // adds another row and e-mails again); a state with `delivery=1` calls
    // `Order::setDelivery()`, which sets `delivery_date` to now "even if it was already set
    // by another state change" (OrderHistory.php@00b81678).
    let delivery_state = state
        .parse::<u64>()
        .ok()
        .and_then(|id| g.shop.get("order_states", id))
        .is_some_and(|st| text(st, "delivery") == "1");
    if let Some(o) = g.shop.get_mut("orders", order_id) {
        o.insert("current_state".into(), s(&state));
        o.insert("date_upd".into(), s(&now));
        if delivery_state {
            o.insert("delivery_date".into(), s(&now));
        }
    }
    if sendemail {
        g.emails.push((order_id, state));
    }
    let row = g
        .shop
        .get("order_histories", hid)
        .cloned()
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        json!({ one: row }).to_string().into_bytes(),
    ))
}

fn update(
    g: &mut SimState,
    resource: &str,
    id: &str,
    body: &[u8],
    sendemail: bool,
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let one = known(resource)?;
    if !matches!(
        resource,
        "orders" | "customers" | "stock_availables" | "order_carriers"
    ) {
        return Err(api_err(
            StatusCode::METHOD_NOT_ALLOWED,
            100,
            format!("Method PUT/PATCH is not valid for resource {resource} in this simulator"),
        ));
    }
    let fields = parse_entity(body, one)?;
    let body_id = fields
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if body_id.is_empty() {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            90,
            "id is required when modifying a resource",
        ));
    }
    if body_id != id {
        return Err(api_err(StatusCode::BAD_REQUEST, 89, "id is invalid"));
    }
    let nid: u64 = id.parse().unwrap_or(0);
    let row = g
        .shop
        .get_mut(resource, nid)
        .ok_or_else(|| api_err(StatusCode::NOT_FOUND, 87, format!("Id(s) not exists: {id}")))?;
    for (k, v) in &fields {
        if k == "id" {
            continue;
        }
        if !row.contains_key(k) {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                39,
                format!("parameter \"{k}\" not writable"),
            ));
        }
        // Order 8.x `$definition`: reference has no validator nor size, but the column is
        // `varchar(9)` and PrestaShop's connection is non-strict (`sql_mode = ''`,
        // DbPDO.php): a longer value is silently cut to 9, not refused. delivery_date is
        // not validated: a non-date is stored as 0000-00-00 00:00:00.
        let v = &if resource == "orders" && k == "reference" {
            v.chars().take(9).collect::<String>()
        } else if resource == "orders"
            && k == "delivery_date"
            && NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_err()
        {
            "0000-00-00 00:00:00".to_string()
        } else {
            v.clone()
        };
        if resource == "stock_availables" && k == "quantity" && v.parse::<i64>().is_err() {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                85,
                "Validation error: \"Property StockAvailable->quantity is not valid.\"",
            ));
        }
        row.insert(k.clone(), s(v));
    }
    if row.contains_key("date_upd") {
        row.insert("date_upd".into(), s(now_ps()));
    }
    let row = row.clone();
    // `PUT order_carriers/{id}?sendemail=1` sends the "in transit" e-mail with the number.
    if resource == "order_carriers" && sendemail {
        let order = text(&row, "id_order").parse().unwrap_or(0);
        g.emails.push((
            order,
            format!("in_transit:{}", text(&row, "tracking_number")),
        ));
    }
    Ok((StatusCode::OK, json!({ one: row }).to_string().into_bytes()))
}

/// `POST customer_threads` / `POST customer_messages` (`PS-docs:webservice/resources/
/// customer_threads.md`, `customer_messages.md`): required fields checked as PrestaShop's
/// object model does; the thread must exist for a message.
fn create_message(
    g: &mut SimState,
    resource: &str,
    one: &str,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let fields = parse_entity(body, one)?;
    let get = |f: &str| field(&fields, f);
    let now = now_ps();
    let row = if resource == "customer_threads" {
        for f in ["id_lang", "id_contact", "token", "status"] {
            if get(f).is_empty() {
                return Err(api_err(
                    StatusCode::BAD_REQUEST,
                    85,
                    format!("Validation error: \"Property CustomerThread->{f} is empty.\""),
                ));
            }
        }
        // `customer_thread.token` is `varchar(12)`: 8.x's MySQL would cut a longer one,
        // the newer definition (`'size' => 12`) refuses it; the simulator takes the
        // stricter of the two so a client sending more is seen.
        let token = get("token");
        if token.chars().count() > 12 {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                85,
                format!(
                    "Validation error: \"The length of property CustomerThread->token is currently {} chars. It must be between 0 and 12 chars.\"",
                    token.chars().count()
                ),
            ));
        }
        obj(vec![
            ("id_lang", s(get("id_lang"))),
            ("id_shop", s(get("id_shop"))),
            ("id_contact", s(get("id_contact"))),
            ("id_customer", s(get("id_customer"))),
            ("id_order", s(get("id_order"))),
            ("id_product", s("0")),
            ("email", s(get("email"))),
            // `status` is an enum: on the non-strict connection an unknown one is stored
            // '' (db_structure.sql, DbPDO.php). The token (checked above) fits its
            // `varchar(12)`.
            ("token", s(get("token"))),
            (
                "status",
                s(Some(get("status"))
                    .filter(|st| matches!(st.as_str(), "open" | "closed" | "pending1" | "pending2"))
                    .unwrap_or_default()),
            ),
            ("date_add", s(&now)),
            ("date_upd", s(&now)),
        ])
    } else {
        let thread: u64 = get("id_customer_thread").parse().unwrap_or(0);
        if g.shop.get("customer_threads", thread).is_none() || get("message").is_empty() {
            return Err(api_err(
                StatusCode::BAD_REQUEST,
                85,
                "Validation error: \"Property CustomerMessage->id_customer_thread is empty.\"",
            ));
        }
        obj(vec![
            ("id_employee", s(get("id_employee"))),
            ("id_customer_thread", s(thread)),
            ("ip_address", s("")),
            ("message", s(get("message"))),
            ("file_name", s(get("file_name"))),
            ("user_agent", s("")),
            ("private", s(get("private"))),
            ("read", s("0")),
            ("date_add", s(&now)),
            ("date_upd", s(&now)),
        ])
    };
    let id = g.shop.insert(resource, row);
    let row = g.shop.get(resource, id).cloned().unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        json!({ one: row }).to_string().into_bytes(),
    ))
}

/// `POST /api/attachments/file` (multipart, field `file`; `PS-docs:webservice/reference.md`
/// "attachments/file: the product Attachments files"): stores the file, answers the new
/// attachment. PrestaShop checks the upload's size against `PS_ATTACHMENT_MAXIMUM_SIZE`
/// (2 MB by default) and requires a file name.
fn upload_attachment(
    g: &mut SimState,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or_else(|| api_err(StatusCode::BAD_REQUEST, 200, "multipart/form-data expected"))?;
    let (name, data) = multipart_file(body, &boundary).ok_or_else(|| {
        api_err(
            StatusCode::BAD_REQUEST,
            201,
            "File is missing (field \"file\")",
        )
    })?;
    if data.len() > 2 * 1024 * 1024 {
        return Err(api_err(
            StatusCode::BAD_REQUEST,
            202,
            "The file is too large. Maximum size allowed is: 2048 kB.",
        ));
    }
    let mime = if data.starts_with(b"%PDF") {
        "application/pdf"
    } else {
        "application/octet-stream"
    };
    let size = data.len();
    let id = g.shop.insert(
        "attachments",
        obj(vec![
            ("file", s(format!("{:040x}", size as u64 * 7_919 + 1))),
            ("file_name", s(&name)),
            ("file_size", s(size)),
            ("mime", s(mime)),
            ("name", lang(&name.chars().take(32).collect::<String>())),
            ("description", lang("")),
        ]),
    );
    g.files.insert(id, data);
    let row = g.shop.get("attachments", id).cloned().unwrap_or_default();
    Ok(json!({ "attachment": row }).to_string().into_bytes())
}

/// The `file` part of a multipart body: (file name, bytes).
fn multipart_file(body: &[u8], boundary: &str) -> Option<(String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut at = 0;
    while let Some(start) = find_bytes(body, d, at) {
        let part_start = start + d.len();
        let end = find_bytes(body, d, part_start)?;
        let part = &body[part_start..end];
        at = end;
        let head_end = find_bytes(part, b"\r\n\r\n", 0)?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_string();
        if !head.contains("name=\"file\"") {
            continue;
        }
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("filename="))
            .map(|n| n.lines().next().unwrap_or("").trim_matches('"').to_string())
            .unwrap_or_default();
        let mut data = part[head_end + 4..].to_vec();
        if data.ends_with(b"\r\n") {
            data.truncate(data.len() - 2);
        }
        return Some((name, data));
    }
    None
}

fn find_bytes(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() || needle.is_empty() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}
