//! `passerelle audit …`: the tamper-evident log for auditors (issue 17.3).
//!
//! * `verify [--account A]` recomputes the hash chains from the database
//!   ([`passerelle_adapters::store::chain::verify`]) and names the first broken link (exit 1).
//! * `export --from D --to D --out FILE` writes a JSON Lines bundle: a header, then for each
//!   account a `start` line (first link and the hash before it), one `link` line per event
//!   (the stored row and its link hash) and an `end` line (last link, head hash and an
//!   Ed25519 signature over the segment, key `audit.signing_key`).
//! * `verify-bundle FILE --public-key K` checks a bundle with no database: every link is
//!   recomputed from its event, each segment must end on its signed head.
//! * `keygen` prints a new signing key and its public key; `public-key` prints the public
//!   key of the configured one.
//!
//! The bundle format is documented in docs/OPERATIONS.md ("Auditing the log").

use crate::commands::{t, usage};
use anyhow::Context;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use passerelle_adapters::store::chain::{self, StoredEvent};
use passerelle_adapters::store::Db;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

/// The bundle format written in the header.
pub const BUNDLE_FORMAT: &str = "passerelle-audit-bundle/1";

/// One line of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BundleLine {
    /// First line.
    Header {
        /// [`BUNDLE_FORMAT`].
        format: String,
        /// Window start (RFC 3339, included).
        from: String,
        /// Window end (RFC 3339, excluded).
        to: String,
        /// When the bundle was written.
        generated_at: String,
        /// The signer's public key (base64), for information: a verifier uses the key it
        /// was given, not this one.
        public_key: String,
    },
    /// A piece of one account's chain starts.
    Start {
        /// Account.
        account: String,
        /// First link number of the piece.
        first_link: i64,
        /// Hash of the link before it (hex; zeros at the chain's start).
        prev_hash: String,
    },
    /// One link and its event as stored.
    Link {
        /// Account.
        account: String,
        /// Link number.
        link_no: i64,
        /// The link's hash (hex).
        hash: String,
        /// When the event was stored.
        recorded_at: Option<String>,
        /// The stored row.
        event: StoredEvent,
    },
    /// The piece ends: its head, signed.
    End {
        /// Account.
        account: String,
        /// Last link number.
        last_link: i64,
        /// Hash of the last link (hex).
        head_hash: String,
        /// Ed25519 signature (base64) of [`segment_message`].
        signature: String,
    },
}

/// The bytes a segment's signature covers.
pub fn segment_message(
    account: &str,
    first: i64,
    last: i64,
    prev: &str,
    head: &str,
    from: &str,
    to: &str,
) -> Vec<u8> {
    format!("{BUNDLE_FORMAT}\n{account}\n{first}\n{last}\n{prev}\n{head}\n{from}\n{to}\n")
        .into_bytes()
}

fn key_bytes(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if let Some(b) = chain::from_hex32(&text.to_ascii_lowercase()) {
        return Some(b);
    }
    let v = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    v.try_into().ok()
}

/// A signing key from its text (base64 of the 32-byte seed, or 64 hex digits).
pub fn signing_key(text: &str) -> anyhow::Result<SigningKey> {
    key_bytes(text)
        .map(|b| SigningKey::from_bytes(&b))
        .ok_or_else(|| {
            usage("audit.signing_key invalide : base64 de 32 octets ou 64 chiffres hexadécimaux (invalid key)")
        })
}

/// A public key from its text (base64 of 32 bytes, or 64 hex digits).
pub fn public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    key_bytes(text)
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| usage("--public-key invalide : base64 de 32 octets ou 64 chiffres hexadécimaux (invalid key)"))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `audit keygen`: a new random signing key and its public key.
pub fn keygen() -> ExitCode {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    println!("signing_key = \"{}\"", b64(key.as_bytes()));
    println!("public_key  = \"{}\"", b64(key.verifying_key().as_bytes()));
    ExitCode::SUCCESS
}

/// The public key of a signing key, as printed and accepted by `--public-key`.
pub fn public_key_text(key: &SigningKey) -> String {
    b64(key.verifying_key().as_bytes())
}

/// A window bound: `YYYY-MM-DD` (midnight UTC; for the end, the day is included) or an
/// RFC 3339 instant.
pub fn window_bound(text: &str, end: bool) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| usage(format!("date invalide : {text} (AAAA-MM-JJ ou RFC 3339)")))
}

