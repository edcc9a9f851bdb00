//! `passerelle`: the command-line entry point.

use std::process::ExitCode;

fn main() -> ExitCode {
    passerelle::cli::main()
}
