//! EBP client against the in-process simulator: OAuth and rotating refresh tokens, paging,
//! WhereCondition, imports and idempotence, encoding, rate limits, budget and faults.

use chrono::Utc;
use passerelle_adapters::ebp::assumptions as a;
use passerelle_adapters::ebp::import_request::ImportShape;
use passerelle_adapters::ebp::{
    EbpClient, EbpConfig, MemoryGate, MemoryTokenStore, TokenStore, Where,
};
use passerelle_adapters::mail::Secret;
use passerelle_domain::orders::{
    Address, CustomerRecord, DocumentKind, DocumentLine, DocumentPayment, ErpDocument, LineKind,
};
use passerelle_simulators::ebp::{
    EbpSim, EbpSimConfig, Fault, SimCustomer, SimEncoding, SimModel, SimModelFormat,
};
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{CustomerKeys, Erp, ImportBatch, ImportPoll};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REDIRECT: &str = "http://localhost:3333";

fn sim_config() -> EbpSimConfig {
    EbpSimConfig {
        rate_limit: false,
        ..EbpSimConfig::default()
    }
}

fn free_gate() -> Arc<MemoryGate> {
    Arc::new(MemoryGate::new(Duration::ZERO, 10_000))
}

fn config(sim: &EbpSim, connection: &str) -> EbpConfig {
    let c = sim.config();
    EbpConfig::new(
        c.client_id.clone(),
        Secret::new(c.client_secret.clone()),
        Secret::new(c.subscription_key.clone()),
        c.folders[0].0.clone(),
        connection,
    )
    .with_bases(&sim.url(), &sim.url())
}

fn client(sim: &EbpSim, gate: Arc<MemoryGate>, tokens: Arc<MemoryTokenStore>) -> EbpClient {
    EbpClient::new(config(sim, "conn-1"), gate, tokens).expect("client")
}