fn instant(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `audit verify [--account A]`: exit 0 when every chain recomputes, 1 naming the first
/// broken link.
pub async fn verify(db: &Db, account: Option<&str>) -> anyhow::Result<ExitCode> {
    let report = chain::verify(db, account).await?;
    for h in &report.heads {
        println!(
            "{} {} : {} {}, {} {}",
            t("compte", "account"),
            h.account,
            t("maillons", "links"),
            h.link_no,
            t("tête", "head"),
            h.hash
        );
    }
    if report.before_chain > 0 {
        println!(
            "{} : {}",
            t(
                "événements antérieurs à la chaîne (non couverts)",
                "events older than the chain (not covered)"
            ),
            report.before_chain
        );
    }
    match report.first_break {
        None => {
            println!(
                "{} ({} {})",
                t("chaîne d'audit intacte", "audit chain intact"),
                report.links,
                t("maillons recalculés", "links recomputed")
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(b) => {
            println!("{} : {b}", t("CHAÎNE ROMPUE", "CHAIN BROKEN"));
            Ok(ExitCode::from(1))
        }
    }
}

/// What [`export`] wrote.
#[derive(Debug, Default, Clone)]
pub struct ExportReport {
    /// Segments (one per account with events in the window).
    pub segments: usize,
    /// Link lines.
    pub links: u64,
}

/// `audit export`: writes the bundle of `[from, to)` for one account or all.
pub async fn export(
    db: &Db,
    key: &SigningKey,
    account: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<ExportReport> {
    let (from, to) = (instant(from), instant(to));
    let mut report = ExportReport::default();
    let line = |l: &BundleLine, out: &mut dyn Write| -> anyhow::Result<()> {
        serde_json::to_writer(&mut *out, l)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    line(
        &BundleLine::Header {
            format: BUNDLE_FORMAT.into(),
            from: from.clone(),
            to: to.clone(),
            generated_at: instant(Utc::now()),
            public_key: public_key_text(key),
        },
        out,
    )?;
    for head in chain::heads(db, account).await? {
        let Some((first, last)) = chain::link_range(db, &head.account, &from, &to).await? else {
            continue;
        };
        let prev = chain::link_hash_at(db, &head.account, first - 1)
            .await?
            .with_context(|| format!("maillon {} introuvable ({})", first - 1, head.account))?;
        let prev_hex = chain::to_hex(&prev);
        line(
            &BundleLine::Start {
                account: head.account.clone(),
                first_link: first,
                prev_hash: prev_hex.clone(),
            },
            out,
        )?;
        let mut at = first - 1;
        let mut head_hash = prev_hex.clone();
        while at < last {
            let page = chain::links_page(db, &head.account, at, last, 2_000).await?;
            if page.is_empty() {
                break;
            }
            for l in page {
                let event = l.event.with_context(|| {
                    format!(
                        "maillon {} du compte {} : événement supprimé (lancez audit verify)",
                        l.link_no, head.account
                    )
                })?;
                at = l.link_no;
                head_hash = l.hash.clone();
                report.links += 1;
                line(
                    &BundleLine::Link {
                        account: head.account.clone(),
                        link_no: l.link_no,
                        hash: l.hash,
                        recorded_at: l.recorded_at,
                        event,
                    },
                    out,
                )?;
            }
        }
        let msg = segment_message(&head.account, first, at, &prev_hex, &head_hash, &from, &to);
        line(
            &BundleLine::End {
                account: head.account.clone(),
                last_link: at,
                head_hash,
                signature: b64(&key.sign(&msg).to_bytes()),
            },
            out,
        )?;
        report.segments += 1;
    }
    out.flush()?;
    Ok(report)
}

/// What [`verify_bundle`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCheck {
    /// Signed segments that checked out.
    pub segments: usize,
    /// Links recomputed.
    pub links: u64,
    /// The first problem (line number, 1-based, and what), if any.
    pub failure: Option<(usize, String)>,
}

struct Open {
    account: String,
    first: i64,
    prev_hex: String,
    prev: [u8; 32],
    next: i64,
}

/// Checks a bundle read from `input` against `key`: no database needed.
pub fn verify_bundle(input: &mut dyn BufRead, key: &VerifyingKey) -> BundleCheck {
    let mut check = BundleCheck {
        segments: 0,
        links: 0,
        failure: None,
    };
    let mut window: Option<(String, String)> = None;
    let mut open: Option<Open> = None;
    let fail = |n: usize, why: String, check: &mut BundleCheck| {
        check.failure = Some((n, why));
    };
    let mut n = 0usize;
    let mut buf = String::new();
    loop {
        buf.clear();
        match input.read_line(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                fail(n + 1, format!("lecture impossible : {e}"), &mut check);
                return check;
            }
        }
        n += 1;
        if buf.trim().is_empty() {
            continue;
        }
        let parsed: BundleLine = match serde_json::from_str(buf.trim_end()) {
            Ok(l) => l,
            Err(e) => {
                fail(n, format!("ligne illisible : {e}"), &mut check);
                return check;
            }
        };
        match (parsed, &mut open, &window) {
            (
                BundleLine::Header {
                    format, from, to, ..
                },
                None,
                None,
            ) => {
                if format != BUNDLE_FORMAT {
                    fail(n, format!("format inconnu {format}"), &mut check);
                    return check;
                }
                window = Some((from, to));
            }
            (
                BundleLine::Start {
                    account,
                    first_link,
                    prev_hash,
                },
                None,
                Some(_),
            ) => {
                let Some(prev) = chain::from_hex32(&prev_hash) else {
                    fail(n, "empreinte de départ illisible".into(), &mut check);
                    return check;
                };
                open = Some(Open {
                    account,
                    first: first_link,
                    prev_hex: prev_hash,
                    prev,
                    next: first_link,
                });
            }
            (
                BundleLine::Link {
                    account,
                    link_no,
                    hash,
                    event,
                    ..
                },
                Some(seg),
                _,
            ) => {
                if account != seg.account || link_no != seg.next {
                    fail(
                        n,
                        format!(
                            "maillon {link_no} du compte {account} inattendu (attendu : {} du compte {}) : maillon retiré ou déplacé",
                            seg.next, seg.account
                        ),
                        &mut check,
                    );
                    return check;
                }
                let h = chain::link_hash(&seg.prev, &event);
                if chain::to_hex(&h) != hash {
                    fail(
                        n,
                        format!(
                            "compte {account}, maillon {link_no} : l'événement {} {} n° {} ne correspond pas à son empreinte (modifié après signature)",
                            event.aggregate_type, event.aggregate_id, event.sequence
                        ),
                        &mut check,
                    );
                    return check;
                }
                seg.prev = h;
                seg.next += 1;
                check.links += 1;
            }
            (
                BundleLine::End {
                    account,
                    last_link,
                    head_hash,
                    signature,
                },
                Some(seg),
                Some((from, to)),
            ) => {
                if account != seg.account
                    || last_link != seg.next - 1
                    || head_hash != chain::to_hex(&seg.prev)
                {
                    fail(
                        n,
                        format!(
                            "fin du segment du compte {account} : la tête signée ne correspond pas aux maillons (maillon {}, {})",
                            seg.next - 1,
                            chain::to_hex(&seg.prev)
                        ),
                        &mut check,
                    );
                    return check;
                }
                let msg = segment_message(
                    &account,
                    seg.first,
                    last_link,
                    &seg.prev_hex,
                    &head_hash,
                    from,
                    to,
                );
                let sig = base64::engine::general_purpose::STANDARD
                    .decode(&signature)
                    .ok()
                    .and_then(|b| Signature::from_slice(&b).ok());
                let valid = sig.is_some_and(|s| key.verify(&msg, &s).is_ok());
                if !valid {
                    fail(
                        n,
                        format!("signature invalide pour le segment du compte {account} (bad signature)"),
                        &mut check,
                    );
                    return check;
                }
                check.segments += 1;
                open = None;
            }
            (other, _, _) => {
                let kind = match other {
                    BundleLine::Header { .. } => "header",
                    BundleLine::Start { .. } => "start",
                    BundleLine::Link { .. } => "link",
                    BundleLine::End { .. } => "end",
                };
                fail(
                    n,
                    format!("ligne « {kind} » hors de sa place (line out of place)"),
                    &mut check,
                );
                return check;
            }
        }
    }
    if window.is_none() {
        fail(
            n,
            "paquet vide ou sans en-tête (no header)".into(),
            &mut check,
        );
    } else if let Some(seg) = open {
        fail(
            n,
            format!(
                "segment du compte {} non terminé : paquet tronqué (truncated)",
                seg.account
            ),
            &mut check,
        );
    }
    check
}

/// `audit verify-bundle FILE --public-key K`.
pub fn verify_bundle_cmd(file: &Path, key_text: &str) -> anyhow::Result<ExitCode> {
    let key = public_key(key_text)?;
    let f = std::fs::File::open(file)
        .map_err(|e| usage(format!("{} illisible : {e}", file.display())))?;
    let check = verify_bundle(&mut std::io::BufReader::new(f), &key);
    match check.failure {
        None => {
            println!(
                "{} : {} {}, {} {}",
                t("paquet d'audit valide", "audit bundle valid"),
                check.segments,
                t("segments signés", "signed segments"),
                check.links,
                t("maillons recalculés", "links recomputed")
            );
            Ok(ExitCode::SUCCESS)
        }
        Some((line, why)) => {
            println!(
                "{} {} {line} : {why}",
                t("PAQUET REJETÉ", "BUNDLE REJECTED"),
                t("ligne", "line")
            );
            Ok(ExitCode::from(1))
        }
    }
}
