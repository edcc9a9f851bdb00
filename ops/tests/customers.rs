//! Customer exports end to end against the PrestaShop and EBP simulators, on SQLite and
//! PostgreSQL: the shop's accounts, addresses and groups checked field by field after
//! export-customer-groups and export-customers; idempotent re-runs; the incremental window
//! and the hand-set last transfer date; export-new-customers; a quota smaller than the
//! customer list; bad ERP data; deactivate-customers both ways; groups from price
//! categories.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::catalog_connectors::set_last_transfer;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle::profiles::Profiles;
use passerelle_domain::customer_export::{CustomerExportSettings, GroupSource};
use passerelle_domain::orders::Address;
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::{EbpSimConfig, SimCustomer};
use passerelle_workflows::engine::RunStore;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

fn env() {
    export_env();
}

struct Setup {
    _db: TestDb,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

fn address(a1: &str, pc: &str, city: &str, iso: &str) -> Address {
    Address {
        address1: a1.into(),
        postcode: pc.into(),
        city: city.into(),
        country_iso: iso.into(),
        ..Address::default()
    }
}

fn person(code: &str, name: &str, first: &str, last: &str, email: &str) -> SimCustomer {
    let mut c = SimCustomer::new(code, name);
    c.firstname = first.into();
    c.lastname = last.into();
    if !email.is_empty() {
        c.email = Some(email.into());
    }
    c
}

/// The ERP customers of the tests, besides the demo's (WEBINVITE and CL00004 have no
/// e-mail; CL00012 is Camille Martin, already a shop account).
fn seed_customers(world: &DemoWorld) {
    let mut b001 = person("B001", "BOIS ET CIE", "Léa", "Dubois", "Lea.Dubois@Bois.fr")
        .siret("40483304800022");
    b001.family = Some("PRO".into());
    b001.billing = address("3 rue des Lilas", "69001", "Lyon", "FR");
    b001.delivery = address("8 quai Rambaud", "69002", "Lyon", "FR");
    let mut b002 = person(
        "B002",
        "Jean Morel",
        "Jean",
        "Morel",
        "jean.morel@example.fr",
    );
    b002.family = Some("PART".into());
    b002.billing = address("12 rue Haute", "1000", "Bruxelles", "BE");
    let mut b003 = person("B003", "Dormeur SA", "Paul", "Dormeur", "sleep@example.fr");
    b003.billing = address("1 rue du Lit", "75001", "Paris", "FR");
    let b004 = person("B004", "Sans Mail", "Max", "Sansmail", "pas-un-email");
    let mut b006 = person("B006", "Vip Privé", "Ana", "Vip", "ana@vip.fr");
    b006.family = Some("VIP".into());
    let empty = person("", "Code Vide", "Eve", "Vide", "eve@example.fr");
    let dup = person("b001", "Doublon", "Dan", "Doublon", "dan@example.fr");
    let camille = person(
        "CL00012",
        "MARTIN Camille",
        "Camille",
        "Martin",
        "camille.martin@example.fr",
    );
    world.ebp.seed_export_customers(&[
        (
            b001,
            vec![
                ("PriceListCategoryId", json!("T1")),
                ("NAF", json!("3109B")),
            ],
        ),
        (b002, vec![("PriceListCategoryId", json!("T2"))]),
        (b003, vec![("ActiveState", json!(1))]),
        (b004, vec![]),
        (b006, vec![]),
        (empty, vec![]),
        (dup, vec![]),
        (camille, vec![]),
    ]);
    world
        .ebp
        .seed_customer_families(&[("PRO", "Professionnels"), ("PART", "Particuliers")]);
    world
        .ebp
        .seed_price_categories(&[("T1", "Tarif revendeur"), ("T2", "Tarif public")]);
    world
        .ebp
        .seed_contact("K1", "B001", "Paul", "Martin", "paul@bois.fr", None);
    world
        .ebp
        .seed_contact("K2", "B001", "Zoé", "Sansmail", "", None);
    world.ebp.seed_contact(
        "K3",
        "B002",
        "Lina",
        "Morel",
        "lina.morel@example.fr",
        Some(("5 avenue Louise", "1050", "Ixelles", "BE")),
    );
}

/// The demo world with the test customers, the EBP rate limit off, an export plan of
/// `units`, the customer settings changed by `adjust`.
async fn setup(kind: Kind, units: u64, adjust: impl FnOnce(&mut CustomerExportSettings)) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(
        0,
        EbpSimConfig {
            rate_limit: false,
            min_interval: Duration::ZERO,
            ..EbpSimConfig::default()
        },
    )
    .await
    .unwrap();
    seed_customers(&world);
    let acc = account("acme");
    let mut file = world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        adjust(&mut e.customers);
    }
    let profile = world.install_file(&app, &acc, file).await.unwrap();
    if units > 0 {
        ensure_export_plan(&app, &acc, units).await.unwrap();
    }
    Setup {
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

async fn set_settings(s: &Setup, adjust: impl FnOnce(&mut CustomerExportSettings)) {
    let mut file = s.world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        adjust(&mut e.customers);
    }
    Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
}