/// A simulator, a logged-in client and its token store.
async fn setup(cfg: EbpSimConfig) -> (EbpSim, EbpClient, Arc<MemoryTokenStore>) {
    let sim = EbpSim::start(cfg).await.expect("sim");
    let tokens = Arc::new(MemoryTokenStore::new());
    let c = client(&sim, free_gate(), tokens.clone());
    let code = sim.authorize(REDIRECT);
    c.exchange_code(&code, REDIRECT).await.expect("login");
    (sim, c, tokens)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn address(city: &str) -> Address {
    Address {
        firstname: "Jean".into(),
        lastname: "Dupont".into(),
        address1: "1 rue de la Paix".into(),
        postcode: "75002".into(),
        city: city.into(),
        country_iso: "FR".into(),
        ..Address::default()
    }
}

fn order(web: &str, customer: &str, lines: &[(&str, &str, &str, &str)]) -> ErpDocument {
    ErpDocument {
        kind: DocumentKind::Order,
        number: None,
        date: Utc::now().date_naive(),
        customer_code: customer.into(),
        customer_name: format!("Client {customer}"),
        reference: String::new(),
        atoosync_order: web.into(),
        series: Some("WB".into()),
        warehouse: Some("DEP1".into()),
        accounting_category: "France".into(),
        currency: "EUR".into(),
        conversion_rate: None,
        shipping_id: Some("COLI".into()),
        shipping_amount_tax_excl: dec("4.90"),
        shipping_vat_code: Some("TN".into()),
        shipping_vat_rate: Decimal::ZERO,
        delivery_date: None,
        tax_inclusive: false,
        erp_state: None,
        billing: address("Paris"),
        delivery: address("Lyon"),
        lines: lines
            .iter()
            .map(|(item, label, qty, price)| DocumentLine {
                kind: LineKind::Product,
                item_id: (*item).into(),
                description: (*label).into(),
                quantity: dec(qty),
                unit_price: dec(price),
                discount_percent: Decimal::ZERO,
                vat_code: "TN".into(),
                vat_rate: dec("20"),
                lot: None,
            })
            .collect(),
        payments: vec![DocumentPayment {
            date: Utc::now().date_naive(),
            amount: dec("10"),
            settlement_mode: "CPT".into(),
            payment_mode: "CB".into(),
            bank_account: "512000".into(),
            label: format!("Jean DUPONT - {web}"),
            is_gap: false,
        }],
        expected_total_tax_incl: Decimal::ZERO,
        notes: vec![],
    }
}

fn new_customer(code: &str, name: &str) -> CustomerRecord {
    CustomerRecord {
        code: code.into(),
        name: name.into(),
        firstname: "Jean".into(),
        lastname: "Dupont".into(),
        email: format!("{}@example.com", code.to_lowercase()),
        siret: None,
        vat_number: None,
        accounting_account: None,
        sales_rep: None,
        family: None,
        price_category: None,
        accounting_category: None,
        billing: address("Paris"),
        delivery: address("Lyon"),
    }
}

fn seed_catalogue(sim: &EbpSim) {
    sim.seed_items(&[
        ("TAPI-GRIS", "Tapis gris", 12),
        ("LAMPE", "Lampe de chevet", 3),
        ("VASE", "Vase bleu", 0),
    ]);
    sim.seed_customers(&[
        SimCustomer::new("C00001", "ACME").email("acme@example.com"),
        SimCustomer::new("C00002", "Dupont SARL")
            .siret("12345678900012")
            .vat("FR12345678901"),
    ]);
}

fn retry_after_of(e: &StepError) -> Option<Duration> {
    match e {
        StepError::Transient { retry_after, .. } => *retry_after,
        StepError::Permanent(_) => None,
    }
}

#[tokio::test]
async fn oauth_code_exchange_through_the_login_redirect() {
    let sim = EbpSim::start(sim_config()).await.expect("sim");
    let tokens = Arc::new(MemoryTokenStore::new());
    let c = client(&sim, free_gate(), tokens.clone());
    let url = c.authorize_url(REDIRECT, "st4te");
    assert!(url.contains("response_type=code") && url.contains("client_id=sim-client"));
    assert!(url.contains("scope=openid%20profile%20offline_access"));

    // The merchant logs in: EBP redirects to our redirect URI with a code.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let resp = http.get(&url).send().await.expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(location.starts_with(REDIRECT) && location.ends_with("state=st4te"));
    let code = location
        .split("code=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .expect("code");

    let pair = c.exchange_code(code, REDIRECT).await.expect("exchange");
    assert_eq!(pair.version, 1);
    assert!(
        format!("{pair:?}").find(&pair.access_token).is_none(),
        "tokens never printed"
    );
    let folder = c.test_connection().await.expect("test connection");
    assert_eq!(folder.id, "298324");
    // A code is single-use.
    assert!(matches!(
        c.exchange_code(code, REDIRECT).await,
        Err(StepError::Permanent(_))
    ));
}

#[tokio::test]
async fn refreshes_shortly_before_expiry() {
    let sim = EbpSim::start(EbpSimConfig {
        access_ttl: Duration::from_secs(3),
        ..sim_config()
    })
    .await
    .expect("sim");
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut cfg = config(&sim, "conn-1");
    cfg.refresh_margin = Duration::from_secs(2);
    let c = EbpClient::new(cfg, free_gate(), tokens.clone()).expect("client");
    c.exchange_code(&sim.authorize(REDIRECT), REDIRECT)
        .await
        .expect("login");
    c.folders().await.expect("first call");
    assert_eq!(sim.token_grants(), (1, 0), "still valid: no refresh");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.folders().await.expect("second call");
    assert_eq!(sim.token_grants(), (1, 1), "refreshed before expiry");
    assert!(
        sim.calls().iter().all(|call| call.status == 200),
        "never a 401"
    );
    assert_eq!(
        tokens
            .current("conn-1")
            .await
            .expect("store")
            .map(|p| p.version),
        Some(2)
    );
}

#[tokio::test]
async fn a_401_refreshes_once_and_replays_and_old_refresh_tokens_are_rejected() {
    let (sim, c, tokens) = setup(sim_config()).await;
    let first = tokens
        .current("conn-1")
        .await
        .expect("store")
        .expect("pair");
    sim.expire_access_tokens();
    c.folders().await.expect("replayed after refresh");
    let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![401, 200]);
    assert_eq!(sim.token_grants().1, 1);

    // The rotated-out refresh token is refused by the login server.
    let resp = reqwest::Client::new()
        .post(format!("{}/connect/token", sim.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first.refresh_token.as_str()),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ])
        .send()
        .await
        .expect("token call");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.expect("body").contains("invalid_grant"));
    assert_eq!(sim.rejected_refresh_count(), 1);
}

