//! Any bytes as a `.nii` file through the NIfTI reader: an `InputError` or a volume, never a
//! panic, an abort or an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("strokeseg-fuzz-nifti-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join("f.nii");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(data).unwrap();
    drop(f);
    let _ = strokeseg_io::nifti_io::read_nifti(&p);
});
