//! `--device` and `$STROKESEG_DEVICE`: a bad name, or a device this build or machine lacks, is
//! refused with exit code 2 before any work, with a message saying what to do.

use crate::util::strokeseg;
use std::process::Command;

#[test]
fn device_flag_is_listed_in_help() {
    let out = strokeseg(&["segment", "--help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("--device"), "{}", out.stdout);
    assert!(out.stdout.contains("libtorch-cpu"), "{}", out.stdout);
}

#[test]
fn unknown_device_name_is_refused() {
    let out = strokeseg(&[
        "segment",
        "--device",
        "gpu",
        "nowhere",
        "--out",
        "nowhere-out",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("cpu, libtorch-cpu, cuda or cuda:N"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_device_in_the_environment_is_refused_and_named() {
    let o = Command::new(env!("CARGO_BIN_EXE_strokeseg"))
        .args(["segment", "nowhere", "--out", "nowhere-out"])
        .env("STROKESEG_DEVICE", "tpu")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("$STROKESEG_DEVICE"), "{stderr}");
    assert!(stderr.contains("\"tpu\""), "{stderr}");
}

#[cfg(not(feature = "tch"))]
#[test]
fn libtorch_devices_need_the_tch_build() {
    for device in ["libtorch-cpu", "cuda", "cuda:1"] {
        let out = strokeseg(&[
            "segment",
            "--device",
            device,
            "nowhere",
            "--out",
            "nowhere-out",
        ]);
        assert_eq!(out.code, 2, "{device}: {}", out.stderr);
        assert!(
            out.stderr.contains("--features tch"),
            "{device}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("tools/setup-tch.sh"),
            "{device}: {}",
            out.stderr
        );
    }
}

#[cfg(feature = "tch")]
#[test]
fn a_cuda_device_libtorch_does_not_see_is_refused() {
    let out = strokeseg(&[
        "segment",
        "--device",
        "cuda:99",
        "nowhere",
        "--out",
        "nowhere-out",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("CUDA device"), "{}", out.stderr);
}
