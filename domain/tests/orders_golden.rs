//! Golden tests of the order document rules (FEATURES §3.3) and customer resolution (§4.2):
//! a baseline order (John Doe, order 187, two lines at 20 %, shipping 5.00 excl. tax) and
//! baseline settings; each test changes one option and checks exact values.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use passerelle_domain::orders::build::{
    accounting_category, build_document, check_special_articles, payment_rule, split_pro_rata,
    validate_order, BuildContext, OrderError,
};
use passerelle_domain::orders::customer::{lookup_keys, resolve_customer, strip_accents};
use passerelle_domain::orders::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;

// ------------------------------------------------------------------------------------------
// Builders
// ------------------------------------------------------------------------------------------

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn line(reference: &str, name: &str, qty: Decimal, unit: Decimal, rate: Decimal) -> OrderLine {
    let factor = Decimal::ONE + rate / dec!(100);
    OrderLine {
        reference: reference.into(),
        name: name.into(),
        quantity: qty,
        unit_price_tax_excl: unit,
        unit_price_tax_incl: unit * factor,
        discount_percent: Decimal::ZERO,
        discount_amount_tax_excl: Decimal::ZERO,
        total_tax_excl: unit * qty,
        total_tax_incl: unit * qty * factor,
        tax_name: format!("TVA FR {}%", rate.normalize()),
        tax_rate: rate,
        lot: None,
    }
}

fn address(first: &str, last: &str, address1: &str, postcode: &str, city: &str) -> Address {
    Address {
        firstname: first.into(),
        lastname: last.into(),
        company: None,
        address1: address1.into(),
        address2: None,
        postcode: postcode.into(),
        city: city.into(),
        country_iso: "FR".into(),
        state: None,
        phone: None,
    }
}

/// John Doe, order 187, 2 × T-shirt at 10.00 and 1 × mug at 15.00 (20 %), shipping 5.00
/// excl. tax: 48.00 incl. tax.
fn order() -> ShopOrder {
    ShopOrder {
        id: "187".into(),
        reference: "XKBKNABJK".into(),
        shop_id: "1".into(),
        state_id: "2".into(),
        created_at: at(2024, 9, 9, 17, 6),
        updated_at: at(2024, 9, 9, 17, 6),
        invoice_date: None,
        invoice_number: None,
        currency: "EUR".into(),
        conversion_rate: Decimal::ONE,
        customer: ShopCustomer {
            id: "29".into(),
            email: " John.Doe@Example.com ".into(),
            firstname: "John".into(),
            lastname: "Doe".into(),
            company: None,
            siret: None,
            vat_number: None,
            is_guest: false,
            erp_code: None,
        },
        billing: address("John", "Doe", "1 rue de la Paix", "75002", "Paris"),
        delivery: address("John", "Doe", "10 quai Perrache", "69002", "Lyon"),
        lines: vec![
            line("TSHIRT-BL", "T-shirt bleu", dec!(2), dec!(10.00), dec!(20)),
            line("MUG-01", "Mug", dec!(1), dec!(15.00), dec!(20)),
        ],
        discounts: vec![],
        shipping: Shipping {
            carrier_id: "3".into(),
            carrier_name: "Colissimo".into(),
            amount_tax_excl: dec!(5.00),
            amount_tax_incl: dec!(6.00),
            tax_rate: dec!(20),
        },
        wrapping: None,
        payment_module: "ps_checkpayment".into(),
        payment_label: "Chèque".into(),
        payments: vec![],
        totals: OrderTotals {
            products_tax_excl: dec!(35.00),
            products_tax_incl: dec!(42.00),
            paid_tax_excl: dec!(40.00),
            paid_tax_incl: dec!(48.00),
        },
        messages: vec![],
    }
}

fn tax(rate: Decimal, code: &str) -> TaxRule {
    TaxRule {
        name: None,
        rate,
        vat_code: code.into(),
    }
}

fn pay_rule(module: &str, currency: Option<&str>, settlement: &str) -> PaymentRule {
    PaymentRule {
        module: module.into(),
        currency: currency.map(Into::into),
        settlement_mode: settlement.into(),
        payment_mode: "CHEQUE".into(),
        bank_account: "512000".into(),
        forced_customer: None,
        forced_accounting_account: None,
        create_payment: true,
    }
}

fn settings() -> OrderSettings {
    OrderSettings {
        grouping: None,
        date_choice: DocumentDateChoice::OrderDate,
        precision: 2,
        series: None,
        warehouse: None,
        reference_template: "Web %OI - %CF %CL".into(),
        statuses: vec![status(DocumentKind::Order)],
        countries: CountryMapping {
            with_tax: BTreeMap::from([
                ("FR".into(), "France".into()),
                ("DE".into(), "France".into()),
            ]),
            without_tax: BTreeMap::from([
                ("DE".into(), "Intra-EU".into()),
                ("US".into(), "Import/Export".into()),
                ("US-CA".into(), "Import/Export CA".into()),
            ]),
            default_with_tax: "France".into(),
            default_without_tax: "Export".into(),
        },
        taxes: vec![
            tax(dec!(20), "TVA20"),
            tax(dec!(5.5), "TVA5"),
            tax(dec!(0), "EXO"),
        ],
        default_vat_code: None,
        payments: vec![pay_rule("ps_checkpayment", None, "CHQ")],
        default_payment: None,
        payment_key_is_label: false,
        carriers: vec![
            CarrierRule {
                carrier: "3".into(),
                shipping_id: "COL".into(),
            },
            CarrierRule {
                carrier: "Chronopost".into(),
                shipping_id: "CHR".into(),
            },
        ],
        default_shipping_id: None,
        currencies: BTreeMap::new(),
        shop_default_currency: "EUR".into(),
        foreign_currency_documents: false,
        misc_for_unknown: true,
        shop_number_as_document_number: false,
        erp_labels: false,
        set_delivery_date: false,
        tax_inclusive: false,
        shipping_as_line: false,
        no_line_discounts: false,
        push_stock: false,
        lot_numbers: false,
        gap_line: true,
        vat_rounding: VatRounding::PerRate,
        special: SpecialArticles {
            misc: "DIVERS".into(),
            gap: "ECART".into(),
            gift_wrap: "EMBALLAGE".into(),
            shipping: "PORT".into(),
            discount_by_vat: BTreeMap::from([
                ("TVA20".into(), "REM20".into()),
                ("TVA5".into(), "REM5".into()),
                ("EXO".into(), "REM0".into()),
            ]),
        },
        create_payments: false,
        payment_amount: PaymentAmountMode::OrderTotal,
        payment_date: PaymentDateChoice::DocumentDate,
        payment_label_template: "%CF %CL - %OI".into(),
        payment_gaps: false,
        addresses: BTreeMap::new(),
        customers: CustomerSettings {
            search_by_siret: false,
            search_by_email: true,
            search_by_vat: false,
            numbering: AccountNumbering::PerCustomer {
                prefix: "WEB".into(),
                length: 8,
            },
            accounting_account: AccountingAccountMode::None,
            default_sales_rep: None,
            default_family: None,
            default_price_category: None,
            update_delivery_address: false,
            update_billing_address: false,
            strip_accents: false,
            uppercase_name: false,
            uppercase_address: false,
            use_document_accounting_category: false,
            guest_account: None,
        },
    }
}

fn status(kind: DocumentKind) -> StatusRule {
    StatusRule {
        state_id: "2".into(),
        document: kind,
        erp_state: None,
        set_shop_state: None,
    }
}

fn items() -> BTreeMap<String, ErpItem> {
    [
        ("TSHIRT-BL", "Tee-shirt bleu (ERP)"),
        ("MUG-01", "Mug (ERP)"),
        ("BOOK-01", "Livre (ERP)"),
        ("DIVERS", "Divers"),
        ("ECART", "Écart de total"),
        ("EMBALLAGE", "Emballage cadeau"),
        ("PORT", "Frais de port"),
        ("REM20", "Remise 20 %"),
        ("REM5", "Remise 5,5 %"),
        ("REM0", "Remise exonérée"),
    ]
    .into_iter()
    .map(|(id, caption)| {
        (
            id.to_string(),
            ErpItem {
                id: id.into(),
                caption: caption.into(),
            },
        )
    })
    .collect()
}

fn existing(code: &str) -> CustomerResolution {
    CustomerResolution::Existing {
        code: code.into(),
        found_by: "email".into(),
        update: None,
    }
}

const TODAY: (i32, u32, u32) = (2024, 10, 1);

/// Builds with an Order status rule.
fn build(order: &ShopOrder, s: &OrderSettings) -> Result<ErpDocument, OrderError> {
    build_as(order, s, &status(DocumentKind::Order))
}

