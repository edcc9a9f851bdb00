//! `passerelle replay`: rebuild every projection from position 0 into fresh tables, compare
//! them row by row with the live ones, and (without `--verify`) swap them in.

use crate::projector::{checkpoint, create_tables, run, Projection, ProjectionError, Projector};
use passerelle_adapters::store::{DbKind, Val};

/// One difference between a live and a rebuilt table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDiff {
    /// Table.
    pub table: String,
    /// Key of the row.
    pub key: String,
    /// Live row (`None` = missing live).
    pub live: Option<String>,
    /// Rebuilt row (`None` = missing in the rebuild).
    pub rebuilt: Option<String>,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default)]
pub struct RebuildReport {
    /// Events fed to the rebuilt projections.
    pub events: u64,
    /// Rows compared.
    pub rows: u64,
    /// Differences found.
    pub diffs: Vec<RowDiff>,
    /// Seconds spent rebuilding (without the comparison).
    pub seconds: f64,
}

/// The prefix of one rebuild's tables and checkpoints: `rebuild_<random>_`, unique per
/// call, so two rebuilds of one database at the same time (two `replay --verify`, a test
/// and a server) never drop or fill each other's tables.
fn unique_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("rebuild_{}_", &id[..12])
}

/// Rebuilds every projection of `projector` into `rebuild_<id>_*` tables (unique to this
/// call) up to the live checkpoint, compares, then either drops the rebuilt tables
/// (`verify_only`) or, when they differ, replaces the live rows with the rebuilt ones. The
/// rebuilt tables are dropped on failure too.
pub async fn rebuild(
    projector: &Projector,
    verify_only: bool,
) -> Result<RebuildReport, ProjectionError> {
    let prefix = unique_prefix();
    let out = rebuild_into(projector, verify_only, &prefix).await;
    if out.is_err() {
        for p in projector.projections() {
            let _ = drop_tables(projector, p.as_ref(), &prefix).await;
            let _ = projector
                .db()
                .execute(
                    "DELETE FROM projection_checkpoints WHERE name = $1",
                    &[Val::text(format!("{prefix}{}", p.name()))],
                )
                .await;
        }
    }
    out
}

async fn rebuild_into(
    projector: &Projector,
    verify_only: bool,
    prefix: &str,
) -> Result<RebuildReport, ProjectionError> {
    let db = projector.db();
    projector.catch_up().await?;
    if db.kind() == passerelle_adapters::store::DbKind::Postgres {
        // Fresh statistics keep the feed on its (tx_id, position) index after bulk loads.
        db.execute("ANALYZE events", &[]).await?;
    }
    let mut report = RebuildReport::default();
    for p in projector.projections() {
        let live_ckpt = checkpoint(db, p.name()).await?;
        let rname = format!("{prefix}{}", p.name());
        create_tables(db, p.as_ref(), prefix).await?;
        db.execute(
            "DELETE FROM projection_checkpoints WHERE name = $1",
            &[Val::text(&rname)],
        )
        .await?;
        let started = std::time::Instant::now();
        report.events += run(db, p.as_ref(), prefix, &rname, Some(live_ckpt), 10_000).await?;
        report.seconds += started.elapsed().as_secs_f64();
        for t in p.tables() {
            compare_table(db, &t, prefix, &mut report).await?;
        }
        db.execute(
            "DELETE FROM projection_checkpoints WHERE name = $1",
            &[Val::text(&rname)],
        )
        .await?;
        if !verify_only && !report.diffs.is_empty() {
            let mut tx = db.begin().await?;
            for t in p.tables() {
                tx.execute(&format!("DELETE FROM {}", t.name), &[]).await?;
                tx.execute(
                    &format!("INSERT INTO {} SELECT * FROM {prefix}{}", t.name, t.name),
                    &[],
                )
                .await?;
            }
            tx.commit().await?;
        }
        drop_tables(projector, p.as_ref(), prefix).await?;
    }
    Ok(report)
}

/// Rows compared per page: the comparison streams both tables in key order, so memory
/// stays flat whatever their size.
const PAGE: usize = 5_000;

