//! `strokeseg`: acute ischemic stroke detection on diffusion MRI. Research use only; not a
//! medical device.
//!
//! The binary owns argument parsing, logging set-up and exit codes; each subcommand lives in
//! `commands/`. Exit codes: 0 success, 2 rejected input (bad file, bad arguments), 1 internal
//! error.

mod cli;
mod commands;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc keeps freed pages in the process: every burn op allocates a fresh output tensor,
/// and with glibc's allocator large freed blocks go back to the kernel and fault in again
/// (≈9% of forward time in the profile, docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything worked.
    Ok,
    /// At least one input was rejected (its error was printed).
    BadInput,
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging(args.verbose, args.quiet);
    if let Err(e) = strokeseg_pipeline::device::select(args.device) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    if let Err(e) = strokeseg_pipeline::engine::select(args.engine) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match commands::run(args.command) {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::BadInput) => ExitCode::from(2),
        Err(e) => {
            let code = if is_user_error(&e) { 2 } else { 1 };
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(code)
        }
    }
}

/// True when the error is the user's to fix (bad input, model folder, configuration): exit
/// code 2; anything else is an internal failure (exit code 1).
pub fn is_user_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<strokeseg_io::InputError>()
            || c.downcast_ref::<strokeseg_pipeline::PipelineError>()
                .is_some_and(strokeseg_pipeline::PipelineError::is_user_error)
            || c.downcast_ref::<strokeseg_train::TrainError>()
                .is_some_and(strokeseg_train::TrainError::is_user_error)
            || c.downcast_ref::<strokeseg_serve::ServeError>()
                .is_some_and(strokeseg_serve::ServeError::is_user_error)
    })
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