fn build_as(
    order: &ShopOrder,
    s: &OrderSettings,
    st: &StatusRule,
) -> Result<ErpDocument, OrderError> {
    let customer = existing("WEB00029");
    let items = items();
    let cx = BuildContext {
        settings: s,
        status: st,
        customer: &customer,
        items: &items,
        today: day(TODAY.0, TODAY.1, TODAY.2),
    };
    build_document(order, &cx)
}

fn product(
    kind: LineKind,
    item: &str,
    description: &str,
    qty: Decimal,
    unit: Decimal,
) -> DocumentLine {
    DocumentLine {
        kind,
        item_id: item.into(),
        description: description.into(),
        quantity: qty,
        unit_price: unit,
        discount_percent: Decimal::ZERO,
        vat_code: "TVA20".into(),
        vat_rate: dec!(20),
        lot: None,
    }
}

fn summary(lines: &[DocumentLine]) -> Vec<(LineKind, String, Decimal, Decimal, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l.kind,
                l.item_id.clone(),
                l.quantity,
                l.unit_price,
                l.vat_code.clone(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Document
// ------------------------------------------------------------------------------------------

#[test]
fn baseline_document() {
    let doc = build(&order(), &settings()).unwrap();
    assert_eq!(doc.kind, DocumentKind::Order);
    assert_eq!(doc.number, None);
    assert_eq!(doc.date, day(2024, 9, 9));
    assert_eq!(doc.customer_code, "WEB00029");
    assert_eq!(doc.customer_name, "DOE John");
    assert_eq!(doc.reference, "Web 187 - John DOE");
    assert_eq!(doc.atoosync_order, "187");
    assert_eq!(doc.accounting_category, "France");
    assert_eq!(doc.currency, "EUR");
    assert_eq!(doc.conversion_rate, None);
    assert_eq!(doc.shipping_id.as_deref(), Some("COL"));
    assert_eq!(doc.shipping_amount_tax_excl, dec!(5.00));
    assert_eq!(doc.shipping_vat_code.as_deref(), Some("TVA20"));
    assert_eq!(doc.delivery_date, None);
    assert!(!doc.tax_inclusive);
    assert_eq!(
        doc.lines,
        vec![
            product(
                LineKind::Product,
                "TSHIRT-BL",
                "T-shirt bleu",
                dec!(2),
                dec!(10.00)
            ),
            product(LineKind::Product, "MUG-01", "Mug", dec!(1), dec!(15.00)),
        ]
    );
    assert_eq!(doc.expected_total_tax_incl, dec!(48.00));
    assert!(doc.payments.is_empty());
    assert_eq!(doc.billing.city, "Paris");
    assert_eq!(doc.delivery.city, "Lyon");
    assert!(doc.notes.is_empty());
}

#[test]
fn document_date_choices() {
    let mut o = order();
    o.created_at = at(2024, 9, 9, 23, 59); // still the 9th in UTC
    let mut s = settings();
    assert_eq!(build(&o, &s).unwrap().date, day(2024, 9, 9));

    s.date_choice = DocumentDateChoice::InvoiceDate;
    assert_eq!(build(&o, &s).unwrap().date, day(2024, 9, 9), "not invoiced");
    o.invoice_date = Some(at(2024, 9, 10, 8, 0));
    assert_eq!(build(&o, &s).unwrap().date, day(2024, 9, 10));

    s.date_choice = DocumentDateChoice::Today;
    assert_eq!(build(&o, &s).unwrap().date, day(2024, 10, 1));
}

#[test]
fn price_precision_two_vs_four_half_up() {
    let mut o = order();
    // 19.99 incl. tax at 20 % → 16.658333… excl. tax; 2.345 shows half-up (banker's: 2.34).
    o.lines = vec![
        line(
            "TSHIRT-BL",
            "T-shirt",
            dec!(1),
            dec!(19.99) / dec!(1.2),
            dec!(20),
        ),
        line("MUG-01", "Mug", dec!(1), dec!(2.345), dec!(20)),
    ];
    let mut s = settings();
    // The amount paid is the baseline's 48.00: a gap line closes it; only product lines here.
    let units = |s: &OrderSettings| -> Vec<Decimal> {
        build(&o, s)
            .unwrap()
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Product)
            .map(|l| l.unit_price)
            .collect()
    };
    assert_eq!(units(&s), vec![dec!(16.66), dec!(2.35)]);
    s.precision = 4;
    assert_eq!(units(&s), vec![dec!(16.6583), dec!(2.3450)]);
}

#[test]
fn series_and_warehouse() {
    let mut s = settings();
    s.series = Some("WEB".into());
    s.warehouse = Some("DEP2".into());
    let doc = build(&order(), &s).unwrap();
    assert_eq!(doc.series.as_deref(), Some("WEB"));
    assert_eq!(doc.warehouse.as_deref(), Some("DEP2"));
}

#[test]
fn reference_template_placeholders_and_truncation() {
    let mut o = order();
    let mut s = settings();
    assert_eq!(build(&o, &s).unwrap().reference, "Web 187 - John DOE");

    o.customer.company = Some("ACME".into());
    s.reference_template = "%OR/%CC/%CI/%XX/100%".into();
    assert_eq!(
        build(&o, &s).unwrap().reference,
        "XKBKNABJK/ACME/29/%XX/100%"
    );

    o.customer.firstname = "é".repeat(100);
    s.reference_template = "%CF".into();
    assert_eq!(build(&o, &s).unwrap().reference, "é".repeat(70));
}

#[test]
fn atoosync_order_longer_than_32_characters_fails() {
    let mut o = order();
    o.id = "1".repeat(33);
    assert_eq!(
        build(&o, &settings()).unwrap_err().0,
        format!(
            "identifiant de commande trop long pour atoosync_order : {} (33 caractères, 32 au plus) (order id too long)",
            "1".repeat(33)
        )
    );
    o.id = "1".repeat(32);
    assert_eq!(
        build(&o, &settings()).unwrap().atoosync_order,
        "1".repeat(32)
    );
}

#[test]
fn accounting_category_by_country_state_with_and_without_tax() {
    let s = settings();
    let mut o = order();
    o.delivery.country_iso = "DE".into();
    assert_eq!(accounting_category(&o, &s), "France");
    for l in &mut o.lines {
        l.tax_rate = Decimal::ZERO;
        l.tax_name = "Exonéré".into();
    }
    assert_eq!(accounting_category(&o, &s), "Intra-EU");
    o.delivery.country_iso = "US".into();
    o.delivery.state = Some("CA".into());
    assert_eq!(accounting_category(&o, &s), "Import/Export CA");
    o.delivery.state = Some("NY".into());
    assert_eq!(accounting_category(&o, &s), "Import/Export");
    o.delivery.country_iso = "JP".into();
    assert_eq!(accounting_category(&o, &s), "Export", "default without tax");
    o.lines[0].tax_rate = dec!(20);
    assert_eq!(accounting_category(&o, &s), "France", "default with tax");
    // The document uses the same rule.
    o.lines[0].tax_rate = Decimal::ZERO;
    o.delivery.country_iso = "DE".into();
    o.delivery.state = None;
    assert_eq!(build(&o, &s).unwrap().accounting_category, "Intra-EU");
}

#[test]
fn tax_mapping_named_rule_default_and_unknown_rate() {
    let mut s = settings();
    s.taxes.push(TaxRule {
        name: Some("tva fr 20%".into()),
        rate: dec!(20),
        vat_code: "T20N".into(),
    });
    let mut o = order();
    o.lines[1].tax_name = "Other tax".into();
    let doc = build(&o, &s).unwrap();
    assert_eq!(
        doc.lines[0].vat_code, "T20N",
        "a named rule beats an unnamed one"
    );
    assert_eq!(doc.lines[1].vat_code, "TVA20");

    o.lines[1] = line("MUG-01", "Mug", dec!(1), dec!(15.00), dec!(7.7));
    o.lines[1].tax_name = "TVA CH".into();
    assert_eq!(
        build(&o, &s).unwrap_err().0,
        "taux de TVA inconnu 7.7 % (TVA CH) (unknown tax rate)"
    );
    s.default_vat_code = Some("TVADEF".into());
    assert_eq!(build(&o, &s).unwrap().lines[1].vat_code, "TVADEF");
}

#[test]
fn payment_mapping_by_module_currency_label_and_default() {
    let mut s = settings();
    s.payments = vec![
        pay_rule("paypal", None, "PP"),
        pay_rule("PAYPAL", Some("USD"), "PPUSD"),
        pay_rule("chèque", None, "CHQLABEL"),
    ];
    let mut o = order();
    o.payment_module = "PayPal".into();
    assert_eq!(payment_rule(&o, &s).unwrap().settlement_mode, "PP");
    o.currency = "USD".into();
    assert_eq!(payment_rule(&o, &s).unwrap().settlement_mode, "PPUSD");
    o.payment_module = "stripe".into();
    assert_eq!(payment_rule(&o, &s), None);
    s.default_payment = Some(pay_rule("*", None, "DEFAULT"));
    assert_eq!(payment_rule(&o, &s).unwrap().settlement_mode, "DEFAULT");
    s.payment_key_is_label = true;
    o.payment_label = "CHÈQUE".into();
    assert_eq!(payment_rule(&o, &s).unwrap().settlement_mode, "CHQLABEL");
}

#[test]
fn carrier_by_id_then_by_name_then_default() {
    let mut o = order();
    let mut s = settings();
    assert_eq!(build(&o, &s).unwrap().shipping_id.as_deref(), Some("COL"));
    o.shipping.carrier_id = "9".into();
    o.shipping.carrier_name = "CHRONOPOST".into();
    assert_eq!(build(&o, &s).unwrap().shipping_id.as_deref(), Some("CHR"));
    o.shipping.carrier_name = "DHL".into();
    assert_eq!(build(&o, &s).unwrap().shipping_id, None);
    s.default_shipping_id = Some("STD".into());
    assert_eq!(build(&o, &s).unwrap().shipping_id.as_deref(), Some("STD"));
}

#[test]
fn a_qualified_carrier_id_falls_back_to_its_type() {
    // Given rules for the flat rate in general and for its second instance,
    let mut o = order();
    let mut s = settings();
    s.carriers = vec![
        CarrierRule {
            carrier: "flat_rate".into(),
            shipping_id: "COL".into(),
        },
        CarrierRule {
            carrier: "flat_rate:2".into(),
            shipping_id: "UPS".into(),
        },
    ];
    o.shipping.carrier_name = "Livraison".into();
    // when the order names the second instance, its own rule applies;
    o.shipping.carrier_id = "flat_rate:2".into();
    assert_eq!(build(&o, &s).unwrap().shipping_id.as_deref(), Some("UPS"));
    // another instance falls back to the type's rule;
    o.shipping.carrier_id = "flat_rate:1".into();
    assert_eq!(build(&o, &s).unwrap().shipping_id.as_deref(), Some("COL"));
    // a rule on the carrier's name wins over the type's rule;
    s.carriers.push(CarrierRule {
        carrier: "livraison".into(),
        shipping_id: "LIV".into(),
    });
    assert_eq!(build(&o, &s).unwrap().shipping_id.as_deref(), Some("LIV"));
    // and a type no rule names gets nothing (no default here).
    o.shipping.carrier_id = "free_shipping:4".into();
    o.shipping.carrier_name = "Gratuit".into();
    assert_eq!(build(&o, &s).unwrap().shipping_id, None);
}

/// The baseline order in USD at 1.1 USD for 1 EUR.
fn usd_order() -> ShopOrder {
    let mut o = order();
    o.currency = "USD".into();
    o.conversion_rate = dec!(1.1);
    o.lines = vec![
        line("TSHIRT-BL", "T-shirt bleu", dec!(2), dec!(11.00), dec!(20)),
        line("MUG-01", "Mug", dec!(1), dec!(16.50), dec!(20)),
    ];
    o.shipping.amount_tax_excl = dec!(5.50);
    o.shipping.amount_tax_incl = dec!(6.60);
    o.totals.paid_tax_incl = dec!(52.80);
    o
}

#[test]
fn currency_mapping_and_foreign_currency_both_ways() {
    let mut s = settings();
    s.currencies = BTreeMap::from([("EUR".into(), "EURO".into()), ("USD".into(), "DOL".into())]);
    assert_eq!(build(&order(), &s).unwrap().currency, "EURO");

    // Converted back to the default currency.
    let doc = build(&usd_order(), &s).unwrap();
    assert_eq!(doc.currency, "EURO");
    assert_eq!(doc.conversion_rate, None);
    assert_eq!(
        doc.lines.iter().map(|l| l.unit_price).collect::<Vec<_>>(),
        vec![dec!(10.00), dec!(15.00)]
    );
    assert_eq!(doc.shipping_amount_tax_excl, dec!(5.00));
    assert_eq!(doc.expected_total_tax_incl, dec!(48.00));
    assert_eq!(doc.lines.len(), 2, "no gap line");

    // Kept in USD with the rate.
    s.foreign_currency_documents = true;
    let doc = build(&usd_order(), &s).unwrap();
    assert_eq!(doc.currency, "DOL");
    assert_eq!(doc.conversion_rate, Some(dec!(1.1)));
    assert_eq!(
        doc.lines.iter().map(|l| l.unit_price).collect::<Vec<_>>(),
        vec![dec!(11.00), dec!(16.50)]
    );
    assert_eq!(doc.shipping_amount_tax_excl, dec!(5.50));
    assert_eq!(doc.expected_total_tax_incl, dec!(52.80));
    assert_eq!(doc.lines.len(), 2, "no gap line");
}

#[test]
fn misc_article_for_unknown_reference_or_failure() {
    let mut o = order();
    o.lines[1].reference = "NEW-REF".into();
    o.lines[1].name = "Nouveau produit".into();
    let mut s = settings();
    s.erp_labels = true;
    let doc = build(&o, &s).unwrap();
    assert_eq!(
        doc.lines[1],
        product(
            LineKind::Misc,
            "DIVERS",
            "Nouveau produit",
            dec!(1),
            dec!(15.00)
        )
    );
    s.misc_for_unknown = false;
    assert_eq!(
        build(&o, &s).unwrap_err().0,
        "référence inconnue dans l'ERP : NEW-REF (unknown reference)"
    );
}

#[test]
fn shop_number_as_document_number_and_erp_state() {
    let mut s = settings();
    s.shop_number_as_document_number = true;
    let mut o = order();
    assert_eq!(build(&o, &s).unwrap().number.as_deref(), Some("XKBKNABJK"));
    let invoice = StatusRule {
        erp_state: Some("Validée".into()),
        ..status(DocumentKind::Invoice)
    };
    let doc = build_as(&o, &s, &invoice).unwrap();
    assert_eq!(doc.kind, DocumentKind::Invoice);
    assert_eq!(doc.erp_state.as_deref(), Some("Validée"));
    assert_eq!(doc.number.as_deref(), Some("XKBKNABJK"), "not invoiced yet");
    o.invoice_number = Some("FA000042".into());
    assert_eq!(
        build_as(&o, &s, &invoice).unwrap().number.as_deref(),
        Some("FA000042")
    );
    assert_eq!(
        build(&o, &s).unwrap().number.as_deref(),
        Some("XKBKNABJK"),
        "orders keep the order reference"
    );
}

#[test]
fn erp_labels_on_lines() {
    let mut s = settings();
    s.erp_labels = true;
    let doc = build(&order(), &s).unwrap();
    assert_eq!(doc.lines[0].description, "Tee-shirt bleu (ERP)");
    assert_eq!(doc.lines[1].description, "Mug (ERP)");
}

#[test]
fn delivery_date_is_the_document_date() {
    let mut s = settings();
    s.set_delivery_date = true;
    s.date_choice = DocumentDateChoice::Today;
    assert_eq!(
        build(&order(), &s).unwrap().delivery_date,
        Some(day(2024, 10, 1))
    );
}

#[test]
fn tax_inclusive_unit_prices() {
    let mut s = settings();
    s.tax_inclusive = true;
    let doc = build(&order(), &s).unwrap();
    assert!(doc.tax_inclusive);
    assert_eq!(
        doc.lines.iter().map(|l| l.unit_price).collect::<Vec<_>>(),
        vec![dec!(12.00), dec!(18.00)]
    );
    assert_eq!(doc.shipping_amount_tax_excl, dec!(5.00));
    assert_eq!(doc.lines.len(), 2, "48.00 either way: no gap line");
}

#[test]
fn shipping_as_line_vs_footer() {
    let mut s = settings();
    s.shipping_as_line = true;
    let doc = build(&order(), &s).unwrap();
    assert_eq!(doc.shipping_amount_tax_excl, Decimal::ZERO);
    assert_eq!(doc.shipping_vat_code, None);
    assert_eq!(
        doc.lines[2],
        product(LineKind::Shipping, "PORT", "Colissimo", dec!(1), dec!(5.00))
    );
    assert_eq!(doc.lines.len(), 3);

    let mut free = order();
    free.shipping.amount_tax_excl = Decimal::ZERO;
    free.shipping.amount_tax_incl = Decimal::ZERO;
    free.totals.paid_tax_incl = dec!(42.00);
    let doc = build(&free, &s).unwrap();
    assert_eq!(doc.lines.len(), 2, "free shipping: no line");
    s.shipping_as_line = false;
    let doc = build(&free, &s).unwrap();
    assert_eq!(doc.shipping_amount_tax_excl, Decimal::ZERO);
    assert_eq!(doc.shipping_vat_code, None);
}

#[test]
fn line_discounts_or_net_prices() {
    let mut o = order();
    // 10 % off the T-shirts; 3.75 off per mug (= 25 %).
    o.lines[0].discount_percent = dec!(10);
    o.lines[0].total_tax_excl = dec!(18.00);
    o.lines[0].total_tax_incl = dec!(21.60);
    o.lines[1].discount_amount_tax_excl = dec!(3.75);
    o.lines[1].total_tax_excl = dec!(11.25);
    o.lines[1].total_tax_incl = dec!(13.50);
    o.totals.paid_tax_incl = dec!(41.10);
    let mut s = settings();
    let doc = build(&o, &s).unwrap();
    let view = |d: &ErpDocument| -> Vec<(Decimal, Decimal)> {
        d.lines
            .iter()
            .map(|l| (l.unit_price, l.discount_percent))
            .collect()
    };
    assert_eq!(
        view(&doc),
        vec![(dec!(10.00), dec!(10)), (dec!(15.00), dec!(25))]
    );
    s.no_line_discounts = true;
    let doc = build(&o, &s).unwrap();
    assert_eq!(
        view(&doc),
        vec![(dec!(9.00), dec!(0)), (dec!(11.25), dec!(0))]
    );
    assert_eq!(doc.lines.len(), 2, "no gap either way");
}

#[test]
fn gift_wrapping_line_and_message() {
    let mut o = order();
    o.wrapping = Some(Wrapping {
        amount_tax_excl: dec!(2.00),
        amount_tax_incl: dec!(2.40),
        message: Some("Joyeux anniversaire".into()),
    });
    o.messages = vec!["Livrer après 18 h".into()];
    o.totals.paid_tax_incl = dec!(50.40);
    let doc = build(&o, &settings()).unwrap();
    assert_eq!(
        doc.lines[2],
        product(
            LineKind::GiftWrap,
            "EMBALLAGE",
            "Emballage cadeau",
            dec!(1),
            dec!(2.00)
        )
    );
    assert_eq!(doc.lines.len(), 3);
    assert_eq!(
        doc.notes,
        vec![
            "Livrer après 18 h".to_string(),
            "Message cadeau : Joyeux anniversaire".to_string()
        ]
    );
}

#[test]
fn order_discount_split_pro_rata_across_vat_rates() {
    let mut o = order();
    o.lines = vec![
        line("TSHIRT-BL", "T-shirt", dec!(1), dec!(100.00), dec!(20)),
        line("BOOK-01", "Livre", dec!(1), dec!(50.00), dec!(5.5)),
        line("MUG-01", "Mug", dec!(1), dec!(30.00), dec!(0)),
    ];
    o.discounts = vec![OrderDiscount {
        name: "BIENVENUE".into(),
        amount_tax_incl: dec!(11.26),
        amount_tax_excl: dec!(10.00),
    }];
    // 120 + 52.75 + 30 + 6 (shipping) − (6.66 + 2.93 + 1.67)
    o.totals.paid_tax_incl = dec!(197.49);
    let doc = build(&o, &settings()).unwrap();
    // 10 × 100/180 = 5.555… → 5.56 − 0.01 residue (largest base); 10 × 50/180 = 2.78;
    // 10 × 30/180 = 1.67.
    let discounts: Vec<_> = doc
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Discount)
        .collect();
    assert_eq!(
        summary(&doc.lines[3..]),
        vec![
            (
                LineKind::Discount,
                "REM20".into(),
                dec!(1),
                dec!(-5.55),
                "TVA20".into()
            ),
            (
                LineKind::Discount,
                "REM5".into(),
                dec!(1),
                dec!(-2.78),
                "TVA5".into()
            ),
            (
                LineKind::Discount,
                "REM0".into(),
                dec!(1),
                dec!(-1.67),
                "EXO".into()
            ),
        ]
    );
    assert_eq!(discounts.len(), 3);
    assert_eq!(discounts[0].description, "BIENVENUE");
    let sum: Decimal = discounts.iter().map(|l| l.unit_price).sum();
    assert_eq!(sum, dec!(-10.00));
    assert_eq!(doc.lines.len(), 6, "totals agree: no gap line");

    assert_eq!(
        split_pro_rata(dec!(10.00), &[dec!(100), dec!(50), dec!(30)], 2),
        vec![dec!(5.55), dec!(2.78), dec!(1.67)]
    );
    assert_eq!(
        split_pro_rata(dec!(1.00), &[dec!(1), dec!(1), dec!(1)], 2),
        vec![dec!(0.34), dec!(0.33), dec!(0.33)],
        "0.33 × 3 = 0.99: the residue goes to the first of equal bases"
    );
}

