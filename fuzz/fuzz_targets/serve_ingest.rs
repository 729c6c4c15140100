//! Any bytes as what `serve` receives: an HTTP upload (Part 10 file) and a C-STORE data set in
//! explicit and implicit VR little endian. Refused or accepted, never a panic or abort.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strokeseg_io::dicom::DicomLimits;
use strokeseg_serve::ingest;

fuzz_target!(|data: &[u8]| {
    let limits = DicomLimits::default();
    let _ = ingest::from_file_bytes(data, &limits);
    let _ = ingest::from_dataset(data, "1.2.840.10008.1.2.1", &limits);
    let _ = ingest::from_dataset(data, "1.2.840.10008.1.2", &limits);
});