#[tokio::test]
async fn two_workers_refreshing_at_once_refresh_once() {
    // Tokens live 30 s, under the 60 s margin: every worker wants a refresh.
    let (sim, c1, tokens) = setup(EbpSimConfig {
        access_ttl: Duration::from_secs(30),
        ..sim_config()
    })
    .await;
    let c2 = client(&sim, free_gate(), tokens.clone());
    let (r1, r2) = tokio::join!(c1.folders(), c2.folders());
    r1.expect("worker 1");
    r2.expect("worker 2");
    let (_, refreshes) = sim.token_grants();
    assert!(refreshes >= 1);
    assert_eq!(
        sim.rejected_refresh_count(),
        0,
        "no refresh token used twice"
    );
    // The second worker found the version it saw replaced and used the stored pair.
    assert_eq!(refreshes, 1, "one refresh for two concurrent workers");
}

#[tokio::test]
async fn pages_through_250_customers_100_at_a_time() {
    let (sim, c, _) = setup(sim_config()).await;
    let customers: Vec<SimCustomer> = (1..=250)
        .map(|i| SimCustomer::new(&format!("C{i:05}"), &format!("Client {i}")))
        .collect();
    sim.seed_customers(&customers);
    let rows = c
        .generic_query("Customer", &["Id", "Name"], None, "Id", None)
        .await
        .expect("query");
    assert_eq!(rows.len(), 250);
    assert_eq!(rows[0]["Id"], "C00001");
    assert_eq!(rows[249]["Id"], "C00250");
    assert_eq!(
        rows[0].as_object().map(|o| o.len()),
        Some(2),
        "columns projected"
    );
    assert_eq!(sim.calls().len(), 3, "pages of 100, 100, 50");

    let ext = c
        .customers_extended(&["Id"], None, None)
        .await
        .expect("extended query");
    assert_eq!(ext.len(), 250);
}