#[test]
fn gap_line_when_totals_differ() {
    let mut o = order();
    o.totals.paid_tax_incl = dec!(48.60);
    let mut s = settings();
    let doc = build(&o, &s).unwrap();
    assert_eq!(
        doc.lines[2],
        product(LineKind::Gap, "ECART", "Écart", dec!(1), dec!(0.50)),
        "0.60 incl. tax at the first product line's 20 %"
    );
    assert_eq!(doc.expected_total_tax_incl, dec!(48.60));

    s.default_vat_code = Some("EXO".into());
    let gap = build(&o, &s).unwrap().lines[2].clone();
    assert_eq!(
        (gap.unit_price, gap.vat_code.as_str(), gap.vat_rate),
        (dec!(0.60), "EXO", dec!(0))
    );

    // Without the gap line the document would total 48.00 for 48.60 paid: the order fails
    // with the reason instead of a document that silently differs.
    s.gap_line = false;
    assert_eq!(
        build(&o, &s).unwrap_err().0,
        "le total du document (48 € TTC) diffère du montant payé (48.6 € TTC) et la ligne d'écart est désactivée dans le profil (document total differs from the amount paid)"
    );

    o.totals.paid_tax_incl = dec!(48.004);
    s.gap_line = true;
    assert_eq!(
        build(&o, &s).unwrap().lines.len(),
        2,
        "under a cent: no gap"
    );
}