async fn page(
    db: &passerelle_adapters::store::Db,
    table: &str,
    t: &crate::projector::TableSpec,
    after: Option<&str>,
) -> Result<Vec<Vec<Val>>, sqlx::Error> {
    // Byte order on both databases, so the merge below can compare keys as Rust strings.
    let collate = match db.kind() {
        DbKind::Postgres => " COLLATE \"C\"",
        DbKind::Sqlite => "",
    };
    let sql = format!(
        "SELECT {key}, {cols} FROM {table} WHERE ($1::text IS NULL OR {key}{collate} > $1) ORDER BY {key}{collate} LIMIT {PAGE}",
        key = t.key,
        cols = t.columns,
    );
    db.fetch(&sql, &[Val::Text(after.map(str::to_string))])
        .await
}

async fn compare_table(
    db: &passerelle_adapters::store::Db,
    t: &crate::projector::TableSpec,
    prefix: &str,
    report: &mut RebuildReport,
) -> Result<(), sqlx::Error> {
    let key = |r: &Vec<Val>| r.first().map(Val::display).unwrap_or_default();
    let mut after: Option<String> = None;
    loop {
        let live = page(db, t.name, t, after.as_deref()).await?;
        let rebuilt = page(db, &format!("{prefix}{}", t.name), t, after.as_deref()).await?;
        if live.is_empty() && rebuilt.is_empty() {
            return Ok(());
        }
        // A full page bounds what is known on its side: compare only up to the smaller bound.
        let bound = [
            (&live, live.len() == PAGE),
            (&rebuilt, rebuilt.len() == PAGE),
        ]
        .iter()
        .filter(|(_, full)| *full)
        .filter_map(|(rows, _)| rows.last().map(key))
        .min();
        let within = |rows: Vec<Vec<Val>>| -> Vec<Vec<Val>> {
            match &bound {
                Some(b) => rows.into_iter().filter(|r| key(r) <= *b).collect(),
                None => rows,
            }
        };
        let (l, r) = (within(live), within(rebuilt));
        report.rows += l.len().max(r.len()) as u64;
        compare(t.name, &l, &r, &mut report.diffs);
        match bound {
            Some(b) => after = Some(b),
            None => return Ok(()),
        }
    }
}

async fn drop_tables(
    projector: &Projector,
    p: &dyn Projection,
    prefix: &str,
) -> Result<(), sqlx::Error> {
    for t in p.tables() {
        projector
            .db()
            .execute_script(&format!("DROP TABLE IF EXISTS {prefix}{}", t.name))
            .await?;
    }
    Ok(())
}

fn render(row: &[Val]) -> String {
    row.iter().map(Val::display).collect::<Vec<_>>().join(" | ")
}

fn compare(table: &str, live: &[Vec<Val>], rebuilt: &[Vec<Val>], out: &mut Vec<RowDiff>) {
    let (mut i, mut j) = (0, 0);
    let key = |r: &Vec<Val>| r.first().map(Val::display).unwrap_or_default();
    while i < live.len() || j < rebuilt.len() {
        let (l, r) = (live.get(i), rebuilt.get(j));
        match (l, r) {
            (Some(a), Some(b)) if key(a) == key(b) => {
                if render(a) != render(b) {
                    out.push(RowDiff {
                        table: table.into(),
                        key: key(a),
                        live: Some(render(a)),
                        rebuilt: Some(render(b)),
                    });
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if key(a) < key(b) => {
                out.push(RowDiff {
                    table: table.into(),
                    key: key(a),
                    live: Some(render(a)),
                    rebuilt: None,
                });
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push(RowDiff {
                    table: table.into(),
                    key: key(b),
                    live: None,
                    rebuilt: Some(render(b)),
                });
                j += 1;
            }
            (Some(a), None) => {
                out.push(RowDiff {
                    table: table.into(),
                    key: key(a),
                    live: Some(render(a)),
                    rebuilt: None,
                });
                i += 1;
            }
            (None, None) => break,
        }
    }
}