#[tokio::test]
async fn where_condition_in_filters_items_customers_and_stock() {
    let (sim, c, _) = setup(sim_config()).await;
    seed_catalogue(&sim);
    sim.seed_stock("TAPI-GRIS", "DEP2", dec("5"));

    let items = c
        .items_by_references(&["LAMPE".into(), "TAPI-GRIS".into(), "INCONNU".into()])
        .await
        .expect("items");
    let mut ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["LAMPE", "TAPI-GRIS"]);
    assert_eq!(
        items
            .iter()
            .find(|i| i.id == "LAMPE")
            .map(|i| i.caption.as_str()),
        Some("Lampe de chevet")
    );

    let before = sim.calls().len();
    let found = c
        .find_customers(&CustomerKeys {
            sirets: vec!["123 456 789 00012".into()],
            emails: vec!["acme@example.com".into()],
            vats: vec!["FR12345678901".into()],
        })
        .await
        .expect("customers");
    assert_eq!(
        sim.calls().len() - before,
        1,
        "the three kinds of key in one query (Or)"
    );
    let mut codes: Vec<_> = found.iter().map(|c| c.code.as_str()).collect();
    codes.sort();
    assert_eq!(codes, vec!["C00001", "C00002"], "no duplicate");
    let by_siret = found.iter().find(|c| c.code == "C00002").expect("C00002");
    assert_eq!(by_siret.siret.as_deref(), Some("12345678900012"));

    let all = c
        .stock_levels(&["TAPI-GRIS".into(), "VASE".into(), "NONE".into()], &[])
        .await
        .expect("stock");
    assert_eq!(all[0].quantity, dec("17"));
    assert_eq!(all[1].quantity, Decimal::ZERO);
    assert_eq!(all[2].quantity, Decimal::ZERO);
    let dep2 = c
        .stock_levels(&["TAPI-GRIS".into()], &["DEP2".into()])
        .await
        .expect("stock DEP2");
    assert_eq!(dep2[0].quantity, dec("5"));

    // The raw builder: Or of In and Like.
    let w = Where::in_strings("Id", &["VASE"]).or(Where::like("Caption", "lampe%"));
    let rows = c
        .generic_query("Item", &["Id"], Some(&w), "Id", None)
        .await
        .expect("or query");
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn imports_three_orders_in_one_call_and_rejects_the_unknown_customer() {
    let (sim, _, tokens) = setup(sim_config()).await;
    // The all-files shape (profile `import_shape = "all-files"`).
    let mut cfg = config(&sim, "conn-1");
    cfg.import_shape = ImportShape::AllFiles;
    let c = EbpClient::new(cfg, free_gate(), tokens).expect("client");
    seed_catalogue(&sim);
    let batch = ImportBatch {
        customers: vec![new_customer("WEB00003", "Martin")],
        documents: vec![
            order(
                "W1001",
                "C00001",
                &[
                    ("TAPI-GRIS", "Tapis", "2", "49.5"),
                    ("LAMPE", "Lampe", "1", "19.9"),
                ],
            ),
            order("W1002", "WEB00003", &[("VASE", "Vase", "1", "12")]),
            order("W1003", "ZZZ", &[("VASE", "Vase", "1", "12")]),
        ],
        only_files: None,
    };
    // The folder's import models are read once per client (run), before the first upload.
    c.model_checks().await.expect("models");
    let before = sim.calls().len();
    let outcome = c.import_batch(&batch).await.expect("import");
    assert_eq!(
        sim.calls().len() - before,
        1,
        "one API call for the whole batch"
    );
    let report = outcome.report;
    assert_eq!(outcome.status, a::STATUS_COMPLETED_WITH_ERRORS);

    let created: Vec<_> = report
        .created
        .iter()
        .map(|d| (d.atoosync_order.as_str(), d.number.as_str(), d.kind))
        .collect();
    assert_eq!(
        created,
        vec![
            ("W1001", "CM00001", DocumentKind::Order),
            ("W1002", "CM00002", DocumentKind::Order)
        ]
    );
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, "W1003");
    assert!(
        report.rejected[0].1.contains("client inconnu : ZZZ"),
        "{:?}",
        report.rejected
    );
    let names: Vec<_> = report.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "Customers.txt",
            "Adresses.txt",
            "Orders.txt",
            "Payments.txt"
        ]
    );
    let orders_file = &report.files[2].content;
    // The default format (the demo folder's models): no qualifier, `;`.
    assert!(orders_file.starts_with("Document - Numéro du document;Document - Date;"));
    assert_eq!(
        orders_file.lines().count(),
        1 + 4,
        "header + one row per line"
    );

    let docs = sim.documents();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].number, "CM00001");
    assert_eq!(docs[0].atoosync_order.as_deref(), Some("W1001"));
    assert_eq!(docs[0].reference, "Document importé n° W1001");
    assert_eq!(docs[0].document.lines.len(), 2);
    assert_eq!(docs[0].document.lines[0].unit_price, dec("49.5"));
    assert_eq!(docs[0].document.payments.len(), 1);
    assert_eq!(docs[0].document.billing.city, "Paris");
    assert!(sim
        .customers()
        .iter()
        .any(|c| c.code == "WEB00003" && c.delivery.city == "Lyon"));

    // WithLines shows the lines.
    let rows = c
        .sale_documents_with_lines(30, Some(4), None, None)
        .await
        .expect("with lines");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["Lines"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn reimport_is_avoided_through_documents_for_web_orders() {
    let (sim, c, _) = setup(sim_config()).await;
    seed_catalogue(&sim);
    let batch = ImportBatch {
        customers: vec![],
        documents: vec![order("W2001", "C00001", &[("VASE", "Vase", "1", "12")])],
        only_files: None,
    };
    c.import(&batch).await.expect("import");
    // An older document imported without the custom field: EBP's reference convention.
    let legacy = sim.seed_document(
        order("W1999", "C00001", &[("VASE", "Vase", "1", "12")]),
        "Document importé n° W1999 (prix article différent)",
        None,
    );

    let wanted: Vec<String> = ["W2001", "W1999", "W2002"].map(String::from).to_vec();
    let before = sim.calls().len();
    let found = c.documents_for_web_orders(&wanted).await.expect("look-up");
    assert_eq!(sim.calls().len() - before, 1, "one query for both keys");
    let mut got: Vec<_> = found
        .iter()
        .map(|d| (d.atoosync_order.clone(), d.number.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("W1999".into(), legacy),
            ("W2001".to_string(), "CM00001".to_string())
        ]
    );
    // The workflow imports only what is missing: W2002.
    let missing: Vec<_> = wanted
        .iter()
        .filter(|w| !found.iter().any(|d| &d.atoosync_order == *w))
        .collect();
    assert_eq!(missing, vec!["W2002"]);
}

#[tokio::test]
async fn windows_1252_round_trip_with_accents_euro_and_replacement() {
    let (sim, c, _) = setup(sim_config()).await;
    seed_catalogue(&sim);
    // The folder's orders model reads Windows-1252 (its definition says so).
    let mut f = SimModelFormat::default_for("Orders.txt");
    f.encoding = SimEncoding::Windows1252;
    sim.set_import_model(SimModel::new("Passerelle - Commandes", "Orders.txt", f));
    let mut doc = order(
        "W3001",
        "C00001",
        &[("LAMPE", "Crème brûlée façon « maison » — 5 € 😀", "1", "5")],
    );
    doc.billing.city = "Besançon".into();
    let outcome = c
        .import_batch(&ImportBatch {
            customers: vec![],
            documents: vec![doc],
            only_files: None,
        })
        .await
        .expect("import");
    assert_eq!(outcome.report.created.len(), 1);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[0].contains("😀") && outcome.warnings[0].contains("Orders.txt ligne 2")
    );

    let stored = &sim.documents()[0].document;
    assert_eq!(
        stored.lines[0].description,
        "Crème brûlée façon « maison » — 5 € ?"
    );
    assert_eq!(stored.billing.city, "Besançon");
    let raw = &sim.imports()[0].files[0].2;
    assert!(raw.contains(&0x80), "€ is 0x80 in Windows-1252");
    assert!(raw.contains(&0xE7), "ç is 0xE7");
    assert!(std::str::from_utf8(raw).is_err(), "not UTF-8");
}