#[test]
fn lot_numbers() {
    let mut o = order();
    o.lines[0].lot = Some("LOT-42".into());
    let mut s = settings();
    assert_eq!(build(&o, &s).unwrap().lines[0].lot, None);
    s.lot_numbers = true;
    assert_eq!(
        build(&o, &s).unwrap().lines[0].lot.as_deref(),
        Some("LOT-42")
    );
}

#[test]
fn payment_of_the_order_total_with_label_template() {
    let mut s = settings();
    assert!(build(&order(), &s).unwrap().payments.is_empty(), "off");
    s.create_payments = true;
    s.date_choice = DocumentDateChoice::Today;
    let doc = build(&order(), &s).unwrap();
    assert_eq!(
        doc.payments,
        vec![DocumentPayment {
            date: day(2024, 10, 1),
            amount: dec!(48.00),
            settlement_mode: "CHQ".into(),
            payment_mode: "CHEQUE".into(),
            bank_account: "512000".into(),
            label: "John DOE - 187".into(),
            is_gap: false,
        }]
    );
    s.payment_label_template = "%OR %CL".into();
    s.payment_date = PaymentDateChoice::OrderDate;
    let p = &build(&order(), &s).unwrap().payments[0];
    assert_eq!(
        (p.label.as_str(), p.date),
        ("XKBKNABJK DOE", day(2024, 9, 9))
    );

    s.payments[0].create_payment = false;
    assert!(
        build(&order(), &s).unwrap().payments.is_empty(),
        "rule says no"
    );
}

#[test]
fn payments_per_shop_payment_with_gap() {
    let mut o = order();
    o.payments = vec![
        Payment {
            method: "Chèque".into(),
            amount: dec!(30.00),
            paid_at: at(2024, 9, 10, 9, 0),
            transaction_id: None,
        },
        Payment {
            method: "Chèque".into(),
            amount: dec!(10.00),
            paid_at: at(2024, 9, 11, 9, 0),
            transaction_id: None,
        },
    ];
    let mut s = settings();
    s.create_payments = true;
    s.payment_amount = PaymentAmountMode::PerPayment;
    s.payment_date = PaymentDateChoice::PaymentDate;
    let view = |d: ErpDocument| -> Vec<(NaiveDate, Decimal, bool)> {
        d.payments
            .iter()
            .map(|p| (p.date, p.amount, p.is_gap))
            .collect()
    };
    assert_eq!(
        view(build(&o, &s).unwrap()),
        vec![
            (day(2024, 9, 10), dec!(30.00), false),
            (day(2024, 9, 11), dec!(10.00), false)
        ]
    );
    s.payment_gaps = true;
    assert_eq!(
        view(build(&o, &s).unwrap()),
        vec![
            (day(2024, 9, 10), dec!(30.00), false),
            (day(2024, 9, 11), dec!(10.00), false),
            (day(2024, 9, 9), dec!(8.00), true)
        ]
    );
}

