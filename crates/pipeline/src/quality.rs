//! Quality gate: what cannot be a brain DWI is refused before a call is made.
//!
//! Owns the plausibility limits on a study's grid and brain volume. Must not look at the
//! network's output: the gate is about the input, so a refusal never depends on the model.
//! A single slice, a 2×2×2 volume or a constant image used to get confident calls
//! (issue 16 item 9); now `segment`, `demo` and `serve` refuse them with the reason.

use strokeseg_io::Study;

/// A study the gate refused, with the reason.
#[derive(Debug, Clone)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Fewest voxels along any axis of the DWI grid.
pub const MIN_VOXELS_PER_AXIS: usize = 8;
/// Smallest field of view along any axis, mm (a posterior-fossa-only slab is still allowed).
pub const MIN_EXTENT_MM: f64 = 40.0;
/// Plausible brain volume found by the brain mask, mL (partial coverage to the largest adult
/// head with some scalp): outside this the input is not a brain DWI, or not one we can read.
pub const BRAIN_ML: (f64, f64) = (100.0, 3000.0);

/// Checks the DWI grid before any work.
///
/// # Errors
/// A sentence saying what is implausible.
pub fn check_grid(study: &Study) -> Result<(), String> {
    let dims = study.dwi.dims();
    let sp = study.dwi.spacing_mm();
    for a in 0..3 {
        if dims[a] < MIN_VOXELS_PER_AXIS {
            return Err(format!(
                "not a brain DWI volume: {} × {} × {} voxels (at least {MIN_VOXELS_PER_AXIS} along each axis are needed)",
                dims[0], dims[1], dims[2]
            ));
        }
        let extent = dims[a] as f64 * sp[a];
        if extent < MIN_EXTENT_MM {
            return Err(format!(
                "not a brain DWI volume: field of view {extent:.0} mm along axis {a} (at least {MIN_EXTENT_MM:.0} mm are needed)"
            ));
        }
    }
    Ok(())
}

/// Checks the brain volume the brain mask found.
///
/// # Errors
/// A sentence with the volume and the plausible range.
pub fn check_brain(brain_ml: f64) -> Result<(), String> {
    if !(BRAIN_ML.0..=BRAIN_ML.1).contains(&brain_ml) {
        return Err(format!(
            "no brain found: the brain mask holds {brain_ml:.0} mL (plausible {:.0}–{:.0} mL); is this a brain DWI with signal?",
            BRAIN_ML.0, BRAIN_ML.1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brain_volume_limits() {
        assert!(check_brain(0.0).is_err());
        assert!(check_brain(40.0).is_err());
        assert!(check_brain(1200.0).is_ok());
        assert!(check_brain(f64::NAN).is_err());
        assert!(check_brain(9000.0).is_err());
    }
}