#[tokio::test]
async fn http_429_is_transient_with_retry_after() {
    let (sim, c, _) = setup(sim_config()).await;
    sim.queue_faults([
        Fault::TooManyRequests {
            retry_after: Some(7),
        },
        Fault::TooManyRequests { retry_after: None },
    ]);
    let e = c.folders().await.expect_err("429");
    assert_eq!(retry_after_of(&e), Some(Duration::from_secs(7)));
    let e = c.folders().await.expect_err("429 without header");
    assert_eq!(
        retry_after_of(&e),
        Some(Duration::from_secs(1)),
        "1 s by default"
    );
    c.folders().await.expect("then fine");
}

#[tokio::test]
async fn the_gate_keeps_one_call_per_interval() {
    let interval = Duration::from_millis(100);
    // The gate spaces the *sends* by `interval`; the simulator sees *arrivals*, which a loaded
    // machine (tests share two cores with builds) delays unevenly by tens of milliseconds. It
    // refuses arrivals closer than 40 ms: a paced call never comes that close to the previous
    // one, an unpaced one always does (the same margin as production's 1 s + 60 ms).
    let sim = EbpSim::start(EbpSimConfig {
        rate_limit: true,
        min_interval: Duration::from_millis(40),
        rate_tolerance: Duration::ZERO,
        ..EbpSimConfig::default()
    })
    .await
    .expect("sim");
    let tokens = Arc::new(MemoryTokenStore::new());
    let gate = Arc::new(MemoryGate::new(interval, 10_000));
    let c1 = client(&sim, gate.clone(), tokens.clone());
    let c2 = client(&sim, gate.clone(), tokens.clone());
    c1.exchange_code(&sim.authorize(REDIRECT), REDIRECT)
        .await
        .expect("login");

    let started = Instant::now();
    for _ in 0..5 {
        c1.folders().await.expect("paced call");
    }
    assert!(started.elapsed() >= interval * 4, "{:?}", started.elapsed());

    // Two workers sharing the gate stay paced too.
    tokio::join!(
        async {
            for _ in 0..3 {
                c1.folders().await.expect("worker 1");
            }
        },
        async {
            for _ in 0..3 {
                c2.folders().await.expect("worker 2");
            }
        }
    );
    assert_eq!(sim.calls().len(), 11);
    assert_eq!(sim.rate_rejections(), 0);
    assert_eq!(sim.max_calls_in_window(sim.config().min_interval), 1);

    // Without the gate, the simulator answers 429.
    let ungated = client(&sim, free_gate(), tokens.clone());
    let r = tokio::join!(
        ungated.folders(),
        ungated.folders(),
        ungated.folders(),
        ungated.folders()
    );
    assert!(r.0.is_err() || r.1.is_err() || r.2.is_err() || r.3.is_err());
    assert!(sim.rate_rejections() >= 1);
}

