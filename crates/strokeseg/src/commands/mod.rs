//! Subcommand dispatch.

mod adapt;
mod batch;
mod bench;
mod calibrate;
mod demo;
mod ensemble;
mod evaluate;
mod implant;
mod inspect;
mod learning_curve;
mod licenses;
mod register;
mod segment;
mod serve;
mod study_args;
mod synth;
mod train;
mod training;
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
        Command::Serve(a) => serve::run(&a),
        Command::Register(a) => register::run(&a),
        Command::Calibrate(a) => calibrate::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Ensemble(a) => ensemble::run(&a),
        Command::Validate(a) => validate::run(&a),
        Command::Evaluate(a) => evaluate::run(&a),
        Command::Adapt(a) => adapt::run(&a),
        Command::LearningCurve(a) => learning_curve::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Licenses(a) => licenses::run(&a),
    }
}
