//! EBP import models read from the folder (issue 19 part 1) against the simulator: the
//! client reads `EbpSysGenericImportSettings` through GenericQuery, refuses a missing or
//! wrong-category model before sending anything, writes the files to the model's
//! definition (golden file, byte for byte), falls back to the profile's format when the
//! definition cannot be read, and both encodings carry é, ç, œ, € through the simulator's
//! own parser.

use chrono::NaiveDate;
use passerelle_adapters::ebp::models::FormatSource;
use passerelle_adapters::ebp::{EbpClient, EbpConfig, MemoryGate, MemoryTokenStore};
use passerelle_adapters::mail::Secret;
use passerelle_domain::orders::{
    Address, CustomerRecord, DocumentKind, DocumentLine, ErpDocument, LineKind,
};
use passerelle_domain::profile::{FileEncoding, ImportFileFormat};
use passerelle_simulators::ebp::sim_models::{category_id, SimModelFormat};
use passerelle_simulators::ebp::{EbpSim, EbpSimConfig, SimCustomer, SimEncoding, SimModel};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::ImportBatch;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;

const REDIRECT: &str = "http://localhost:3333";

fn config(sim: &EbpSim) -> EbpConfig {
    let c = sim.config();
    EbpConfig::new(
        c.client_id.clone(),
        Secret::new(c.client_secret.clone()),
        Secret::new(c.subscription_key.clone()),
        c.folders[0].0.clone(),
        "conn-models",
    )
    .with_bases(&sim.url(), &sim.url())
}

async fn login(sim: &EbpSim, cfg: EbpConfig) -> EbpClient {
    let c = EbpClient::new(
        cfg,
        Arc::new(MemoryGate::new(Duration::ZERO, 10_000)),
        Arc::new(MemoryTokenStore::new()),
    )
    .expect("client");
    let code = sim.authorize(REDIRECT);
    c.exchange_code(&code, REDIRECT).await.expect("login");
    c
}

async fn setup() -> (EbpSim, EbpClient) {
    let sim = EbpSim::start(EbpSimConfig {
        rate_limit: false,
        ..EbpSimConfig::default()
    })
    .await
    .expect("sim");
    sim.seed_items(&[("LAMPE", "Lampe", 3), ("TAPI-GRIS", "Tapis gris", 12)]);
    sim.seed_customers(&[SimCustomer::new("C00001", "ACME")]);
    let c = login(&sim, config(&sim)).await;
    (sim, c)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn address() -> Address {
    Address {
        firstname: "Jean".into(),
        lastname: "Dupont".into(),
        address1: "1 rue de la Paix".into(),
        postcode: "75002".into(),
        city: "Besançon".into(),
        country_iso: "FR".into(),
        ..Address::default()
    }
}

fn line(item: &str, label: &str, qty: &str, price: &str, discount: &str) -> DocumentLine {
    DocumentLine {
        kind: LineKind::Product,
        item_id: item.into(),
        description: label.into(),
        quantity: dec(qty),
        unit_price: dec(price),
        discount_percent: dec(discount),
        vat_code: "TN".into(),
        vat_rate: dec("20"),
        lot: None,
    }
}

fn order(web: &str, customer: &str, lines: Vec<DocumentLine>) -> ErpDocument {
    ErpDocument {
        kind: DocumentKind::Order,
        number: None,
        date: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        customer_code: customer.into(),
        customer_name: "ACME".into(),
        reference: String::new(),
        atoosync_order: web.into(),
        series: None,
        warehouse: None,
        accounting_category: "France".into(),
        currency: "EUR".into(),
        conversion_rate: None,
        shipping_id: None,
        shipping_amount_tax_excl: Decimal::ZERO,
        shipping_vat_code: None,
        shipping_vat_rate: Decimal::ZERO,
        delivery_date: None,
        tax_inclusive: false,
        erp_state: None,
        billing: address(),
        delivery: address(),
        lines,
        payments: vec![],
        expected_total_tax_incl: Decimal::ZERO,
        notes: vec![],
    }
}

fn batch(customers: Vec<CustomerRecord>, documents: Vec<ErpDocument>) -> ImportBatch {
    ImportBatch {
        customers,
        documents,
        only_files: None,
    }
}

/// A merchant's orders model: other captions, a subset of the columns, `"` qualifier,
/// decimal comma, Windows-1252.
fn merchant_orders_format() -> SimModelFormat {
    let cols = [
        ("Document - Date", "Date pièce"),
        ("Document - Code client", "Client"),
        ("Document - xx_atoosync_order", "Commande web"),
        ("Document - Référence", "Référence"),
        ("Document - Ligne - Code article", "Article"),
        ("Document - Ligne - Désignation", "Désignation"),
        ("Document - Ligne - Quantité", "Qté"),
        ("Document - Ligne - PV HT", "PU HT"),
        ("Document - Ligne - Remise %", "Remise %"),
        ("Document - Ligne - Code TVA", "TVA"),
    ];
    SimModelFormat {
        separator: ';',
        qualifier: Some('"'),
        decimal: ',',
        encoding: SimEncoding::Windows1252,
        date_format: "dd/MM/yyyy".into(),
        columns: cols
            .iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect(),
    }
}

fn generic_queries(sim: &EbpSim) -> usize {
    sim.calls()
        .iter()
        .filter(|c| c.path.ends_with("/GenericQuery"))
        .count()
}

#[tokio::test]
async fn files_follow_the_models_definition_byte_for_byte() {
    let (sim, c) = setup().await;
    sim.set_import_model(SimModel::new(
        "Passerelle - Commandes",
        "Orders.txt",
        merchant_orders_format(),
    ));
    let doc = order(
        "W4001",
        "C00001",
        vec![
            line("LAMPE", "Lampe « laiton » ; 2 €", "2", "12.50", "0"),
            line("TAPI-GRIS", "Tapis \"gris\" œil", "1.5", "89.99", "10"),
        ],
    );
    let outcome = c
        .import_batch(&batch(vec![], vec![doc]))
        .await
        .expect("import");
    assert_eq!(outcome.report.created.len(), 1, "{outcome:?}");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);

    let sent = &sim.imports()[0].files[0];
    assert_eq!(sent.0, "Orders.txt");
    let golden = include_bytes!("golden/orders-model-cp1252.txt");
    assert_eq!(
        sent.2,
        golden.to_vec(),
        "sent:\n{}",
        String::from_utf8_lossy(&sent.2)
    );
    // The simulator read it back through the model: values, not just bytes.
    let stored = &sim.documents()[0].document;
    assert_eq!(stored.lines[0].description, "Lampe « laiton » ; 2 €");
    assert_eq!(stored.lines[1].description, "Tapis \"gris\" œil");
    assert_eq!(stored.lines[1].quantity, dec("1.5"));
    assert_eq!(stored.lines[1].unit_price, dec("89.99"));
    assert_eq!(stored.lines[1].discount_percent, dec("10"));
}

