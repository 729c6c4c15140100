//! Any bytes as one DICOM file in a study folder, through the whole DICOM → study path
//! (structure guard, parser, pixel decoding, geometry, series assembly).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("strokeseg-fuzz-dicom-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("IM_00001.dcm"), data).unwrap();
    let _ = strokeseg_io::dicom::scan_dir(&dir);
});
