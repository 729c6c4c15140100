//! Any bytes as the JSON files `evaluate` reads: a `segment` report.json (the patient call and
//! score) and a synthetic dataset's manifest.json (lesion sizes and regions).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("strokeseg-fuzz-report-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let report = dir.join("report.json");
    std::fs::write(&report, data).unwrap();
    let _ = strokeseg_eval::inputs::read_report(&report);
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, data).unwrap();
    let _ = strokeseg_eval::inputs::read_manifest(&manifest);
});