#[test]
fn addresses_per_document_kind() {
    let mut s = settings();
    s.addresses.insert(
        DocumentKind::Invoice,
        AddressRule {
            delivery: AddressChoice::Billing,
            billing: AddressChoice::Billing,
        },
    );
    s.addresses.insert(
        DocumentKind::DeliveryNote,
        AddressRule {
            delivery: AddressChoice::Delivery,
            billing: AddressChoice::Delivery,
        },
    );
    let cities = |kind| {
        let d = build_as(&order(), &s, &status(kind)).unwrap();
        (d.delivery.city, d.billing.city)
    };
    assert_eq!(cities(DocumentKind::Order), ("Lyon".into(), "Paris".into()));
    assert_eq!(
        cities(DocumentKind::Invoice),
        ("Paris".into(), "Paris".into())
    );
    assert_eq!(
        cities(DocumentKind::DeliveryNote),
        ("Lyon".into(), "Lyon".into())
    );
}

#[test]
fn special_articles_missing_or_empty_refuse_the_import() {
    let s = settings();
    assert_eq!(check_special_articles(&s, &items()), Ok(()));
    let mut known = items();
    known.remove("DIVERS");
    known.remove("ECART");
    assert_eq!(
        check_special_articles(&s, &known).unwrap_err(),
        "articles spéciaux absents de l'ERP : DIVERS (divers), ECART (écart) — import refusé (missing special articles)"
    );
    known.remove("REM5");
    let mut s2 = s.clone();
    s2.special.gift_wrap = " ".into();
    assert_eq!(
        check_special_articles(&s2, &known).unwrap_err(),
        "codes d'articles spéciaux vides : emballage cadeau — import refusé (empty special article codes) ; \
         articles spéciaux absents de l'ERP : DIVERS (divers), ECART (écart), REM5 (remise TVA5) — import refusé (missing special articles)"
    );
}

#[test]
fn validation_reasons() {
    assert_eq!(validate_order(&order()), Ok(()));
    let mut o = order();
    o.lines.clear();
    assert_eq!(
        validate_order(&o).unwrap_err().0,
        "commande sans ligne (order without lines)"
    );
    let mut o = order();
    o.lines[0].reference = "ABC".into();
    o.lines[0].quantity = dec!(-2);
    o.lines[1].reference = " ".into();
    o.delivery.country_iso = String::new();
    assert_eq!(
        validate_order(&o).unwrap_err().0,
        "quantité négative ou nulle (-2) pour la référence ABC (non-positive quantity) ; \
         référence vide sur la ligne 2 (Mug) (empty reference) ; \
         pays absent de l'adresse de livraison (missing delivery country)"
    );
    let mut o = order();
    o.lines[0].unit_price_tax_excl = dec!(-1.50);
    o.lines[1].tax_rate = dec!(120);
    o.customer.email = " ".into();
    o.totals.paid_tax_incl = dec!(-3);
    o.billing.address1 = "x".repeat(10_001);
    assert_eq!(
        validate_order(&o).unwrap_err().0,
        "prix unitaire négatif (-1.5) pour la référence TSHIRT-BL (negative unit price) ; \
         taux de TVA invalide (120 %) pour la référence MUG-01 (invalid tax rate) ; \
         total négatif : payé TTC = -3 (negative total) ; \
         e-mail du client absent (missing customer e-mail) ; \
         champ trop long : adresse de facturation, ligne 1 (10001 caractères, 10000 au plus) (field too long)"
    );
    // A guest may have no e-mail; build_document validates too.
    let mut o = order();
    o.customer.email = String::new();
    o.customer.is_guest = true;
    assert_eq!(validate_order(&o), Ok(()));
    o.lines.clear();
    assert_eq!(
        build(&o, &settings()).unwrap_err().0,
        "commande sans ligne (order without lines)"
    );
}

// ------------------------------------------------------------------------------------------
// Customer resolution
// ------------------------------------------------------------------------------------------

fn erp_customer(code: &str, email: &str, siret: &str, vat: &str) -> ErpCustomer {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    ErpCustomer {
        code: code.into(),
        name: code.into(),
        email: opt(email),
        siret: opt(siret),
        vat_number: opt(vat),
    }
}

fn found_by(r: &CustomerResolution) -> (&str, &str) {
    match r {
        CustomerResolution::Existing { code, found_by, .. } => (code, found_by),
        CustomerResolution::New(rec) => (&rec.code, "new"),
    }
}

#[test]
fn lookup_keys_normalised_per_switch() {
    let mut o = order();
    o.customer.siret = Some("123 456 789 00012".into());
    o.customer.vat_number = Some("fr 12 345678901".into());
    let mut cs = settings().customers;
    assert_eq!(
        lookup_keys(&o, &cs),
        passerelle_domain::orders::customer::LookupKeys {
            siret: None,
            email: Some("john.doe@example.com".into()),
            vat: None,
        }
    );
    cs.search_by_siret = true;
    cs.search_by_vat = true;
    cs.search_by_email = false;
    let keys = lookup_keys(&o, &cs);
    assert_eq!(keys.siret.as_deref(), Some("12345678900012"));
    assert_eq!(keys.email, None);
    assert_eq!(keys.vat.as_deref(), Some("FR12345678901"));
    o.customer.siret = Some("1234".into());
    assert_eq!(lookup_keys(&o, &cs).siret, None, "not 14 digits");
}

#[test]
fn customer_search_precedence_siret_email_vat() {
    let mut o = order();
    o.customer.siret = Some("12345678900012".into());
    o.customer.vat_number = Some("FR12345678901".into());
    let found = vec![
        erp_customer("BY-VAT", "", "", "FR 12345678901"),
        erp_customer("BY-EMAIL", "john.doe@example.com", "", ""),
        erp_customer("BY-SIRET", "", "123 456 789 00012", ""),
    ];
    let mut s = settings();
    s.customers.search_by_siret = true;
    s.customers.search_by_vat = true;
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &found)),
        ("BY-SIRET", "siret")
    );
    s.customers.search_by_siret = false;
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &found)),
        ("BY-EMAIL", "email")
    );
    s.customers.search_by_email = false;
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &found)),
        ("BY-VAT", "vat")
    );
    s.customers.search_by_vat = false;
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &found)),
        ("WEB00029", "new")
    );
    o.customer.erp_code = Some("CL00004".into());
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &found)),
        ("CL00004", "shop-link")
    );
}

#[test]
fn forced_customer_by_payment_and_guest_account() {
    let mut o = order();
    let mut s = settings();
    let found = vec![erp_customer("BY-EMAIL", "john.doe@example.com", "", "")];
    let mut amazon = pay_rule("amazon", None, "AMZ");
    amazon.forced_customer = Some("WEBAMAZON".into());
    s.payments.push(amazon);
    o.payment_module = "Amazon".into();
    assert_eq!(
        resolve_customer(&o, &s, &found),
        CustomerResolution::Existing {
            code: "WEBAMAZON".into(),
            found_by: "forced-by-payment".into(),
            update: None
        }
    );

    let mut guest = order();
    guest.customer.is_guest = true;
    assert_eq!(
        found_by(&resolve_customer(&guest, &s, &[])),
        ("WEB00029", "new"),
        "no guest account set"
    );
    s.customers.guest_account = Some("INVITE".into());
    assert_eq!(
        found_by(&resolve_customer(&guest, &s, &found)),
        ("INVITE", "guest-account")
    );
}

#[test]
fn single_account_and_prefix_padding() {
    let mut s = settings();
    let mut o = order();
    assert_eq!(resolve_customer(&o, &s, &[]).code(), "WEB00029");
    s.customers.numbering = AccountNumbering::PerCustomer {
        prefix: "PREST".into(),
        length: 9,
    };
    o.customer.id = "652".into();
    assert_eq!(resolve_customer(&o, &s, &[]).code(), "PREST0652");
    o.customer.id = "1234567".into();
    assert_eq!(
        resolve_customer(&o, &s, &[]).code(),
        "PREST1234567",
        "no room: unpadded"
    );
    s.customers.numbering = AccountNumbering::Single {
        code: "WEBCLIENTS".into(),
    };
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &[])),
        ("WEBCLIENTS", "single-account")
    );
}

