//! The one set of demo data every simulator serves, platform-neutral: catalogue articles,
//! customers (private, guest, companies with SIRET and VAT number, abroad) and orders
//! (multi-VAT carts with line and order discounts, EUR and USD, unknown references, gift
//! wrap, free and paid shipping, several payment methods and statuses, and the broken ones).
//! Each shop simulator renders it in its own API shape (PrestaShop: `SimShop::from_seed`),
//! so the same orders can be imported from every platform and the ERP documents compared.
//!
//! `passerelle sim PLATFORM --seed FILE` reads this format from JSON or TOML (by the file's
//! extension; `docs/PLATFORMS.md` shows an example). Amounts are decimal strings
//! (`"24.90"`), dates `YYYY-MM-DDTHH:MM:SS` (UTC), VAT rates in percent (`"20"`, `"5.5"`,
//! absent: no VAT).

use chrono::{Duration, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The whole seed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Seed {
    /// Catalogue articles (the shop's products and the ERP's articles).
    pub articles: Vec<SeedArticle>,
    /// Customers; orders refer to them by index.
    pub customers: Vec<SeedCustomer>,
    /// Orders, in creation order.
    pub orders: Vec<SeedOrder>,
}

/// A catalogue article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedArticle {
    /// Reference (SKU), the key between shop and ERP.
    pub reference: String,
    /// Name.
    pub name: String,
    /// Unit price, tax excluded.
    pub price_excl: Decimal,
    /// VAT rate in percent (`None`: no VAT).
    #[serde(default)]
    pub vat_rate: Option<Decimal>,
    /// Stock.
    #[serde(default)]
    pub stock: i64,
}

/// A customer with one address (billing and delivery).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedCustomer {
    /// First name.
    pub firstname: String,
    /// Last name.
    pub lastname: String,
    /// E-mail.
    pub email: String,
    /// Company name (empty: a private customer).
    pub company: String,
    /// SIRET (French companies).
    pub siret: String,
    /// Intra-community VAT number.
    pub vat_number: String,
    /// A guest checkout (no account).
    pub guest: bool,
    /// Street.
    pub street: String,
    /// Postcode.
    pub postcode: String,
    /// City.
    pub city: String,
    /// Country, ISO 3166-1 alpha-2.
    pub country: String,
    /// Region / state code where the country has them (`CA`).
    pub region: String,
    /// Phone.
    pub phone: String,
}

/// Where an order stands, in words every platform has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedStatus {
    /// Waiting for a cheque.
    AwaitingCheck,
    /// Waiting for a bank transfer.
    AwaitingTransfer,
    /// Paid.
    PaymentAccepted,
    /// Being prepared.
    Processing,
    /// Shipped.
    Shipped,
    /// Delivered.
    Delivered,
    /// Cancelled.
    Cancelled,
}

/// How the order is shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedCarrier {
    /// Collected at the shop.
    Pickup,
    /// The usual parcel service.
    Standard,
    /// International express.
    International,
}

/// How the order was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedPaymentMethod {
    /// Cheque.
    Check,
    /// Bank transfer.
    Transfer,
    /// PayPal.
    Paypal,
    /// Card (Stripe).
    Card,
}

impl SeedPaymentMethod {
    /// The label the customer chose.
    pub fn label(self) -> &'static str {
        match self {
            SeedPaymentMethod::Check => "Chèque",
            SeedPaymentMethod::Transfer => "Virement bancaire",
            SeedPaymentMethod::Paypal => "PayPal",
            SeedPaymentMethod::Card => "Carte bancaire",
        }
    }
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedLine {
    /// Article reference (may be unknown to the ERP on purpose).
    pub reference: String,
    /// Name on the order.
    pub name: String,
    /// Quantity (negative: a broken order on purpose).
    pub quantity: i64,
    /// Unit price, tax excluded.
    pub unit_price_excl: Decimal,
    /// VAT rate in percent (`None`: no VAT).
    #[serde(default)]
    pub vat_rate: Option<Decimal>,
    /// Line discount in percent.
    #[serde(default)]
    pub discount_percent: Decimal,
}

/// An order-level discount (voucher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedDiscount {
    /// Name.
    pub name: String,
    /// Amount, tax included.
    pub amount_incl: Decimal,
    /// Amount, tax excluded.
    pub amount_excl: Decimal,
}

/// Gift wrapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedGift {
    /// Wrapping price, tax excluded.
    pub amount_excl: Decimal,
    /// Its VAT rate in percent.
    pub vat_rate: Decimal,
    /// Message.
    #[serde(default)]
    pub message: String,
}

