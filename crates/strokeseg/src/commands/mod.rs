//! Subcommand dispatch.

mod inspect;
mod study_args;

use crate::cli::Command;
use crate::Status;

/// Runs one subcommand.
pub fn run(cmd: Command) -> anyhow::Result<Status> {
    match cmd {
        Command::Inspect(a) => inspect::run(&a),
    }
}
