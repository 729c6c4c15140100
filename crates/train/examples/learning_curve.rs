//! Redraw a run's learning curve from its state.json:
//! `cargo run --release -p strokeseg-train --example learning_curve -- RUN/state.json OUT.png`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let (Some(state), Some(out)) = (a.get(1), a.get(2)) else {
        return Err("usage: learning_curve STATE.json OUT.png".into());
    };
    let s: strokeseg_train::TrainState = serde_json::from_str(&std::fs::read_to_string(state)?)?;
    strokeseg_train::training::learning_curve(&s).save(out)?;
    Ok(())
}