/// What is wrong with an order seeded broken on purpose (besides bad data such as a
/// negative quantity, which is plain data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedBreakage {
    /// The platform serves this order's answer cut in the middle.
    CutAnswer,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedOrder {
    /// Index of the customer in [`Seed::customers`].
    pub customer: usize,
    /// Store of a multi-store shop (1: the default one).
    #[serde(default = "one")]
    pub store: u32,
    /// Status.
    pub status: SeedStatus,
    /// Creation date (UTC).
    pub created: NaiveDateTime,
    /// Currency, ISO 4217.
    pub currency: String,
    /// Carrier.
    pub carrier: SeedCarrier,
    /// Shipping, tax excluded.
    pub shipping_excl: Decimal,
    /// Shipping VAT rate in percent.
    pub shipping_vat_rate: Decimal,
    /// Lines.
    pub lines: Vec<SeedLine>,
    /// Order-level discounts.
    #[serde(default)]
    pub discounts: Vec<SeedDiscount>,
    /// Gift wrapping.
    #[serde(default)]
    pub gift: Option<SeedGift>,
    /// Payment method.
    pub payment: SeedPaymentMethod,
    /// Payment transaction id (empty: none).
    #[serde(default)]
    pub transaction: String,
    /// Paid.
    pub paid: bool,
    /// Shop invoice number, when the shop invoiced it.
    #[serde(default)]
    pub invoice_number: Option<u64>,
    /// Customer's note.
    #[serde(default)]
    pub note: String,
    /// Broken on purpose.
    #[serde(default)]
    pub broken: Option<SeedBreakage>,
}

fn one() -> u32 {
    1
}

fn rate(percent: i64, scale: u32) -> Option<Decimal> {
    Some(Decimal::new(percent, scale))
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// The demo catalogue.
pub fn demo_articles() -> Vec<SeedArticle> {
    let a = |reference: &str, name: &str, price: i64, vat: Option<Decimal>, stock| SeedArticle {
        reference: reference.into(),
        name: name.into(),
        price_excl: cents(price),
        vat_rate: vat,
        stock,
    };
    vec![
        a(
            "TAPI-Gris-Pla",
            "Tapis gris plat 160x230",
            18900,
            rate(20, 0),
            12,
        ),
        a(
            "TAPI-Bleu-Pla",
            "Tapis bleu plat 120x170",
            12900,
            rate(20, 0),
            4,
        ),
        a("COUS-Lin-40", "Coussin lin 40x40", 2490, rate(20, 0), 40),
        a("PLAID-Laine", "Plaid laine mérinos", 7900, rate(20, 0), 0),
        a("RIDEAU-Voile", "Rideau voile blanc", 3450, rate(20, 0), 15),
        a(
            "LIVRE-Deco",
            "Livre « Maisons de famille »",
            3500,
            rate(55, 1),
            20,
        ),
        a("THE-Vert-100", "Thé vert bio 100 g", 820, rate(55, 1), 50),
        a("CARTE-Cadeau", "Carte cadeau 50 €", 5000, None, 999),
        a("LAMPE-Laiton", "Lampe laiton", 11900, rate(20, 0), 3),
    ]
}

/// The demo customers: a private customer, a guest, a French company with SIRET and VAT
/// number, a Belgian company, a customer in the United States, another guest.
pub fn demo_customers() -> Vec<SeedCustomer> {
    #[allow(clippy::too_many_arguments)]
    fn c(
        first: &str,
        last: &str,
        email: &str,
        company: &str,
        siret: &str,
        guest: bool,
        vat: &str,
        street: &str,
        postcode: &str,
        city: &str,
        country: &str,
    ) -> SeedCustomer {
        SeedCustomer {
            firstname: first.into(),
            lastname: last.into(),
            email: email.into(),
            company: company.into(),
            siret: siret.into(),
            vat_number: vat.into(),
            guest,
            street: street.into(),
            postcode: postcode.into(),
            city: city.into(),
            country: country.into(),
            region: if country == "US" {
                "CA".into()
            } else {
                String::new()
            },
            phone: "0102030405".into(),
        }
    }
    vec![
        c(
            "Camille",
            "Martin",
            "camille.martin@example.fr",
            "",
            "",
            false,
            "",
            "12 rue des Lilas",
            "69003",
            "Lyon",
            "FR",
        ),
        c(
            "Hugo",
            "Bernard",
            "hugo.b@example.fr",
            "",
            "",
            true,
            "",
            "3 place du Marché",
            "33000",
            "Bordeaux",
            "FR",
        ),
        c(
            "Léa",
            "Dubois",
            "achats@atelier-dubois.fr",
            "Atelier Dubois SARL",
            "40483304800022",
            false,
            "FR32404833048",
            "8 avenue Jean Jaurès",
            "75019",
            "Paris",
            "FR",
        ),
        c(
            "Pieter",
            "Janssens",
            "pieter@janssens.be",
            "Janssens BV",
            "",
            false,
            "BE0417497106",
            "Meir 24",
            "2000",
            "Antwerpen",
            "BE",
        ),
        c(
            "Emily",
            "Carter",
            "emily.carter@example.com",
            "",
            "",
            false,
            "",
            "1200 Market St",
            "94102",
            "San Francisco",
            "US",
        ),
        c(
            "Zoé",
            "Petit",
            "zoe.petit@example.fr",
            "",
            "",
            true,
            "",
            "5 chemin des Vignes",
            "13100",
            "Aix-en-Provence",
            "FR",
        ),
    ]
}

/// First demo order's date; each next one is 7 hours later.
pub fn base_date() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 1, 6)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .unwrap_or_default()
}