#[test]
fn new_customer_record_accounting_modes_and_defaults() {
    let mut s = settings();
    s.customers.accounting_account = AccountingAccountMode::PerCustomer {
        prefix: "411".into(),
        length: 8,
    };
    s.customers.default_sales_rep = Some("REP1".into());
    s.customers.default_family = Some("WEB".into());
    s.customers.default_price_category = Some("PARTICULIERS".into());
    s.customers.use_document_accounting_category = true;
    let CustomerResolution::New(rec) = resolve_customer(&order(), &s, &[]) else {
        panic!("expected a new customer")
    };
    assert_eq!(rec.code, "WEB00029");
    assert_eq!(rec.name, "DOE John");
    assert_eq!(rec.email, "John.Doe@Example.com");
    assert_eq!(rec.accounting_account.as_deref(), Some("41100029"));
    assert_eq!(rec.sales_rep.as_deref(), Some("REP1"));
    assert_eq!(rec.family.as_deref(), Some("WEB"));
    assert_eq!(rec.price_category.as_deref(), Some("PARTICULIERS"));
    assert_eq!(rec.accounting_category.as_deref(), Some("France"));
    assert_eq!(rec.billing, order().billing);

    s.customers.accounting_account = AccountingAccountMode::Same {
        account: "411WEB".into(),
    };
    let CustomerResolution::New(rec) = resolve_customer(&order(), &s, &[]) else {
        panic!("expected a new customer")
    };
    assert_eq!(rec.accounting_account.as_deref(), Some("411WEB"));

    s.customers.accounting_account = AccountingAccountMode::None;
    let mut company = order();
    company.customer.company = Some("ACME SARL".into());
    let CustomerResolution::New(rec) = resolve_customer(&company, &s, &[]) else {
        panic!("expected a new customer")
    };
    assert_eq!(
        (rec.name.as_str(), rec.accounting_account),
        ("ACME SARL", None)
    );
}

#[test]
fn accents_stripped_and_upper_cased() {
    let mut o = order();
    o.customer.firstname = "Éloïse".into();
    o.customer.lastname = "Lefèvre".into();
    o.billing = address(
        "Éloïse",
        "Lefèvre",
        "12 rue de l'Église",
        "45000",
        "Orléans",
    );
    let mut s = settings();
    s.customers.strip_accents = true;
    let CustomerResolution::New(rec) = resolve_customer(&o, &s, &[]) else {
        panic!("expected a new customer")
    };
    assert_eq!(rec.name, "LEFEVRE Eloise");
    assert_eq!(rec.firstname, "Eloise");
    assert_eq!(rec.billing.address1, "12 rue de l'Eglise");
    s.customers.uppercase_name = true;
    s.customers.uppercase_address = true;
    let CustomerResolution::New(rec) = resolve_customer(&o, &s, &[]) else {
        panic!("expected a new customer")
    };
    assert_eq!(rec.name, "LEFEVRE ELOISE");
    assert_eq!(rec.billing.address1, "12 RUE DE L'EGLISE");
    assert_eq!(rec.billing.city, "ORLEANS");
    assert_eq!(rec.billing.country_iso, "FR");
    assert_eq!(
        strip_accents("Œuvre Ærø Ça Straße"),
        "OEuvre AEro Ca Strasse"
    );
}

#[test]
fn existing_customer_address_updates() {
    let o = order();
    let found = vec![erp_customer("CL00004", "john.doe@example.com", "", "")];
    let mut s = settings();
    assert_eq!(
        resolve_customer(&o, &s, &found),
        CustomerResolution::Existing {
            code: "CL00004".into(),
            found_by: "email".into(),
            update: None
        }
    );
    s.customers.update_delivery_address = true;
    let CustomerResolution::Existing {
        update: Some(rec), ..
    } = resolve_customer(&o, &s, &found)
    else {
        panic!("expected an update")
    };
    assert_eq!(rec.code, "CL00004");
    assert_eq!(rec.delivery, o.delivery);
    assert_eq!(rec.billing, Address::default(), "billing not updated");
    assert_eq!(rec.accounting_account, None);
}

// ------------------------------------------------------------------------------------------
// Totals exact to the cent under both VAT rounding rules (issue 18)
// ------------------------------------------------------------------------------------------

/// The order's lines replaced, no shipping, and the amount the shop charged.
fn cart(lines: Vec<OrderLine>, paid: Decimal) -> ShopOrder {
    let mut o = order();
    let excl: Decimal = lines.iter().map(|l| l.total_tax_excl).sum();
    o.lines = lines;
    o.shipping.amount_tax_excl = Decimal::ZERO;
    o.shipping.amount_tax_incl = Decimal::ZERO;
    o.totals = OrderTotals {
        products_tax_excl: excl,
        products_tax_incl: paid,
        paid_tax_excl: excl,
        paid_tax_incl: paid,
    };
    o
}

fn with_rule(rule: VatRounding) -> OrderSettings {
    let mut s = settings();
    s.vat_rounding = rule;
    s
}

/// (kind, unit price) of each line, and the document's total incl. tax under its rule.
fn lines_and_total(doc: &ErpDocument, rule: VatRounding) -> (Vec<(LineKind, Decimal)>, Decimal) {
    let lines = doc.lines.iter().map(|l| (l.kind, l.unit_price)).collect();
    let total = totals::document_totals(&doc.lines, None, doc.tax_inclusive, rule).tax_incl;
    (lines, total)
}

#[test]
fn seven_thirds_paid_2_80_close_exactly_under_both_rules() {
    // 7 × 0.333333 € excl. tax at 20 %, 2.80 € paid. The line is 7 × 0.33 = 2.31 € excl.
    // tax: 2.77 € incl. tax, 0.03 € short. The old gap line (0.03 / 1.2 = 0.025 → 0.03 excl.
    // tax → 0.04 incl.) made the document 2.81 €.
    let o = cart(
        vec![line("MUG-01", "Mug", dec!(7), dec!(0.333333), dec!(20))],
        dec!(2.80),
    );
    // Per rate: the gap joins the 20 % base: 2.33 + round(0.466) = 2.80.
    let doc = build(&o, &with_rule(VatRounding::PerRate)).unwrap();
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerRate),
        (
            vec![(LineKind::Product, dec!(0.33)), (LineKind::Gap, dec!(0.02))],
            dec!(2.80)
        )
    );
    // Per line: no amount x has x + round(0.2 x) = 0.03 (0.02 → 0.02, 0.03 → 0.04), so the
    // gap is 0.02 and a second gap line carries the last cent (its VAT rounds to 0).
    let doc = build(&o, &with_rule(VatRounding::PerLine)).unwrap();
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerLine),
        (
            vec![
                (LineKind::Product, dec!(0.33)),
                (LineKind::Gap, dec!(0.02)),
                (LineKind::Gap, dec!(0.01))
            ],
            dec!(2.80)
        )
    );
    assert!(doc.lines[1..].iter().all(|l| l.vat_code == "TVA20"));
    // A tax-inclusive document states the amounts incl. tax: 7 × 0.40 = 2.80, no gap.
    let mut s = with_rule(VatRounding::PerRate);
    s.tax_inclusive = true;
    let doc = build(&o, &s).unwrap();
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerRate),
        (vec![(LineKind::Product, dec!(0.40))], dec!(2.80))
    );
}

#[test]
fn per_rate_without_a_zero_rate_code_fails_the_order_when_the_cent_cannot_be_reached() {
    // At 20 %, x + round(0.2 x) skips totals: 0.07 → 0.08, 0.08 → 0.10. A 0.05 € line paid
    // 0.09 € needs a base of 0.075 €: no amount in cents closes it at 20 % per rate.
    let o = cart(
        vec![line("MUG-01", "Mug", dec!(1), dec!(0.05), dec!(20))],
        dec!(0.09),
    );
    let mut s = with_rule(VatRounding::PerRate);
    s.taxes.retain(|t| !t.rate.is_zero());
    let err = build(&o, &s).unwrap_err().0;
    assert!(
        err.starts_with("l'écart de 0.03 € entre le montant payé (0.09 €)"),
        "{err}"
    );
    // With a 0 % code in the tax mapping, the last cent goes on a 0 % gap line.
    s.taxes.push(TaxRule {
        name: None,
        rate: dec!(0),
        vat_code: "EXO".into(),
    });
    let doc = build(&o, &s).unwrap();
    let gaps: Vec<(Decimal, &str)> = doc
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Gap)
        .map(|l| (l.unit_price, l.vat_code.as_str()))
        .collect();
    assert_eq!(gaps, vec![(dec!(0.02), "TVA20"), (dec!(0.01), "EXO")]);
    assert_eq!(lines_and_total(&doc, VatRounding::PerRate).1, dec!(0.09));
}

