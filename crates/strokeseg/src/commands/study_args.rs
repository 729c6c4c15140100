//! Turning `StudyArgs` into one `StudySpec` per study.

use crate::cli::StudyArgs;
use strokeseg_io::{InputError, StudySpec};

/// One spec per positional PATH, or one spec from the explicit --dwi/--adc/--b0 flags (which
/// may be combined with a single PATH).
pub fn specs(a: &StudyArgs) -> Result<Vec<StudySpec>, InputError> {
    let explicit = a.dwi.is_some() || a.adc.is_some() || a.b0.is_some();
    if explicit {
        if a.paths.len() > 1 {
            return Err(InputError::Usage(
                "--dwi/--adc/--b0 describe one study: give at most one PATH with them".into(),
            ));
        }
        return Ok(vec![StudySpec {
            paths: a.paths.clone(),
            dwi: a.dwi.clone(),
            adc: a.adc.clone(),
            b0: a.b0.clone(),
        }]);
    }
    if a.paths.is_empty() {
        return Err(InputError::Usage(
            "no study given: pass a DICOM folder, a NIfTI file or folder, or --dwi FILE".into(),
        ));
    }
    Ok(a.paths
        .iter()
        .map(|p| StudySpec {
            paths: vec![p.clone()],
            ..StudySpec::default()
        })
        .collect())
}