impl SeedOrder {
    /// A paid order in EUR, default store, standard shipping 5 € + 20 %, by cheque.
    pub fn new(customer: usize, lines: Vec<SeedLine>) -> Self {
        SeedOrder {
            customer,
            store: 1,
            status: SeedStatus::PaymentAccepted,
            created: base_date(),
            currency: "EUR".into(),
            carrier: SeedCarrier::Standard,
            shipping_excl: cents(500),
            shipping_vat_rate: Decimal::from(20),
            lines,
            discounts: Vec::new(),
            gift: None,
            payment: SeedPaymentMethod::Check,
            transaction: String::new(),
            paid: true,
            invoice_number: None,
            note: String::new(),
            broken: None,
        }
    }
}

impl SeedLine {
    /// A line of `quantity` × `article` at its catalogue price.
    pub fn of(article: &SeedArticle, quantity: i64) -> Self {
        SeedLine {
            reference: article.reference.clone(),
            name: article.name.clone(),
            quantity,
            unit_price_excl: article.price_excl,
            vat_rate: article.vat_rate,
            discount_percent: Decimal::ZERO,
        }
    }
}

impl Seed {
    /// The demo: the catalogue, the customers and `n` orders cycling through statuses,
    /// payment methods, stores, currencies and options (one in 7 with an article unknown to
    /// the ERP, one in 4 with a voucher, one in 6 gift-wrapped, one in 9 shipped free).
    pub fn demo(n: usize) -> Seed {
        let articles = demo_articles();
        let customers = demo_customers();
        let statuses = [
            SeedStatus::PaymentAccepted,
            SeedStatus::PaymentAccepted,
            SeedStatus::Processing,
            SeedStatus::AwaitingCheck,
            SeedStatus::AwaitingTransfer,
            SeedStatus::Shipped,
            SeedStatus::PaymentAccepted,
            SeedStatus::Delivered,
            SeedStatus::Cancelled,
            SeedStatus::Processing,
        ];
        let payments = [
            (SeedPaymentMethod::Check, ""),
            (SeedPaymentMethod::Transfer, ""),
            (SeedPaymentMethod::Paypal, "PAY-7TX"),
            (SeedPaymentMethod::Card, "pi_3Q"),
        ];
        let mut orders = Vec::with_capacity(n);
        for i in 1..=n {
            let customer = i % customers.len();
            let abroad = customers[customer].country == "US";
            let mut lines = Vec::new();
            for k in 0..(1 + i % 3) {
                let mut l = SeedLine::of(
                    &articles[(i * 3 + k * 5) % articles.len()],
                    1 + ((i + k) % 3) as i64,
                );
                if abroad {
                    l.vat_rate = None;
                }
                if (i + k) % 4 == 0 {
                    l.discount_percent = Decimal::from(10);
                }
                lines.push(l);
            }
            if i % 7 == 0 {
                lines.push(SeedLine {
                    reference: format!("ZZ-INCONNU-{i}"),
                    name: "Article hors catalogue".into(),
                    quantity: 1,
                    unit_price_excl: cents(1250),
                    vat_rate: rate(20, 0),
                    discount_percent: Decimal::ZERO,
                });
            }
            let mut o = SeedOrder::new(customer, lines);
            o.store = if i % 5 == 0 { 2 } else { 1 };
            o.status = statuses[i % statuses.len()];
            o.created = base_date() + Duration::hours(7 * i as i64);
            let (method, tx) = payments[i % payments.len()];
            o.payment = method;
            o.transaction = if tx.is_empty() {
                String::new()
            } else {
                format!("{tx}{i:06}")
            };
            o.paid = matches!(
                o.status,
                SeedStatus::PaymentAccepted
                    | SeedStatus::Processing
                    | SeedStatus::Shipped
                    | SeedStatus::Delivered
            );
            o.invoice_number = o.paid.then_some(i as u64);
            if abroad {
                o.currency = "USD".into();
                o.carrier = SeedCarrier::International;
                o.shipping_excl = cents(2500);
                o.shipping_vat_rate = Decimal::ZERO;
            } else if i % 9 == 0 {
                o.carrier = SeedCarrier::Pickup;
                o.shipping_excl = Decimal::ZERO;
            }
            if i % 4 == 0 {
                // A 5 € voucher takes 5 € off: 4.17 + VAT on a taxed order, 5.00 on an
                // order that bears no VAT (abroad), as every platform applies it.
                o.discounts.push(SeedDiscount {
                    name: "Bienvenue 5 €".into(),
                    amount_incl: cents(500),
                    amount_excl: if abroad { cents(500) } else { cents(417) },
                });
            }
            if i % 6 == 0 {
                o.gift = Some(SeedGift {
                    amount_excl: cents(250),
                    vat_rate: Decimal::from(20),
                    message: "Joyeux anniversaire !".into(),
                });
            }
            if i % 8 == 0 {
                o.note = "Livrer après 18 h".into();
            }
            orders.push(o);
        }
        Seed {
            articles,
            customers,
            orders,
        }
    }

