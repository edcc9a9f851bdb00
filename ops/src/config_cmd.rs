//! `passerelle config show | sample`: the effective settings and where each came from, and
//! the documented sample file.

use crate::cli::ConfigOp;
use crate::commands::t;
use crate::settings::{self, Settings, TEST_KNOB_VARS};
use std::process::ExitCode;

/// Runs a `config` operation.
pub fn config(s: &Settings, op: &ConfigOp) -> anyhow::Result<ExitCode> {
    match op {
        ConfigOp::Sample => print!("{}", settings::sample_toml()),
        ConfigOp::Show { json: true } => {
            println!("{}", serde_json::to_string_pretty(&settings::show_json(s))?);
        }
        ConfigOp::Show { json: false } => {
            println!(
                "{} {}",
                t("Fichier de réglages :", "Settings file:"),
                s.file.as_ref().map_or_else(
                    || t("(aucun)", "(none)").to_string(),
                    |p| p.display().to_string()
                )
            );
            for (key, value, layer) in s.effective() {
                println!("  {key:<34} = {value:<28}  [{layer}]");
            }
            let knobs: Vec<&str> = TEST_KNOB_VARS
                .iter()
                .copied()
                .filter(|v| settings::process_env(v).is_some())
                .collect();
            if !knobs.is_empty() {
                println!(
                    "{} {}",
                    t(
                        "Réglages de test actifs (jamais en production) :",
                        "Test knobs set (never in production):"
                    ),
                    knobs.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