#[tokio::test]
async fn a_renamed_model_is_named_and_nothing_is_sent() {
    let (sim, c) = setup().await;
    assert!(sim.rename_import_model("Passerelle - Commandes", "Commandes web 2026"));
    let checks = c.model_checks().await.expect("models read");
    let orders = checks
        .iter()
        .find(|k| k.file == "Orders.txt")
        .expect("orders check");
    let err = orders.outcome.as_ref().expect_err("refused");
    assert!(
        err.contains("« Passerelle - Commandes » introuvable"),
        "{err}"
    );
    assert!(
        err.contains("Orders.txt") && err.contains("Commandes web 2026"),
        "{err}"
    );
    assert!(checks
        .iter()
        .filter(|k| k.file != "Orders.txt")
        .all(|k| k.outcome.is_ok()));

    let doc = order(
        "W4002",
        "C00001",
        vec![line("LAMPE", "Lampe", "1", "5", "0")],
    );
    let err = c
        .import_batch(&batch(vec![], vec![doc]))
        .await
        .expect_err("refused before any upload");
    assert!(matches!(err, StepError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("Passerelle - Commandes"), "{err}");
    assert!(sim.imports().is_empty(), "nothing uploaded");
    assert!(sim.documents().is_empty());
}

#[tokio::test]
async fn a_model_of_another_category_is_refused_naming_both() {
    let (sim, c) = setup().await;
    let mut m = SimModel::new(
        "Passerelle - Commandes",
        "Orders.txt",
        SimModelFormat::default_for("Orders.txt"),
    );
    m.category_id = category_id("SaleInvoices").to_uppercase();
    sim.set_import_model(m);
    let checks = c.model_checks().await.expect("models read");
    let orders = checks
        .iter()
        .find(|k| k.file == "Orders.txt")
        .expect("check");
    let err = orders.outcome.as_ref().expect_err("wrong category");
    assert!(
        err.contains("Passerelle - Commandes")
            && err.contains("SaleInvoices")
            && err.contains("SaleOrders"),
        "{err}"
    );
}

#[tokio::test]
async fn both_encodings_round_trip_accents_through_the_simulators_parser() {
    for (sim_enc, name) in [
        (SimEncoding::Utf8, "UTF-8"),
        (SimEncoding::Windows1252, "Windows-1252"),
    ] {
        let (sim, c) = setup().await;
        for (file, model) in [
            ("Customers.txt", "Passerelle - Clients"),
            ("Adresses.txt", "Passerelle - Adresses"),
            ("Orders.txt", "Passerelle - Commandes"),
        ] {
            let mut f = SimModelFormat::default_for(file);
            f.encoding = sim_enc;
            sim.set_import_model(SimModel::new(model, file, f));
        }
        let text = "Crème brûlée façon œuf — 5 €";
        let customer = CustomerRecord {
            code: "C00009".into(),
            name: "Hélène Françoise Œuvre €".into(),
            firstname: "Hélène".into(),
            lastname: "Çelik".into(),
            email: "helene@example.com".into(),
            siret: None,
            vat_number: None,
            accounting_account: None,
            sales_rep: None,
            family: None,
            price_category: None,
            accounting_category: None,
            billing: address(),
            delivery: address(),
        };
        let doc = order("W4003", "C00009", vec![line("LAMPE", text, "1", "5", "0")]);
        let outcome = c
            .import_batch(&batch(vec![customer], vec![doc]))
            .await
            .expect("import");
        assert_eq!(outcome.report.created.len(), 1, "{name}: {outcome:?}");
        assert!(
            outcome.warnings.is_empty(),
            "{name}: {:?}",
            outcome.warnings
        );
        let imports = sim.imports();
        let raw = &imports.last().expect("upload").files[0].2;
        match sim_enc {
            SimEncoding::Utf8 => assert!(raw.starts_with(&[0xEF, 0xBB, 0xBF]), "{name}: BOM"),
            SimEncoding::Windows1252 => {
                assert!(std::str::from_utf8(raw).is_err(), "{name}: not UTF-8")
            }
        }
        let cust = sim
            .customers()
            .into_iter()
            .find(|c| c.code == "C00009")
            .expect("customer created");
        assert_eq!(cust.name, "Hélène Françoise Œuvre €", "{name}");
        assert_eq!(cust.lastname, "Çelik", "{name}");
        assert_eq!(cust.billing.city, "Besançon", "{name}");
        assert_eq!(
            sim.documents()[0].document.lines[0].description,
            text,
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_definition_falls_back_to_the_profiles_format() {
    let sim = EbpSim::start(EbpSimConfig {
        rate_limit: false,
        ..EbpSimConfig::default()
    })
    .await
    .expect("sim");
    sim.seed_items(&[("LAMPE", "Lampe", 3)]);
    sim.seed_customers(&[SimCustomer::new("C00001", "ACME")]);
    // A definition as EBP might really serialise it (unknown to the client); the folder
    // applies Windows-1252 and a decimal comma, which the profile states explicitly.
    let mut applied = SimModelFormat::default_for("Orders.txt");
    applied.encoding = SimEncoding::Windows1252;
    applied.decimal = ',';
    sim.set_import_model(SimModel::opaque(
        "Passerelle - Commandes",
        "Orders.txt",
        "<EbpImportEntity Version=\"3\"><Mappings/></EbpImportEntity>",
        applied,
    ));
    let mut cfg = config(&sim);
    cfg.format = ImportFileFormat {
        encoding: FileEncoding::Windows1252,
        decimal_separator: ",".into(),
        ..ImportFileFormat::default()
    };
    let c = login(&sim, cfg).await;
    let checks = c.model_checks().await.expect("read");
    let spec = checks
        .iter()
        .find(|k| k.file == "Orders.txt")
        .and_then(|k| k.outcome.as_ref().ok())
        .expect("usable");
    assert!(
        matches!(&spec.source, FormatSource::Profile(why) if why.contains("EbpImportEntity")),
        "{:?}",
        spec.source
    );
    let doc = order(
        "W4004",
        "C00001",
        vec![line("LAMPE", "Crème €", "1.5", "5.25", "0")],
    );
    let outcome = c
        .import_batch(&batch(vec![], vec![doc]))
        .await
        .expect("import");
    assert_eq!(outcome.report.created.len(), 1, "{outcome:?}");
    let stored = &sim.documents()[0].document;
    assert_eq!(stored.lines[0].quantity, dec("1.5"));
    assert_eq!(stored.lines[0].description, "Crème €");
}

#[tokio::test]
async fn the_models_are_read_once_per_client() {
    let (sim, c) = setup().await;
    sim.calls_reset();
    for web in ["W4005", "W4006"] {
        let doc = order(web, "C00001", vec![line("LAMPE", "Lampe", "1", "5", "0")]);
        c.import_batch(&batch(vec![], vec![doc]))
            .await
            .expect("import");
    }
    assert_eq!(generic_queries(&sim), 1, "{:?}", sim.calls());
    assert_eq!(sim.documents().len(), 2);
}