async fn run(s: &Setup, action: SyncAction) -> (RunId, RunStatus, journal::Counts) {
    run_counted(&s.app, &s.acc, &s.profile, action).await
}

/// Item key → (outcome, message) of a run.
async fn items(s: &Setup, run: RunId) -> HashMap<String, (&'static str, String)> {
    item_outcomes(&s.app, &s.acc, run).await
}

fn flat(o: &serde_json::Map<String, Value>) -> HashMap<String, String> {
    o.iter()
        .map(|(k, v)| {
            let t = match v {
                Value::String(x) => x.clone(),
                Value::Array(a) => a
                    .first()
                    .and_then(|l| l.get("value"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                other => other.to_string(),
            };
            (k.clone(), t)
        })
        .collect()
}

/// The shop account with this e-mail, flattened, with its group ids.
fn customer(s: &Setup, email: &str) -> Option<(HashMap<String, String>, Vec<String>)> {
    s.world.shop.with_shop(|shop| {
        let rows: Vec<_> = shop
            .rows("customers")
            .into_iter()
            .filter(|c| c.get("email").and_then(Value::as_str) == Some(email))
            .collect();
        assert!(rows.len() <= 1, "{email} twice in the shop");
        rows.first().map(|c| {
            let groups = c["associations"]["groups"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|g| g["id"].as_str().map(str::to_string))
                .collect();
            (flat(c), groups)
        })
    })
}

/// The addresses of a shop account, by alias.
fn addresses(s: &Setup, customer_id: &str) -> HashMap<String, HashMap<String, String>> {
    s.world.shop.with_shop(|shop| {
        shop.rows("addresses")
            .into_iter()
            .filter(|a| a.get("id_customer").and_then(Value::as_str) == Some(customer_id))
            .map(|a| {
                let f = flat(a);
                (f["alias"].clone(), f)
            })
            .collect()
    })
}

/// Shop groups: name → id.
fn groups(s: &Setup) -> HashMap<String, String> {
    s.world.shop.with_shop(|shop| {
        shop.rows("groups")
            .into_iter()
            .map(|g| {
                let f = flat(g);
                (f["name"].clone(), f["id"].clone())
            })
            .collect()
    })
}

fn count(s: &Setup, resource: &str) -> usize {
    s.world.shop.with_shop(|shop| shop.rows(resource).len())
}

fn check(fields: &HashMap<String, String>, expected: &[(&str, &str)], who: &str) {
    for (k, v) in expected {
        assert_eq!(fields.get(*k).map(String::as_str), Some(*v), "{who} {k}");
    }
}

async fn verify_replay(s: &Setup) {
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

fn family_groups(c: &mut CustomerExportSettings) {
    c.groups_from = GroupSource::Family;
    c.create_contacts = true;
    c.copy_addresses_to_contacts = true;
}

async fn export_groups_and_customers(kind: Kind) {
    let s = setup(kind, 1000, family_groups).await;
    assert_eq!(count(&s, "groups"), 3, "a fresh shop has 3 groups");

    // Groups from the customer families, by name, never twice.
    let (g1, status, c) = run(&s, SyncAction::ExportCustomerGroups).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (2, 2), "{c:?}");
    let g = groups(&s);
    assert_eq!(g.len(), 5, "{g:?}");
    let pro = g["Professionnels"].clone();
    let part = g["Particuliers"].clone();
    let row = s
        .world
        .shop
        .with_shop(|shop| flat(shop.get("groups", pro.parse().unwrap()).unwrap()));
    check(
        &row,
        &[
            ("reduction", "0"),
            ("price_display_method", "0"),
            ("show_prices", "1"),
        ],
        "group",
    );
    assert!(items(&s, g1).await["PRO"].1.contains("créé"));
    let (g2, _, c) = run(&s, SyncAction::ExportCustomerGroups).await;
    assert_eq!((c.total, c.succeeded), (2, 2));
    assert_eq!(count(&s, "groups"), 5);
    assert!(items(&s, g2).await["PRO"].1.contains("existe déjà"));

    // Customers.
    let customers_before = count(&s, "customers");
    let (run1, status, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    // 10 ERP customers: B001, B002, B006, CL00012 exported; WEBINVITE and CL00004 (no
    // e-mail), B003 (asleep), B004 (invalid e-mail) ignored; the empty and the duplicate
    // code failed.
    assert_eq!(
        (c.total, c.succeeded, c.ignored, c.failed),
        (10, 4, 4, 2),
        "{c:?}"
    );
    let it = items(&s, run1).await;
    assert!(it["B003"].1.contains("sommeil"), "{:?}", it["B003"]);
    assert!(it["B004"].1.contains("e-mail invalide"), "{:?}", it["B004"]);
    assert!(it["WEBINVITE"].1.contains("sans e-mail"));
    assert_eq!(it["(vide)"].0, "failed");
    assert!(it["(vide)"].1.contains("code client vide"));
    let dup = if it["b001"].0 == "failed" {
        "b001"
    } else {
        "B001"
    };
    assert!(it[dup].1.contains("en double"), "{:?}", it[dup]);
    assert!(
        it["B006"]
            .1
            .contains("groupe « VIP » absent de la boutique"),
        "{:?}",
        it["B006"]
    );
    // Accounts: B001 and its contact K1 (K2 has no e-mail), B002 and its contact K3,
    // B006; Camille Martin was already there.
    assert_eq!(count(&s, "customers"), customers_before + 5);

    let (lea, lea_groups) = customer(&s, "lea.dubois@bois.fr").unwrap();
    check(
        &lea,
        &[
            ("firstname", "Léa"),
            ("lastname", "Dubois"),
            ("company", "BOIS ET CIE"),
            ("siret", "40483304800022"),
            ("ape", "3109B"),
            ("id_default_group", pro.as_str()),
            ("active", "1"),
            ("newsletter", "0"),
            ("optin", "0"),
            ("passwd", "***"),
            ("note", "Code client EBP : B001"),
        ],
        "B001",
    );
    assert_eq!(lea_groups, vec![pro.clone()]);
    let a = addresses(&s, &lea["id"]);
    assert_eq!(a.len(), 2, "{a:?}");
    check(
        &a["Facturation"],
        &[
            ("firstname", "Léa"),
            ("lastname", "Dubois"),
            ("company", "BOIS ET CIE"),
            ("address1", "3 rue des Lilas"),
            ("postcode", "69001"),
            ("city", "Lyon"),
            ("id_country", "8"),
        ],
        "B001 billing",
    );
    check(
        &a["Livraison"],
        &[
            ("address1", "8 quai Rambaud"),
            ("postcode", "69002"),
            ("id_country", "8"),
        ],
        "B001 delivery",
    );
    // The contact: its own account in the same company and group, the customer's addresses.
    let (paul, paul_groups) = customer(&s, "paul@bois.fr").unwrap();
    check(
        &paul,
        &[
            ("firstname", "Paul"),
            ("lastname", "Martin"),
            ("company", "BOIS ET CIE"),
            ("note", "Code client EBP : B001\nContact EBP : K1"),
        ],
        "K1",
    );
    assert_eq!(paul_groups, vec![pro.clone()]);
    assert_eq!(addresses(&s, &paul["id"]).len(), 2);
    // B002 in Belgium, its contact with its own address.
    let (jean, jean_groups) = customer(&s, "jean.morel@example.fr").unwrap();
    check(
        &jean,
        &[("id_default_group", part.as_str()), ("firstname", "Jean")],
        "B002",
    );
    assert_eq!(jean_groups, vec![part.clone()]);
    check(
        &addresses(&s, &jean["id"])["Facturation"],
        &[
            ("city", "Bruxelles"),
            ("postcode", "1000"),
            ("id_country", "3"),
        ],
        "B002 billing",
    );
    let (lina, _) = customer(&s, "lina.morel@example.fr").unwrap();
    check(
        &addresses(&s, &lina["id"])["Contact"],
        &[
            ("address1", "5 avenue Louise"),
            ("city", "Ixelles"),
            ("firstname", "Lina"),
        ],
        "K3",
    );
    // A group missing from the shop: the default group.
    let (ana, ana_groups) = customer(&s, "ana@vip.fr").unwrap();
    check(&ana, &[("id_default_group", "3")], "B006");
    assert_eq!(ana_groups, vec!["3".to_string()]);
    // The existing account is linked and updated, not duplicated.
    let (camille, _) = customer(&s, "camille.martin@example.fr").unwrap();
    assert_eq!(camille["id"], "1");
    assert!(camille["note"].contains("Code client EBP : CL00012"));
    assert!(customer(&s, "sleep@example.fr").is_none());
    assert!(customer(&s, "eve@example.fr").is_none());

    // Again: nothing created twice, nothing to write.
    let (n_customers, n_addresses) = (count(&s, "customers"), count(&s, "addresses"));
    let (run2, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!((c.succeeded, c.ignored, c.failed), (4, 4, 2), "{c:?}");
    assert_eq!(count(&s, "customers"), n_customers);
    assert_eq!(count(&s, "addresses"), n_addresses);
    assert_eq!(count(&s, "groups"), 5);
    let it = items(&s, run2).await;
    for k in ["B001", "B002", "B006", "CL00012"] {
        assert!(it[k].1.contains("déjà à jour"), "{k}: {:?}", it[k]);
    }

    // An ERP change goes out; the e-mail is not replaced by default.
    s.world.ebp.update_customer(
        "B001",
        &[
            ("MainInvoicingContact_Name", json!("Dubois-Roche")),
            ("MainInvoicingContact_Email", json!("lea@nouveau.fr")),
            ("MainInvoicingAddress_City", json!("Villeurbanne")),
        ],
    );
    let (_, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!((c.succeeded, c.failed), (4, 2), "{c:?}");
    // Found by its ERP code: the same account, updated; it keeps its login e-mail.
    assert!(customer(&s, "lea@nouveau.fr").is_none());
    assert_eq!(count(&s, "customers"), n_customers);
    let (lea2, _) = customer(&s, "lea.dubois@bois.fr").unwrap();
    assert_eq!(lea2["id"], lea["id"]);
    assert_eq!(lea2["lastname"], "Dubois-Roche");
    check(
        &addresses(&s, &lea["id"])["Facturation"],
        &[("city", "Villeurbanne"), ("lastname", "Dubois-Roche")],
        "B001 billing updated",
    );
    assert_eq!(count(&s, "addresses"), n_addresses);
    // With "replace e-mail" on, the account's e-mail follows the ERP.
    set_settings(&s, |c| {
        family_groups(c);
        c.update.email = true;
    })
    .await;
    run(&s, SyncAction::ExportCustomers).await;
    let (lea3, _) = customer(&s, "lea@nouveau.fr").unwrap();
    assert_eq!(lea3["id"], lea["id"]);
    assert!(customer(&s, "lea.dubois@bois.fr").is_none());
    assert_eq!(count(&s, "customers"), n_customers);
    verify_replay(&s).await;
}
both!(
    groups_then_customers_land_in_the_shop_field_by_field_and_rerun_is_idempotent,
    export_groups_and_customers
);

async fn incremental(kind: Kind) {
    let s = setup(kind, 1000, |c| c.incremental = true).await;
    let (_, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(c.total, 10);
    let old = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    s.world.ebp.date_all_customers(old);
    // One customer modified after the last transfer…
    s.world.ebp.update_customer(
        "B002",
        &[("MainInvoicingContact_FirstName", json!("Jeannot"))],
    );
    // …and one whose change carries an older date.
    s.world
        .ebp
        .update_customer("B006", &[("MainInvoicingContact_FirstName", json!("Anna"))]);
    s.world.ebp.date_customer("B006", old);
    let (run2, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert!(items(&s, run2).await.contains_key("B002"));
    assert_eq!(
        customer(&s, "jean.morel@example.fr").unwrap().0["firstname"],
        "Jeannot"
    );
    assert_eq!(
        customer(&s, "ana@vip.fr").unwrap().0["firstname"],
        "Ana",
        "modified before the last transfer: not sent"
    );
    // The merchant moves the date back: the older change goes out.
    let at = chrono::DateTime::parse_from_rfc3339("2019-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    set_last_transfer(
        &s.app.db,
        &s.acc,
        &s.profile,
        SyncAction::ExportCustomers,
        at,
        Actor::Cli,
    )
    .await
    .unwrap();
    let (_, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(c.total, 10, "{c:?}");
    assert_eq!(customer(&s, "ana@vip.fr").unwrap().0["firstname"], "Anna");

    // New customers: the first run takes every customer, the next only those created since.
    let (_, _, c) = run(&s, SyncAction::ExportNewCustomers).await;
    assert_eq!(c.total, 10);
    s.world.ebp.date_all_customers(old);
    let mut b010 = SimCustomer::new("B010", "Nouveau Client");
    b010.firstname = "Noé".into();
    b010.lastname = "Nouveau".into();
    b010.email = Some("noe@nouveau.fr".into());
    s.world.ebp.seed_export_customers(&[(b010, vec![])]);
    let customers = count(&s, "customers");
    let (run4, _, c) = run(&s, SyncAction::ExportNewCustomers).await;
    assert_eq!((c.total, c.succeeded), (1, 1), "{c:?}");
    assert!(items(&s, run4).await["B010"].1.contains("créé"));
    assert_eq!(count(&s, "customers"), customers + 1);
    check(
        &customer(&s, "noe@nouveau.fr").unwrap().0,
        &[
            ("firstname", "Noé"),
            ("lastname", "Nouveau"),
            ("id_default_group", "3"),
        ],
        "B010",
    );
    verify_replay(&s).await;
}
both!(
    incremental_runs_send_what_changed_since_the_last_transfer_or_the_date_set,
    incremental
);

async fn quota(kind: Kind) {
    let s = setup(kind, 2, |_| {}).await;
    let customers = count(&s, "customers");
    let (run1, status, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    // 4 exportable customers, 2 units: 2 written, 2 ignored (plus the 4 skipped).
    assert_eq!(
        (c.total, c.succeeded, c.ignored, c.failed),
        (10, 2, 6, 2),
        "{c:?}"
    );
    let it = items(&s, run1).await;
    let over: Vec<_> = it
        .iter()
        .filter(|(_, (o, m))| *o == "ignored" && m.contains("quota"))
        .collect();
    assert_eq!(over.len(), 2, "{it:?}");
    // Nothing half-written: only the accounts granted exist (Camille was already there).
    let written = ["lea.dubois@bois.fr", "jean.morel@example.fr", "ana@vip.fr"]
        .iter()
        .filter(|e| customer(&s, e).is_some())
        .count();
    let camille_linked =
        customer(&s, "camille.martin@example.fr").unwrap().0["note"].contains("CL00012");
    assert_eq!(written + usize::from(camille_linked), 2);
    assert_eq!(count(&s, "customers"), customers + written);
    verify_replay(&s).await;
}
both!(quota_smaller_than_the_customers_stops_cleanly, quota);

async fn deactivate(kind: Kind) {
    let s = setup(kind, 1000, |c| c.create_contacts = true).await;
    let (_, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(c.succeeded, 4);
    let customers = count(&s, "customers");
    s.world
        .ebp
        .update_customer("B001", &[("ActiveState", json!(2))]);
    let (run1, status, c) = run(&s, SyncAction::DeactivateCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    // B001 disabled; B002, B006, CL00012 already active; B003 (asleep, never exported)
    // missing from the shop: ignored, not created; no e-mail / bad e-mail / codes as before.
    assert_eq!(customer(&s, "lea.dubois@bois.fr").unwrap().0["active"], "0");
    let paul = customer(&s, "paul@bois.fr").unwrap().0;
    assert_eq!(paul["active"], "0", "its contact's account too");
    assert_eq!(
        customer(&s, "lina.morel@example.fr").unwrap().0["active"],
        "1"
    );
    assert_eq!(
        customer(&s, "jean.morel@example.fr").unwrap().0["active"],
        "1"
    );
    let it = items(&s, run1).await;
    assert!(it["B001"].1.contains("désactivé"), "{:?}", it["B001"]);
    assert!(it["B002"].1.contains("déjà à jour"));
    assert_eq!(it["B003"].0, "ignored");
    assert!(
        it["B003"].1.contains("absent de la boutique"),
        "{:?}",
        it["B003"]
    );
    assert_eq!((c.succeeded, c.failed), (4, 2), "{c:?}");
    assert!(customer(&s, "sleep@example.fr").is_none());
    assert_eq!(count(&s, "customers"), customers, "never creates");
    // Awake again: re-enabled.
    s.world
        .ebp
        .update_customer("B001", &[("ActiveState", json!(0))]);
    let (run2, _, _) = run(&s, SyncAction::DeactivateCustomers).await;
    assert_eq!(customer(&s, "lea.dubois@bois.fr").unwrap().0["active"], "1");
    assert_eq!(customer(&s, "paul@bois.fr").unwrap().0["active"], "1");
    assert!(items(&s, run2).await["B001"].1.contains("actif"));
    assert_eq!(count(&s, "customers"), customers);
    // A sleeping customer is not exported, and an export never re-enables a disabled one.
    s.world
        .ebp
        .update_customer("B002", &[("ActiveState", json!(1))]);
    run(&s, SyncAction::DeactivateCustomers).await;
    assert_eq!(
        customer(&s, "jean.morel@example.fr").unwrap().0["active"],
        "0"
    );
    let (run3, _, _) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(items(&s, run3).await["B002"].0, "ignored");
    assert_eq!(
        customer(&s, "jean.morel@example.fr").unwrap().0["active"],
        "0"
    );
    verify_replay(&s).await;
}
both!(
    deactivate_customers_toggles_both_ways_and_never_creates,
    deactivate
);

async fn price_categories(kind: Kind) {
    let s = setup(kind, 1000, |c| c.groups_from = GroupSource::PriceCategory).await;
    let (_, status, c) = run(&s, SyncAction::ExportCustomerGroups).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded), (2, 2), "{c:?}");
    let g = groups(&s);
    assert_eq!(g.len(), 5, "{g:?}");
    let revendeur = g["Tarif revendeur"].clone();
    let public = g["Tarif public"].clone();
    let (_, _, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(c.succeeded, 4, "{c:?}");
    let (lea, lea_groups) = customer(&s, "lea.dubois@bois.fr").unwrap();
    assert_eq!(lea["id_default_group"], revendeur);
    assert_eq!(lea_groups, vec![revendeur.clone()]);
    assert_eq!(
        customer(&s, "jean.morel@example.fr").unwrap().1,
        vec![public]
    );
    // The merchant switches to families: the groups are added, the old ones stay.
    set_settings(&s, |c| c.groups_from = GroupSource::Family).await;
    let (_, _, c) = run(&s, SyncAction::ExportCustomerGroups).await;
    assert_eq!(c.succeeded, 2);
    assert_eq!(count(&s, "groups"), 7);
    // Addresses off: an account created now gets none.
    set_settings(&s, |c| {
        c.groups_from = GroupSource::Family;
        c.no_addresses = true;
    })
    .await;
    let mut b011 = SimCustomer::new("B011", "Sans Adresse");
    b011.firstname = "Sam".into();
    b011.lastname = "Adresse".into();
    b011.email = Some("sam@example.fr".into());
    b011.billing = address("2 rue Sans", "31000", "Toulouse", "FR");
    s.world.ebp.seed_export_customers(&[(b011, vec![])]);
    run(&s, SyncAction::ExportCustomers).await;
    let (sam, _) = customer(&s, "sam@example.fr").unwrap();
    assert!(addresses(&s, &sam["id"]).is_empty());
    verify_replay(&s).await;
}
both!(groups_from_price_categories_then_families, price_categories);

async fn prospects(kind: Kind) {
    let s = setup(kind, 0, |c| {
        c.prospects_since = chrono::NaiveDate::from_ymd_opt(2025, 1, 1);
    })
    .await;
    passerelle::demo::ensure_import_plan(&s.app, &s.acc, 100)
        .await
        .unwrap();
    // Shop accounts: 1 Camille (has orders), 2 and 6 guests, 3 Atelier Dubois (its SIRET
    // is ERP customer CL00004), 4 Pieter Janssens, 5 Emily Carter (created before the
    // start date).
    s.world.shop.with_shop(|shop| {
        shop.get_mut("customers", 5)
            .unwrap()
            .insert("date_add".into(), json!("2024-06-01 10:00:00"));
    });
    let erp_before = s.world.ebp.customers().len();
    let (run1, status, c) = run(&s, SyncAction::ImportProspects).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        (c.total, c.succeeded, c.ignored, c.failed),
        (2, 1, 1, 0),
        "{c:?}"
    );
    let it = items(&s, run1).await;
    assert!(it["4"].1.contains("WEB00004"), "{:?}", it["4"]);
    // Its SIRET is an ERP customer's (B001 here): found, not created again.
    assert!(
        it["3"].1.contains("déjà client ERP B001 (siret)"),
        "{:?}",
        it["3"]
    );
    let erp = s.world.ebp.customers();
    assert_eq!(erp.len(), erp_before + 1);
    let pieter = erp.iter().find(|c| c.code == "WEB00004").unwrap();
    assert_eq!(pieter.email.as_deref(), Some("pieter@janssens.be"));
    assert_eq!(pieter.lastname, "Janssens");
    assert_eq!(pieter.firstname, "Pieter");
    assert_eq!(
        pieter.family.as_deref(),
        Some("WEB"),
        "the import's default family"
    );
    assert!(
        !erp.iter().any(|c| c.code == "WEB00005"),
        "before the start date"
    );
    assert!(!erp.iter().any(|c| c.code == "WEB00001"), "has orders");
    assert!(!erp.iter().any(|c| c.code == "WEB00002"), "guest");
    // The code went back to the shop account.
    assert!(s
        .world
        .shop
        .customer_note(4)
        .unwrap_or_default()
        .contains("Code client EBP : WEB00004"));
    // Again: nothing created twice.
    let (_, _, c) = run(&s, SyncAction::ImportProspects).await;
    assert_eq!((c.total, c.succeeded, c.ignored), (2, 0, 2), "{c:?}");
    assert_eq!(s.world.ebp.customers().len(), erp_before + 1);
    verify_replay(&s).await;
}
both!(
    import_prospects_creates_erp_customers_once_for_accounts_without_orders,
    prospects
);

/// The simulator refuses what the webservice refuses, with PrestaShop's error body.
async fn shop_validation(kind: Kind) {
    let s = setup(kind, 1000, |_| {}).await;
    let http = reqwest::Client::new();
    let post = |body: &'static str| {
        http.post(format!(
            "{}/api/customers?output_format=JSON",
            s.world.shop.url()
        ))
        .basic_auth(s.world.shop.key(), Some(""))
        .header("Content-Type", "application/xml")
        .body(body)
        .send()
    };
    let r = post("<prestashop><customer><firstname>A</firstname><lastname>B</lastname><email>a@b.fr</email></customer></prestashop>")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], json!(41));
    assert_eq!(
        body["errors"][0]["message"],
        json!("parameter \"passwd\" required")
    );
    let r = post("<prestashop><customer><passwd>secret123</passwd><firstname>A</firstname><lastname>B</lastname><email>pas-un-email</email></customer></prestashop>")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], json!(85));
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Customer->email"));
    // Through the flow: a name the shop's rule refuses is cleaned before sending, with a
    // warning naming the field and the rule (issue 21; it used to be refused by the shop).
    let mut b020 = SimCustomer::new("B020", "R2D2 Robotique");
    b020.firstname = "R2".into();
    b020.lastname = "D2".into();
    b020.email = Some("r2d2@example.fr".into());
    // Two ERP customers sharing an e-mail: one account, the second customer fails.
    let twin = person("B021", "Jumeau", "Jean", "Jumeau", "jean.morel@example.fr");
    s.world
        .ebp
        .seed_export_customers(&[(b020, vec![]), (twin, vec![])]);
    let customers = count(&s, "customers");
    let (run1, status, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.total, c.succeeded, c.failed), (12, 5, 3), "{c:?}");
    let it = items(&s, run1).await;
    assert!(
        it["B021"]
            .1
            .contains("e-mail déjà utilisé par le client ERP B002"),
        "{:?}",
        it["B021"]
    );
    assert_eq!(
        customer(&s, "jean.morel@example.fr").unwrap().0["lastname"],
        "Morel"
    );
    assert_eq!(it["B020"].0, "succeeded", "{:?}", it["B020"]);
    assert!(
        it["B020"].1.contains("champ firstname (isCustomerName")
            && it["B020"].1.contains("valeur d'origine « R2 »"),
        "{:?}",
        it["B020"]
    );
    let r2 = customer(&s, "r2d2@example.fr").unwrap().0;
    assert_eq!(
        (r2["firstname"].as_str(), r2["lastname"].as_str()),
        ("R", "D")
    );
    assert_eq!(count(&s, "customers"), customers + 4);
    verify_replay(&s).await;
}
both!(
    the_shop_refuses_bad_accounts_and_that_customer_fails_alone,
    shop_validation
);

async fn counts(s: &Setup, id: RunId) -> journal::Counts {
    s.app.projector.catch_up().await.unwrap();
    journal::get(&s.app.db, s.acc.as_str(), &id.to_string())
        .await
        .unwrap()
        .unwrap()
        .counts
}

/// A worker killed right after the shop (or ERP) write and before the journal append:
/// the next worker resumes the run, looks the accounts (or customers) up again and creates
/// nothing twice (DESIGN §4 rule 3).
async fn crash(kind: Kind) {
    let s = setup(kind, 1000, |c| {
        family_groups(c);
        c.prospects_since = chrono::NaiveDate::from_ymd_opt(2025, 1, 1);
    })
    .await;
    passerelle::demo::ensure_import_plan(&s.app, &s.acc, 100)
        .await
        .unwrap();
    let url = s._db.url.clone();
    let enqueue = |action: SyncAction| {
        let id = RunId::from_uuid(uuid::Uuid::now_v7());
        let store = s.app.store.clone();
        let (acc, profile) = (s.acc.clone(), s.profile.clone());
        async move {
            store
                .enqueue(passerelle_workflows::engine::NewRun {
                    run_id: id,
                    account_id: acc,
                    profile_id: profile,
                    action,
                    trigger: passerelle_domain::Trigger::Manual,
                    input: json!({"retry_initial_ms": 50}),
                    actor: Actor::Cli,
                    requested_at: chrono::Utc::now(),
                })
                .await
                .unwrap();
            id
        }
    };
    let worker = |fault: Option<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"));
            cmd.args(["worker", "--drain"])
                .env("DATABASE_URL", &url)
                .env("PASSERELLE_ACCOUNT", "acme")
                .env("PASSERELLE_LEASE_MS", "800");
            match fault {
                Some(f) => cmd.env("PASSERELLE_FAULT", f),
                None => cmd.env_remove("PASSERELLE_FAULT"),
            };
            cmd.status().unwrap()
        })
    };
    // Customers.
    let customers = count(&s, "customers");
    let id = enqueue(SyncAction::ExportCustomers).await;
    let status = worker(Some("abort-after:write_customers:1")).await.unwrap();
    assert!(!status.success(), "the first worker was aborted");
    assert_eq!(
        count(&s, "customers"),
        customers + 5,
        "written before the abort"
    );
    let addresses_after = count(&s, "addresses");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(worker(None).await.unwrap().success());
    let c = counts(&s, id).await;
    assert_eq!((c.total, c.succeeded, c.failed), (10, 4, 2), "{c:?}");
    assert_eq!(
        count(&s, "customers"),
        customers + 5,
        "no account created twice"
    );
    assert_eq!(
        count(&s, "addresses"),
        addresses_after,
        "no address created twice"
    );

    // Prospects.
    let erp = s.world.ebp.customers().len();
    let id = enqueue(SyncAction::ImportProspects).await;
    let status = worker(Some("abort-after:erp_import:1")).await.unwrap();
    assert!(!status.success());
    let after_abort = s.world.ebp.customers().len();
    assert!(after_abort > erp, "imported before the abort");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(worker(None).await.unwrap().success());
    let c = counts(&s, id).await;
    assert_eq!(c.failed, 0, "{c:?}");
    assert_eq!(
        s.world.ebp.customers().len(),
        after_abort,
        "no ERP customer created twice"
    );
    verify_replay(&s).await;
}
both!(a_crash_after_the_write_creates_nothing_twice, crash);

