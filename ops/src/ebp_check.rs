//! `passerelle profile ebp-check ID`: a read-only report, in French, of every assumption the
//! EBP write path makes, as observed on the merchant's folder (issue 19 part 6,
//! `docs/EBP.md` "How a preprod folder confirms it"). Nothing is sent to EBP's Import API:
//! the report reads `EbpSysGenericImportSettings`, one page of `SaleDocument`, one page of
//! `Item`, and renders one shop order's files to the folder's models without sending them.
//!
//! Exit 0 once the report is printed (problems found are lines of the report); exit 1 only
//! when the folder cannot be reached.

use crate::app::App;
use passerelle_adapters::ebp::assumptions as a;
use passerelle_adapters::ebp::files;
use passerelle_adapters::ebp::models::{FileSpec, FormatSource, ModelCheck};
use passerelle_adapters::ebp::EbpClient;
use passerelle_domain::orders::build::{build_document, BuildContext};
use passerelle_domain::orders::customer::resolve_customer;
use passerelle_domain::orders::{CustomerResolution, DocumentKind};
use passerelle_domain::{AccountId, ProfileId};
use passerelle_workflows::ports::{Erp, ImportBatch, ShopOrderRead};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Adds one formatted line to the report.
macro_rules! say {
    ($out:expr, $($t:tt)*) => {
        $out.push(format!($($t)*))
    };
}

/// Lines of one model check.
pub fn model_lines(checks: &[ModelCheck]) -> Vec<String> {
    let mut out = Vec::new();
    for c in checks {
        match &c.outcome {
            Ok(spec) => {
                out.push(format!(
                    "  modèle « {} » ({}, {}, catégorie {}) : présent{}",
                    c.wanted,
                    c.label,
                    c.file,
                    c.category,
                    spec.unverified_category
                        .as_ref()
                        .map(|u| format!(
                            " ; catégorie {u} non vérifiable (identifiant non public)"
                        ))
                        .unwrap_or_default()
                ));
                out.push(format!("    format : {}", format_line(spec)));
            }
            Err(e) => out.push(format!("  ERREUR {} ({}) : {e}", c.label, c.file)),
        }
    }
    out
}

fn format_line(spec: &FileSpec) -> String {
    match &spec.source {
        FormatSource::Model => format!(
            "lu dans la définition du modèle ({} colonnes) — {}",
            spec.columns.as_ref().map_or(0, Vec::len),
            spec.format.describe()
        ),
        FormatSource::Profile(why) => format!(
            "définition du modèle non lue ({why}) : format explicite du profil — {}",
            spec.format.describe()
        ),
    }
}

/// What one page of `SaleDocument` rows says about `xx_atoosync_order` and the
/// `DocumentType` numbering (API parameter 1/2/4/6 or desktop raw 8/6/2 for orders,
/// delivery notes, invoices; `reference/ebp-import-api-2.md` F9).
pub fn document_lines(rows: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let with_key = rows
        .iter()
        .filter(|r| {
            passerelle_adapters::ebp::client::cell(r, a::ATOOSYNC_COLUMN)
                .is_some_and(|v| !v.trim().is_empty())
        })
        .count();
    out.push(format!(
        "Champ personnalisé {} : présent ({} documents lus, {with_key} avec un numéro de commande web)",
        a::ATOOSYNC_COLUMN,
        rows.len()
    ));
    // Prefix of the number → DocumentType values seen.
    let mut seen: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        let number =
            passerelle_adapters::ebp::client::cell(r, "DocumentNumber").unwrap_or_default();
        let prefix: String = number
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if let Some(t) = passerelle_adapters::ebp::client::cell(r, "DocumentType") {
            seen.entry(prefix).or_default().insert(t);
        }
    }
    if seen.is_empty() {
        out.push(
            "Numérotation des types de document : aucun document dans le dossier, non observable"
                .into(),
        );
        return out;
    }
    let observed: Vec<String> = seen
        .iter()
        .map(|(p, t)| {
            format!(
                "{}… → {}",
                if p.is_empty() { "?" } else { p },
                t.iter().cloned().collect::<Vec<_>>().join("/")
            )
        })
        .collect();
    let api = |kind: DocumentKind| a::document_type(kind).to_string();
    let order_prefix = a::number_prefix(DocumentKind::Order);
    let verdict = match seen.get(order_prefix) {
        Some(t) if t.contains(&api(DocumentKind::Order)) => {
            "numérotation du paramètre de l'API (1 devis, 2 facture, 4 commande, 6 bon de livraison) : celle que le client lit"
        }
        Some(t) if t.contains("8") => {
            "numérotation brute du bureau (8 commande, 6 bon de livraison, 2 facture) : différente de celle que le client lit, à corriger avant mise en production"
        }
        _ => "aucune commande CM… parmi les documents lus : numérotation non tranchée",
    };
    out.push(format!(
        "Numérotation des types de document : {} ; {verdict}",
        observed.join(", ")
    ));
    out
}