#[tokio::test]
async fn an_exhausted_daily_budget_stops_the_run_with_the_reason() {
    let sim = EbpSim::start(sim_config()).await.expect("sim");
    let gate = Arc::new(MemoryGate::new(Duration::ZERO, 2));
    let c = client(&sim, gate.clone(), Arc::new(MemoryTokenStore::new()));
    c.exchange_code(&sim.authorize(REDIRECT), REDIRECT)
        .await
        .expect("login (not counted)");
    c.folders().await.expect("1");
    c.folders().await.expect("2");
    let e = c.folders().await.expect_err("budget");
    let StepError::Permanent(message) = &e else {
        panic!("permanent expected: {e:?}");
    };
    assert!(
        message.contains("budget journalier d'appels EBP épuisé (2/2)"),
        "{message}"
    );
    assert_eq!(sim.calls().len(), 2, "the refused call never left");
    assert_eq!(gate.used_today(c.subscription_id()).await, 2);
    assert!(!c.subscription_id().contains("sim-subscription-key"));

    // The simulator's own budget answers 429.
    let sim2 = EbpSim::start(EbpSimConfig {
        daily_budget: Some(1),
        ..sim_config()
    })
    .await
    .expect("sim");
    let c2 = client(&sim2, free_gate(), Arc::new(MemoryTokenStore::new()));
    c2.exchange_code(&sim2.authorize(REDIRECT), REDIRECT)
        .await
        .expect("login");
    c2.folders().await.expect("1");
    assert!(retry_after_of(&c2.folders().await.expect_err("429")).is_some());
}

#[tokio::test]
async fn server_errors_and_timeouts_are_transient() {
    let sim = EbpSim::start(EbpSimConfig {
        timeout_sleep: Duration::from_secs(2),
        ..sim_config()
    })
    .await
    .expect("sim");
    let mut cfg = config(&sim, "conn-1");
    cfg.timeout = Duration::from_millis(300);
    let c = EbpClient::new(cfg, free_gate(), Arc::new(MemoryTokenStore::new())).expect("client");
    c.exchange_code(&sim.authorize(REDIRECT), REDIRECT)
        .await
        .expect("login");
    sim.queue_faults([Fault::ServerError, Fault::Timeout]);
    let e = c.folders().await.expect_err("500");
    assert!(
        matches!(&e, StepError::Transient { message, .. } if message.contains("500")),
        "{e:?}"
    );
    let e = c.folders().await.expect_err("timeout");
    assert!(matches!(&e, StepError::Transient { .. }), "{e:?}");

    // Seeded random faults: every call fails with 500 at rate 1.
    sim.configure(|c| c.server_error_rate = 1.0);
    assert!(matches!(
        c.folders().await,
        Err(StepError::Transient { .. })
    ));
    sim.configure(|c| c.server_error_rate = 0.0);
    c.folders().await.expect("recovered");
}

