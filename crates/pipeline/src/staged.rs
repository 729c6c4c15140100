//! Whole-or-nothing output folders: a study's files are written into a hidden staging folder
//! inside the output folder and moved into place only when every one of them was written, the
//! report last. A full disk or any other failure leaves no truncated picture or mask beside a
//! missing report (issue 16 item 12). Renames within one folder are atomic on POSIX.

use std::path::Path;

use crate::PipelineError;

/// Name of the staging folder inside an output folder.
pub const STAGE: &str = ".strokeseg-partial";

/// Runs `write` with a fresh staging folder, then moves what it wrote into `dir` (files named
/// `last` after the others). On failure the staging folder is removed, and `dir` too when this
/// call created it and it is empty.
///
/// # Errors
/// The error of `write`, or of creating/moving the files, naming the path.
pub fn write_staged<T>(
    dir: &Path,
    last: &str,
    write: impl FnOnce(&Path) -> Result<T, PipelineError>,
) -> Result<T, PipelineError> {
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::write(dir, e))?;
    let stage = dir.join(STAGE);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .map_err(|e| PipelineError::write(&stage, format!("cannot clear: {e}")))?;
    }
    let result = std::fs::create_dir(&stage)
        .map_err(|e| PipelineError::write(&stage, e))
        .and_then(|()| write(&stage))
        .and_then(|t| publish(&stage, dir, last).map(|()| t));
    let _ = std::fs::remove_dir_all(&stage);
    if result.is_err() && created {
        let _ = std::fs::remove_dir(dir); // only when empty
    }
    result
}

fn publish(stage: &Path, dir: &Path, last: &str) -> Result<(), PipelineError> {
    let mut names: Vec<_> = std::fs::read_dir(stage)
        .map_err(|e| PipelineError::write(stage, format!("cannot list: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort_by_key(|n| n == last);
    for n in names {
        let (from, to) = (stage.join(&n), dir.join(&n));
        std::fs::rename(&from, &to).map_err(|e| {
            PipelineError::write(&to, format!("cannot move {} there: {e}", from.display()))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_and_a_good_one_leaves_everything() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("study");
        let r: Result<(), PipelineError> = write_staged(&out, "report.json", |s| {
            std::fs::write(s.join("lesion_mask.nii.gz"), b"mask").unwrap();
            Err(PipelineError::write(s.join("overlay.png"), "disk full"))
        });
        assert!(r.is_err());
        assert!(!out.exists(), "no partial output folder is left");
        write_staged(&out, "report.json", |s| {
            std::fs::write(s.join("report.json"), b"{}").unwrap();
            std::fs::write(s.join("lesion_mask.nii.gz"), b"mask").unwrap();
            Ok(())
        })
        .unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["lesion_mask.nii.gz", "report.json"]);
        // A failed rerun into an existing folder keeps the earlier, complete outputs.
        let r: Result<(), PipelineError> = write_staged(&out, "report.json", |s| {
            std::fs::write(s.join("lesion_mask.nii.gz"), b"new").unwrap();
            Err(PipelineError::write(s.join("overlay.png"), "failed"))
        });
        assert!(r.is_err());
        assert_eq!(
            std::fs::read(out.join("lesion_mask.nii.gz")).unwrap(),
            b"mask"
        );
        assert!(!out.join(STAGE).exists());
    }
}
