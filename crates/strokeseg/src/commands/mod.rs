//! Subcommand dispatch.

mod calibrate;
mod demo;
mod inspect;
mod segment;
mod study_args;
mod synth;
mod train;
mod validate;

use crate::cli::Command;
use crate::Status;

/// Runs one subcommand.
pub fn run(cmd: Command) -> anyhow::Result<Status> {
    match cmd {
        Command::Inspect(a) => inspect::run(&a),
        Command::Synth(a) => synth::run(&a),
        Command::Train(a) => train::run(&a),
        Command::Segment(a) => segment::run(&a),
        Command::Calibrate(a) => calibrate::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Validate(a) => validate::run(&a),
    }
}