#[tokio::test]
async fn client_errors_are_permanent_with_ebp_message() {
    let (sim, c, tokens) = setup(sim_config()).await;
    let e = c
        .generic_query("NoSuchTable", &[], None, "Id", None)
        .await
        .expect_err("400");
    assert!(
        matches!(&e, StepError::Permanent(m) if m.contains("table non autorisée : NoSuchTable")),
        "{e:?}"
    );

    let mut cfg = config(&sim, "conn-1");
    cfg.folder_id = "999".into();
    let other = EbpClient::new(cfg, free_gate(), tokens.clone()).expect("client");
    let e = other.test_connection().await.expect_err("folder");
    assert!(
        matches!(&e, StepError::Permanent(m) if m.contains("999")),
        "{e:?}"
    );
    let e = other
        .generic_query("Item", &[], None, "Id", None)
        .await
        .expect_err("404");
    assert!(
        matches!(&e, StepError::Permanent(m) if m.contains("HTTP 404") && m.contains("dossier introuvable")),
        "{e:?}"
    );

    // A wrong subscription key: 401 from the gateway, permanent, no token rotation.
    let mut cfg = config(&sim, "conn-1");
    cfg.subscription_key = Secret::new("wrong-key");
    let wrong = EbpClient::new(cfg, free_gate(), tokens.clone()).expect("client");
    let grants = sim.token_grants();
    let e = wrong.folders().await.expect_err("401");
    assert!(
        matches!(&e, StepError::Permanent(m) if m.contains("HTTP 401")),
        "{e:?}"
    );
    assert_eq!(sim.token_grants(), grants, "no refresh for a key problem");

    let conf = c.read_configuration().await.expect("configuration");
    assert_eq!(conf.vat_codes.len(), 9);
    // EBP's built-in list (no `Territoriality` table), listed without a call.
    let cats: Vec<&str> = conf
        .accounting_categories
        .iter()
        .map(|c| c.caption.as_str())
        .collect();
    assert_eq!(
        cats,
        [
            "France",
            "Corse",
            "DOM",
            "Import/Export",
            "Intracommunautaire",
            "Monaco",
            "Hors France"
        ]
    );
    assert_eq!(conf.warehouses[0].id, "DEP1");
    assert_eq!(conf.shipping[0].caption, "Chronopost", "ordered by Id");
}

#[tokio::test]
async fn a_page_above_100_is_refused_by_the_simulator() {
    let (sim, _c, tokens) = setup(sim_config()).await;
    let pair = tokens
        .current("conn-1")
        .await
        .expect("store")
        .expect("pair");
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/gescom/api/v1/Folders/298324/GenericQuery?TableName=Item&Offset=0&Limit=101",
            sim.url()
        ))
        .bearer_auth(&pair.access_token)
        .header("ebp-subscription-key", "sim-subscription-key")
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), 400);
    let missing_key = reqwest::Client::new()
        .get(format!("{}/gescom/api/v1/Folders", sim.url()))
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .expect("call");
    assert_eq!(missing_key.status(), 401);
}