    /// Adds the two orders the demo breaks on purpose, after the others: a negative
    /// quantity (read fine, refused by validation) and one whose answer the shop serves cut.
    pub fn with_broken(mut self) -> Seed {
        let cushion = SeedArticle {
            reference: "COUS-Lin-40".into(),
            name: "Coussin lin 40x40".into(),
            price_excl: cents(2490),
            vat_rate: rate(20, 0),
            stock: 0,
        };
        self.orders
            .push(SeedOrder::new(0, vec![SeedLine::of(&cushion, -2)]));
        let mut cut = SeedOrder::new(0, vec![SeedLine::of(&cushion, 1)]);
        cut.broken = Some(SeedBreakage::CutAnswer);
        self.orders.push(cut);
        self
    }

    /// Reads a seed file: TOML when the name ends in `.toml`, JSON otherwise. Every order's
    /// customer must exist.
    pub fn from_file(path: &std::path::Path) -> Result<Seed, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("fichier de données {} illisible : {e}", path.display()))?;
        let seed: Seed = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            toml::from_str(&text).map_err(|e| format!("{} : {e}", path.display()))?
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{} : {e}", path.display()))?
        };
        seed.check()?;
        Ok(seed)
    }

    /// Refuses orders pointing at a customer that does not exist.
    pub fn check(&self) -> Result<(), String> {
        for (i, o) in self.orders.iter().enumerate() {
            if o.customer >= self.customers.len() {
                return Err(format!(
                    "commande n° {} : client n° {} inexistant ({} client(s))",
                    i + 1,
                    o.customer,
                    self.customers.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_covers_the_cases_the_documents_must_show() {
        let s = Seed::demo(50).with_broken();
        assert_eq!(s.orders.len(), 52);
        let any = |f: &dyn Fn(&SeedOrder) -> bool| s.orders.iter().any(f);
        assert!(any(&|o| o.currency == "USD"));
        assert!(any(&|o| s.customers[o.customer].guest));
        assert!(any(&|o| !s.customers[o.customer].siret.is_empty()));
        assert!(any(&|o| o.gift.is_some()));
        assert!(any(&|o| !o.discounts.is_empty()));
        assert!(any(&|o| o
            .lines
            .iter()
            .any(|l| l.reference.starts_with("ZZ-INCONNU"))));
        assert!(any(&|o| {
            let rates: std::collections::BTreeSet<_> = o.lines.iter().map(|l| l.vat_rate).collect();
            rates.len() > 1
        }));
        assert!(any(&|o| o.lines.iter().any(|l| l.quantity < 0)));
        assert!(any(&|o| o.broken == Some(SeedBreakage::CutAnswer)));
    }

    #[test]
    fn a_seed_file_round_trips_in_json_and_toml_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let seed = Seed::demo(3);
        let json = dir.path().join("s.json");
        std::fs::write(&json, serde_json::to_string(&seed).expect("json")).expect("write");
        assert_eq!(Seed::from_file(&json), Ok(seed.clone()));
        let toml_path = dir.path().join("s.toml");
        std::fs::write(&toml_path, toml::to_string(&seed).expect("toml")).expect("write");
        assert_eq!(Seed::from_file(&toml_path), Ok(seed.clone()));
        let mut bad = seed;
        bad.orders[0].customer = 99;
        std::fs::write(&json, serde_json::to_string(&bad).expect("json")).expect("write");
        assert!(Seed::from_file(&json).is_err_and(|e| e.contains("client n° 99")));
    }
}