/// The merchant's query filter goes to the ERP (`WhereCondition`): only matching customers
/// are read.
async fn query_filter(kind: Kind) {
    let s = setup(kind, 1000, |c| {
        c.query_filter = Some("ID LIKE 'CL%'".into())
    })
    .await;
    let calls = s.world.ebp.calls().len();
    let (run1, status, c) = run(&s, SyncAction::ExportCustomers).await;
    assert_eq!(status, RunStatus::Succeeded);
    // CL00004 (no e-mail) and CL00012 only.
    assert_eq!((c.total, c.succeeded, c.ignored), (2, 1, 1), "{c:?}");
    let it = items(&s, run1).await;
    assert!(
        it.contains_key("CL00012") && it.contains_key("CL00004"),
        "{it:?}"
    );
    assert!(customer(&s, "lea.dubois@bois.fr").is_none());
    let sent = s.world.ebp.calls();
    let read = sent[calls..]
        .iter()
        .find(|c| c.path.ends_with("/GenericQuery"))
        .unwrap();
    assert_eq!(read.status, 200);
    // The same through the binary: `passerelle run PROFILE export-customers` is available.
    let url = s._db.url.clone();
    let profile = s.profile.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["run", &profile, "export-customers"])
            .env("PASSERELLE_TEST_RETRY_INITIAL_MS", "300")
            .env("DATABASE_URL", &url)
            .env("PASSERELLE_ACCOUNT", "acme")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("CL00012"), "{text}");
    verify_replay(&s).await;
}
both!(the_query_filter_is_applied_by_the_erp, query_filter);