/// `passerelle profile ebp-check ID`: prints the report; exit 1 only when the folder
/// cannot be reached.
pub async fn ebp_check(app: &App, acc: &AccountId, id: &ProfileId) -> anyhow::Result<ExitCode> {
    let (lines, reached) = report(app, acc, id).await;
    for l in &lines {
        println!("{l}");
    }
    Ok(if reached {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The report's lines, and whether the folder could be reached.
pub async fn report(app: &App, acc: &AccountId, id: &ProfileId) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    say!(
        out,
        "Vérification EBP du profil {id} (lecture seule : rien n'est envoyé à EBP)"
    );
    let erp = match app.connectors() {
        Err(e) => {
            say!(out, "Dossier EBP : injoignable : {e}");
            return (out, false);
        }
        Ok(conn) => match conn.ebp_client(acc, id).await {
            Ok(c) => c,
            Err(e) => {
                say!(out, "Dossier EBP : injoignable : {e}");
                return (out, false);
            }
        },
    };
    match erp.test_connection().await {
        Ok(f) => say!(out, "Dossier EBP : {} — {} (accessible)", f.id, f.name),
        Err(e) => {
            say!(out, "Dossier EBP : injoignable : {e}");
            return (out, false);
        }
    }
    let specs = report_models(&erp, &mut out).await;
    report_documents(&erp, &mut out).await;
    match erp
        .generic_query_sample("Item", &["Id", a::ITEM_IMAGE_COLUMN], "Id", 1)
        .await
    {
        Ok(rows) => say!(
            out,
            "Colonne image des articles {} : lisible ({} article lu)",
            a::ITEM_IMAGE_COLUMN,
            rows.len()
        ),
        Err(e) => say!(
            out,
            "Colonne image des articles {} : illisible : {e}",
            a::ITEM_IMAGE_COLUMN
        ),
    }
    let cats: Vec<&str> = a::ACCOUNTING_CATEGORIES.iter().map(|(_, c)| *c).collect();
    say!(
        out,
        "Catégories comptables : liste intégrée à EBP (pas de table Territoriality) : {}",
        cats.join(", ")
    );
    say!(
        out,
        "Envoi des imports (non vérifiable sans envoyer) : POST {} ; réponse synchrone ou 202 + identifiant suivi par {}",
        a::IMPORT_PATH,
        a::IMPORT_STATUS_PATH
    );
    dry_run(app, acc, id, &erp, &specs, &mut out).await;
    (out, true)
}

/// Prints the models' lines; returns the usable specs by file.
async fn report_models(erp: &EbpClient, out: &mut Vec<String>) -> BTreeMap<String, FileSpec> {
    let mut specs = BTreeMap::new();
    match erp.import_models().await {
        Err(e) => say!(
            out,
            "Modèles d'import (EbpSysGenericImportSettings) : illisibles : {e}"
        ),
        Ok(found) => {
            let imports = found.iter().filter(|m| !m.export).count();
            say!(
                out,
                "Modèles d'import (EbpSysGenericImportSettings) : {} modèles dans le dossier dont {imports} d'import",
                found.len()
            );
            match erp.model_checks().await {
                Ok(checks) => {
                    for l in model_lines(&checks) {
                        say!(out, "{l}");
                    }
                    for c in checks.iter() {
                        if let Ok(s) = &c.outcome {
                            specs.insert(c.file.clone(), s.clone());
                        }
                    }
                }
                Err(e) => say!(out, "  {e}"),
            }
        }
    }
    specs
}

async fn report_documents(erp: &EbpClient, out: &mut Vec<String>) {
    let cols = ["Id", "DocumentNumber", "DocumentType", a::ATOOSYNC_COLUMN];
    match erp
        .generic_query_sample("SaleDocument", &cols, "DocumentNumber", 100)
        .await
    {
        Ok(rows) => {
            for l in document_lines(&rows) {
                say!(out, "{l}");
            }
        }
        Err(e) => say!(
            out,
            "Champ personnalisé {} : absent ou illisible : {e}",
            a::ATOOSYNC_COLUMN
        ),
    }
}

/// Renders the files of the first order the profile would import, to the folder's models,
/// without sending them.
async fn dry_run(
    app: &App,
    acc: &AccountId,
    id: &ProfileId,
    erp: &EbpClient,
    specs: &BTreeMap<String, FileSpec>,
    out: &mut Vec<String>,
) {
    let conn = match app.connectors() {
        Ok(c) => c,
        Err(e) => {
            say!(out, "Essai à blanc : impossible : {e}");
            return;
        }
    };
    let (config, shop, _) = match conn.clients(acc, id).await {
        Ok(x) => x,
        Err(e) => {
            say!(
                out,
                "Essai à blanc : boutique ou configuration indisponible : {e}"
            );
            return;
        }
    };
    // The first page of orders the profile would import: the first one that builds is
    // rendered (one batched article look-up for the page).
    let page = match shop.orders_page(&config.query, None, 20).await {
        Ok(p) => p,
        Err(e) => {
            say!(
                out,
                "Essai à blanc : lecture des commandes impossible : {e}"
            );
            return;
        }
    };
    let orders: Vec<_> = page
        .orders
        .into_iter()
        .filter_map(|o| match o {
            ShopOrderRead::Ok(o) => Some(o),
            ShopOrderRead::Invalid { .. } => None,
        })
        .collect();
    if orders.is_empty() {
        say!(
            out,
            "Essai à blanc : aucune commande lisible à importer dans la période du profil"
        );
        return;
    }
    let mut refs: Vec<String> = orders
        .iter()
        .flat_map(|o| o.lines.iter().map(|l| l.reference.clone()))
        .collect();
    refs.sort();
    refs.dedup();
    let items = match erp.items_by_references(&refs).await {
        Ok(v) => v.into_iter().map(|i| (i.id.clone(), i)).collect(),
        Err(e) => {
            say!(out, "Essai à blanc : articles illisibles : {e}");
            return;
        }
    };
    let mut refused = Vec::new();
    let mut built = None;
    for order in &orders {
        let Some(rule) = config
            .settings
            .statuses
            .iter()
            .find(|r| r.state_id == order.state_id)
        else {
            refused.push(format!(
                "{} : statut {} sans règle",
                order.reference, order.state_id
            ));
            continue;
        };
        let customer = resolve_customer(order, &config.settings, &[]);
        let cx = BuildContext {
            settings: &config.settings,
            status: rule,
            customer: &customer,
            items: &items,
            today: config.today,
        };
        match build_document(order, &cx) {
            Ok(d) => {
                built = Some((order.reference.clone(), customer, d));
                break;
            }
            Err(e) => refused.push(format!("{} : {e}", order.reference)),
        }
    }
    for r in &refused {
        say!(out, "Essai à blanc : commande non transférable {r}");
    }
    let Some((reference, customer, document)) = built else {
        say!(
            out,
            "Essai à blanc : aucune commande transférable sur la première page"
        );
        return;
    };

    let batch = ImportBatch {
        customers: match customer {
            CustomerResolution::New(r) => vec![r],
            CustomerResolution::Existing { update, .. } => update.into_iter().collect(),
        },
        documents: vec![document],
        only_files: None,
    };
    let written = files::write_batch_with(&batch, &|file: &str| {
        specs
            .get(file)
            .cloned()
            .unwrap_or_else(|| FileSpec::default_for(file))
    });
    say!(
        out,
        "Essai à blanc (rien n'est envoyé) : commande {} → {} fichier(s)",
        reference,
        written.len()
    );
    for f in &written {
        let mut lines = f.text.lines();
        say!(
            out,
            "  {} (modèle « {} », {} octets, {}) : {}",
            f.name,
            f.model,
            f.bytes.len(),
            f.charset,
            lines.next().unwrap_or_default()
        );
        if let Some(first) = lines.next() {
            say!(out, "    {first}");
        }
    }
}