#[tokio::test]
async fn an_async_import_is_accepted_then_polled_without_a_second_upload() {
    let cfg = EbpSimConfig {
        import_mode: passerelle_simulators::ebp::ImportMode::Async {
            pending_polls: 2,
            min_delay: Duration::ZERO,
        },
        ..sim_config()
    };
    let (sim, c, _) = setup(cfg).await;
    seed_catalogue(&sim);
    let batch = ImportBatch {
        customers: vec![],
        documents: vec![
            order("W3001", "C00001", &[("VASE", "Vase", "1", "12")]),
            order("W3002", "ZZZ", &[("VASE", "Vase", "1", "12")]),
        ],
        only_files: None,
    };
    let outcome = c.import_batch(&batch).await.expect("accepted");
    let pending = outcome.report.pending.clone().expect("202: pending import");
    assert!(outcome.report.created.is_empty());
    assert_eq!(
        outcome.import_id.as_deref(),
        Some(pending.import_id.as_str())
    );
    assert_eq!(pending.web_orders, vec!["W3001", "W3002"]);
    assert!(sim.documents().is_empty(), "nothing applied yet");
    for _ in 0..2 {
        match c.import_status(&pending).await.expect("status") {
            ImportPoll::Pending(s) => assert_eq!(s, "Waiting"),
            other => panic!("still pending expected: {other:?}"),
        }
    }
    let ImportPoll::Done(report) = c.import_status(&pending).await.expect("status") else {
        panic!("applied on the third poll");
    };
    assert_eq!(report.created.len(), 1);
    assert_eq!(report.created[0].atoosync_order, "W3001");
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, "W3002");
    assert!(report.rejected[0].1.contains("client inconnu : ZZZ"));
    // Polling again repeats the result; nothing is applied twice.
    let again = c.import_status(&pending).await.expect("status");
    assert_eq!(again, ImportPoll::Done(report));
    assert_eq!(sim.imports().len(), 1, "one upload");
    assert_eq!(sim.documents().len(), 1);
    assert_eq!(sim.import_status_polls().len(), 4);
}

#[tokio::test]
async fn an_unknown_import_id_is_a_permanent_error() {
    let (_sim, c, _) = setup(sim_config()).await;
    let pending = passerelle_workflows::ports::PendingImport {
        import_id: "nope".into(),
        ..Default::default()
    };
    match c.import_status(&pending).await {
        Err(StepError::Permanent(m)) => assert!(m.contains("404"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_per_file_shape_sends_one_import_per_file_with_its_category_and_model() {
    let (sim, c, _) = setup(sim_config()).await;
    seed_catalogue(&sim);
    let batch = ImportBatch {
        customers: vec![new_customer("WEB00004", "Durand")],
        documents: vec![
            order("W4001", "WEB00004", &[("VASE", "Vase", "1", "12")]),
            order("W4002", "ZZZ", &[("VASE", "Vase", "1", "12")]),
        ],
        only_files: None,
    };
    c.model_checks().await.expect("models, read once per run");
    let before = sim.calls().len();
    let outcome = c.import_batch(&batch).await.expect("import");
    assert_eq!(sim.calls().len() - before, 4, "one call per file");
    let files: Vec<(String, String)> = sim
        .imports()
        .into_iter()
        .map(|i| {
            assert_eq!(i.files.len(), 1, "one file per import");
            (i.files[0].0.clone(), i.files[0].1.clone())
        })
        .collect();
    assert_eq!(
        files,
        vec![
            (
                "Customers.txt".to_string(),
                "Passerelle - Clients".to_string()
            ),
            ("Adresses.txt".into(), "Passerelle - Adresses".into()),
            ("Orders.txt".into(), "Passerelle - Commandes".into()),
            ("Payments.txt".into(), "Passerelle - Règlements".into()),
        ]
    );
    let report = outcome.report;
    assert_eq!(report.created.len(), 1);
    assert_eq!(report.created[0].atoosync_order, "W4001");
    assert_eq!(report.rejected.len(), 1);
    assert!(report.rejected[0].1.contains("client inconnu : ZZZ"));
    assert!(report.pending.is_none() && report.rest.is_none());
    // The payment went in its own import, after its document existed.
    let docs = sim.documents();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].document.payments.len(), 1);

    // Only some files of a batch (the rest of an interrupted per-file import).
    let only = ImportBatch {
        only_files: Some(vec!["Customers.txt".into()]),
        ..batch
    };
    let n = sim.imports().len();
    c.import_batch(&only).await.expect("import");
    let imports = sim.imports();
    assert_eq!(imports.len(), n + 1);
    assert_eq!(imports[n].files[0].0, "Customers.txt");
}
