//! Any text as the `serve` TOML configuration: parsed and validated, or refused with a message.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = toml::from_str::<strokeseg_serve::Config>(s) {
            let _ = c.validate();
        }
    }
});