#[test]
fn three_thirds_give_1_20_per_line_and_1_19_per_rate() {
    let thirds = || {
        vec![
            line("TSHIRT-BL", "T-shirt", dec!(1), dec!(0.333333), dec!(20)),
            line("MUG-01", "Mug", dec!(1), dec!(0.333333), dec!(20)),
            line("TSHIRT-BL", "T-shirt", dec!(1), dec!(0.333333), dec!(20)),
        ]
    };
    let products = vec![(LineKind::Product, dec!(0.33)); 3];
    // Paid 1.20 (the shop rounded per line): nothing to close per line; per rate the
    // document is 0.99 + 0.20 = 1.19 and a 0.01 € gap (0.01 + round(0.2 × 1.00) − 0.99 − 0.20)
    // brings it to 1.20.
    let o = cart(thirds(), dec!(1.20));
    let doc = build(&o, &with_rule(VatRounding::PerLine)).unwrap();
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerLine),
        (products.clone(), dec!(1.20))
    );
    let doc = build(&o, &with_rule(VatRounding::PerRate)).unwrap();
    let mut with_gap = products.clone();
    with_gap.push((LineKind::Gap, dec!(0.01)));
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerRate),
        (with_gap, dec!(1.20))
    );
    // Paid 1.19 (the shop rounded per rate): the other way round, a −0.01 € gap per line.
    let o = cart(thirds(), dec!(1.19));
    let doc = build(&o, &with_rule(VatRounding::PerRate)).unwrap();
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerRate),
        (products.clone(), dec!(1.19))
    );
    let doc = build(&o, &with_rule(VatRounding::PerLine)).unwrap();
    let mut with_gap = products;
    with_gap.push((LineKind::Gap, dec!(-0.01)));
    assert_eq!(
        lines_and_total(&doc, VatRounding::PerLine),
        (with_gap, dec!(1.19))
    );
}

#[test]
fn vat_rounding_defaults_to_per_rate_in_a_profile() {
    let mut value = serde_json::to_value(settings()).unwrap();
    value.as_object_mut().unwrap().remove("vat_rounding");
    let read: OrderSettings = serde_json::from_value(value).unwrap();
    assert_eq!(read.vat_rounding, VatRounding::PerRate);
    let per_line: VatRounding = serde_json::from_str("\"per-line\"").unwrap();
    assert_eq!(per_line, VatRounding::PerLine);
}

#[test]
fn a_negative_quantity_is_not_called_a_negative_price() {
    let mut o = order();
    o.lines[1] = line("MUG-01", "Mug", dec!(-2), dec!(15.00), dec!(20));
    let err = validate_order(&o).unwrap_err().0;
    assert!(
        err.contains("quantité négative ou nulle (-2) pour la référence MUG-01"),
        "{err}"
    );
    assert!(!err.contains("prix"), "{err}");
    o.lines[1] = line("MUG-01", "Mug", dec!(1), dec!(-15.00), dec!(20));
    let err = validate_order(&o).unwrap_err().0;
    assert!(
        err.contains("prix unitaire négatif (-15) pour la référence MUG-01"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// Shared accounts are never a customer's own (issue 18)
// ------------------------------------------------------------------------------------------

#[test]
fn a_registered_customer_whose_note_names_the_guest_account_gets_their_own_account() {
    let mut s = settings();
    s.customers.guest_account = Some("WEBGUEST".into());
    // The same shop customer ordered as a guest before; an older version wrote the guest
    // account into their note. Now registered, their order must not follow that note.
    let mut o = order();
    o.customer.erp_code = Some("WEBGUEST".into());
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &[])),
        ("WEB00029", "new")
    );
    // Case and spaces do not hide it.
    o.customer.erp_code = Some(" webguest ".into());
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &[])),
        ("WEB00029", "new")
    );
    // Their own account in the note is still followed.
    o.customer.erp_code = Some("CL00004".into());
    assert_eq!(
        found_by(&resolve_customer(&o, &s, &[])),
        ("CL00004", "shop-link")
    );
}

#[test]
fn shared_accounts_are_never_written_back_to_a_shop_customer() {
    use passerelle_domain::orders::customer::code_to_write_back;
    let mut s = settings();
    s.customers.guest_account = Some("WEBGUEST".into());
    let mut amazon = pay_rule("amazon", None, "AMZ");
    amazon.forced_customer = Some("WEBAMAZON".into());
    s.payments.push(amazon);
    let mut guest = order();
    guest.customer.is_guest = true;
    assert_eq!(code_to_write_back(&guest, &s, "WEBGUEST"), None);
    let o = order();
    assert_eq!(code_to_write_back(&o, &s, "WEBAMAZON"), None);
    assert_eq!(
        code_to_write_back(&o, &s, "WEB00029"),
        Some("WEB00029".into())
    );
    let mut linked = order();
    linked.customer.erp_code = Some("WEB00029".into());
    assert_eq!(code_to_write_back(&linked, &s, "WEB00029"), None, "held");
    s.customers.numbering = AccountNumbering::Single {
        code: "WEBCLIENTS".into(),
    };
    assert_eq!(code_to_write_back(&o, &s, "WEBCLIENTS"), None);
}

// ------------------------------------------------------------------------------------------
// The import plan (domain::orders::plan) as given / when / then
// ------------------------------------------------------------------------------------------

mod plan_given_when_then {
    use super::*;
    use passerelle_domain::orders::grouping::{GroupScope, GroupingSettings};
    use passerelle_domain::orders::plan::*;
    use std::collections::BTreeSet;

    fn today() -> chrono::NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    fn order_of(id: &str, customer: &str) -> ShopOrder {
        let mut o = order();
        o.id = id.into();
        o.reference = format!("REF{id}");
        o.customer.id = customer.into();
        o
    }

    fn cx<'a>(s: &'a OrderSettings, items: &'a BTreeMap<String, ErpItem>) -> PlanContext<'a> {
        PlanContext {
            settings: s,
            items,
            customers: &[],
            today: today(),
            send_customer_code: true,
        }
    }

    fn ignored(why: &str) -> OrderOutcome {
        OrderOutcome::Ignored(why.into())
    }

    #[test]
    fn given_a_page_when_triaged_then_orders_that_cannot_go_on_have_their_outcome() {
        // Given: an unreadable order, one already transferred, one in a status not selected, one
        // without lines, and two good ones.
        let transferred_one = order_of("2", "29");
        let mut other_status = order_of("3", "29");
        other_status.state_id = "9".into();
        let mut no_lines = order_of("4", "29");
        no_lines.lines.clear();
        let (good_a, good_b) = (order_of("5", "29"), order_of("6", "30"));
        let page = [
            PageOrder::Unreadable {
                id: "1",
                reason: "commande 1 : données illisibles",
            },
            PageOrder::Read(&transferred_one),
            PageOrder::Read(&other_status),
            PageOrder::Read(&no_lines),
            PageOrder::Read(&good_a),
            PageOrder::Read(&good_b),
        ];
        let transferred = BTreeSet::from(["2".to_string()]);
        // When
        let t = triage(&page, &transferred, &settings());
        // Then
        let candidates: Vec<&str> = t.candidates.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(candidates, vec!["5", "6"]);
        assert_eq!(
            t.outcomes,
            BTreeMap::from([
                (
                    "1".to_string(),
                    OrderOutcome::Failed("commande 1 : données illisibles".into())
                ),
                (
                    "2".to_string(),
                    ignored("déjà transférée (already transferred)")
                ),
                (
                    "3".to_string(),
                    ignored("statut 9 non sélectionné (status not selected)")
                ),
                (
                    "4".to_string(),
                    OrderOutcome::Failed("commande sans ligne (order without lines)".into())
                ),
            ])
        );
        // The items of the page are every order, in page order, labelled by reference.
        let items: Vec<(String, String)> = page_items(&page, &t.outcomes)
            .into_iter()
            .map(|i| (i.id, i.label))
            .collect();
        assert_eq!(items[0], ("1".into(), "1".into()), "unreadable: its id");
        assert_eq!(items[5], ("6".into(), "REF6".into()));
    }

