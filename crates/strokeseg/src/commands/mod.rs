//! Subcommand dispatch.

mod inspect;
mod study_args;
mod synth;

use crate::cli::Command;
use crate::Status;

/// Runs one subcommand.
pub fn run(cmd: Command) -> anyhow::Result<Status> {
    match cmd {
        Command::Inspect(a) => inspect::run(&a),
        Command::Synth(a) => synth::run(&a),
    }
}
