//! `signet`: the command line lives in `cli/`, one file per command group.

use std::process::ExitCode;

mod cli;

#[tokio::main]
async fn main() -> ExitCode {
    match cli::run(clap::Parser::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