    #[test]
    fn given_candidates_when_planned_then_documents_customers_and_day_orders() {
        // Given: two orders of one new customer, an order with an unknown reference (misc. off),
        // and guest orders grouped per day — one of a past day, one of today.
        let mut s = settings();
        s.misc_for_unknown = false;
        s.grouping = Some(GroupingSettings {
            scope: GroupScope::Guests,
            account: "VENTESWEB".into(),
            account_name: "VENTES WEB".into(),
            group_lines: false,
            group_payments: false,
        });
        let (a, b) = (order_of("10", "29"), order_of("11", "29"));
        let mut unknown = order_of("12", "31");
        unknown.lines[0].reference = "NOPE".into();
        let mut past_guest = order_of("13", "40");
        past_guest.customer.is_guest = true;
        let mut today_guest = order_of("14", "41");
        today_guest.customer.is_guest = true;
        today_guest.created_at =
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2024, 10, 1, 9, 0, 0).unwrap();
        let page = [&a, &b, &unknown, &past_guest, &today_guest].map(PageOrder::Read);
        let items = items();
        // When
        let plan = plan_documents(triage(&page, &BTreeSet::new(), &s), &cx(&s, &items));
        // Then: two documents to write, one customer record for both (created once).
        let written: Vec<(&str, &str, Option<&str>)> = plan
            .to_write
            .iter()
            .map(|d| {
                (
                    d.order.id.as_str(),
                    d.document.customer_code.as_str(),
                    d.code_back.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            written,
            vec![
                ("10", "WEB00029", Some("WEB00029")),
                ("11", "WEB00029", Some("WEB00029"))
            ]
        );
        let (customers, documents) = plan.batch();
        assert_eq!(customers.len(), 1);
        assert_eq!(customers[0].code, "WEB00029");
        assert_eq!(documents.len(), 2);
        // The past guest order waits for its day document; today's is not grouped yet.
        assert_eq!(plan.grouped.len(), 1);
        assert_eq!(plan.grouped[0].id, "13");
        assert_eq!(plan.outcomes["13"], OrderOutcome::Grouped);
        assert_eq!(
            plan.outcomes["14"],
            ignored("regroupement par jour : la journée du 01/10/2024 n'est pas terminée, commande reprise demain (day not ended yet)")
        );
        assert_eq!(
            plan.outcomes["12"],
            OrderOutcome::Failed("référence inconnue dans l'ERP : NOPE (unknown reference)".into())
        );
        // Orders kept for a day document are not items of the page.
        let ids: Vec<String> = page_items(&page, &plan.outcomes)
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, vec!["10", "11", "12", "14"]);
    }

    #[test]
    fn given_a_grant_short_of_the_page_when_granted_then_the_rest_is_ignored_with_why() {
        let s = settings();
        let orders = [
            order_of("1", "29"),
            order_of("2", "30"),
            order_of("3", "31"),
        ];
        let page: Vec<PageOrder<'_>> = orders.iter().map(PageOrder::Read).collect();
        let items = items();
        let mut plan = plan_documents(triage(&page, &BTreeSet::new(), &s), &cx(&s, &items));
        assert_eq!(plan.units_wanted(), 3);
        // When: one unit granted, no reason given by the quotas.
        plan.grant(1, None);
        // Then
        assert_eq!(plan.to_write.len(), 1);
        assert_eq!(
            plan.outcomes["2"],
            ignored("quota épuisé (quota exhausted)")
        );
        assert_eq!(
            plan.outcomes["3"],
            ignored("quota épuisé (quota exhausted)")
        );
        // A reason from the quotas is kept as given.
        plan.grant(0, Some("abonnement suspendu".into()));
        assert_eq!(plan.outcomes["1"], ignored("abonnement suspendu"));
    }

    #[test]
    fn given_the_erp_answer_when_settled_then_links_write_backs_and_refusals() {
        // Given: three orders, two of one customer; the ERP already held the first, created the
        // second and refused the third.
        let mut s = settings();
        let orders = [
            order_of("1", "29"),
            order_of("2", "29"),
            order_of("3", "30"),
        ];
        s.statuses[0].set_shop_state = Some("3".into());
        let page: Vec<PageOrder<'_>> = orders.iter().map(PageOrder::Read).collect();
        let items = items();
        let plan = plan_documents(triage(&page, &BTreeSet::new(), &s), &cx(&s, &items));
        let doc = |web: &str, number: &str| LinkedDocument {
            web_order: web.into(),
            number: number.into(),
            kind: DocumentKind::Order,
        };
        let result = ImportResult {
            documents: vec![doc("1", "CM00007"), doc("2", "CM00008")],
            already_there: BTreeSet::from(["1".to_string()]),
            rejected: BTreeMap::from([("3".to_string(), "Client inconnu : WEB00030".to_string())]),
        };
        // When
        let settled = plan.settle(&result);
        // Then: the two documents are linked, the write-backs planned, the refusal explained.
        let links: Vec<(&str, &str)> = settled
            .links
            .iter()
            .map(|l| (l.order_id.as_str(), l.document_number.as_str()))
            .collect();
        assert_eq!(links, vec![("1", "CM00007"), ("2", "CM00008")]);
        let OrderOutcome::Written(first) = &settled.outcomes["1"] else {
            panic!("{:?}", settled.outcomes["1"])
        };
        assert_eq!(
            first.message("1"),
            "commande 1 → document CM00007 (WEB00029) — déjà présent dans l'ERP, relié sans doublon"
        );
        assert_eq!(first.set_state.as_deref(), Some("3"));
        assert_eq!(
            first.code_back,
            Some(CustomerCodeBack {
                shop_customer_id: "29".into(),
                code: "WEB00029".into()
            })
        );
        let OrderOutcome::Written(second) = &settled.outcomes["2"] else {
            panic!("{:?}", settled.outcomes["2"])
        };
        assert_eq!(
            second.message("2"),
            "commande 2 → document CM00008 (WEB00029)"
        );
        assert_eq!(
            second.code_back, None,
            "the account number goes back once per customer"
        );
        assert_eq!(
            settled.outcomes["3"],
            OrderOutcome::Failed("refusée par l'ERP : Client inconnu : WEB00030".into())
        );
        // The stock of the written orders' articles goes back to the shop.
        let known = KnownItems {
            items: items.clone(),
            unknown: BTreeSet::new(),
        };
        assert_eq!(
            stock_references(&page, &settled.outcomes, &known),
            BTreeSet::from(["MUG-01".to_string(), "TSHIRT-BL".to_string()])
        );
    }

    #[test]
    fn given_day_orders_when_grouped_granted_and_settled_then_one_document_per_day() {
        // Given: guest orders of two past days kept aside by the pages.
        let mut s = settings();
        s.grouping = Some(GroupingSettings {
            scope: GroupScope::Guests,
            account: "VENTESWEB".into(),
            account_name: "VENTES WEB".into(),
            group_lines: true,
            group_payments: true,
        });
        let mut orders = Vec::new();
        for (id, d) in [("21", 9), ("20", 9), ("30", 10)] {
            let mut o = order_of(id, "40");
            o.customer.is_guest = true;
            o.created_at =
                chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2024, 9, d, 12, 0, 0).unwrap();
            orders.push(o);
        }
        let page: Vec<PageOrder<'_>> = orders.iter().map(PageOrder::Read).collect();
        let items = items();
        let kept = plan_documents(triage(&page, &BTreeSet::new(), &s), &cx(&s, &items)).grouped;
        // When: room for the first day only.
        let mut groups = GroupPlan::new(kept, &s).unwrap();
        assert_eq!(groups.units_wanted(), 3);
        groups.grant(2, None);
        let documents = groups.documents();
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0].atoosync_order, "J20240909-20");
        assert_eq!(documents[0].customer_code, "VENTESWEB");
        assert_eq!(
            documents[0].expected_total_tax_incl,
            rust_decimal_macros::dec!(96.00)
        );
        let settled = groups.settle(&ImportResult {
            documents: vec![LinkedDocument {
                web_order: "J20240909-20".into(),
                number: "CM00042".into(),
                kind: DocumentKind::Order,
            }],
            ..ImportResult::default()
        });
        // Then: both orders of the day are linked to its document; the other day waits.
        let links: Vec<(&str, &str)> = settled
            .links
            .iter()
            .map(|l| (l.order_id.as_str(), l.document_number.as_str()))
            .collect();
        assert_eq!(links, vec![("20", "CM00042"), ("21", "CM00042")]);
        let OrderOutcome::Written(wb) = &settled.outcomes["20"] else {
            panic!("{:?}", settled.outcomes["20"])
        };
        assert_eq!(
            wb.message("20"),
            "commande 20 → document du jour CM00042 (VENTESWEB)"
        );
        assert_eq!(wb.code_back, None, "a shared account is never written back");
        assert_eq!(
            settled.outcomes["30"],
            ignored("quota épuisé (quota exhausted)")
        );
        let items: Vec<&str> = settled.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(items, vec!["20", "21", "30"], "every kept order, by number");
    }
}
