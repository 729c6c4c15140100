//! Whole-or-nothing output folders: a study's files are written into a hidden staging folder
//! inside the output folder and moved into place only when every one of them was written, the
//! report last. A full disk or any other failure leaves no truncated picture or mask beside a
//! missing report (issue 16 item 12). Renames within one folder are atomic on POSIX.

use anyhow::Context;
use std::path::Path;

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
    write: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let created = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stage = dir.join(STAGE);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .with_context(|| format!("cannot clear {}", stage.display()))?;
    }
    let result = std::fs::create_dir(&stage)
        .with_context(|| format!("cannot create {}", stage.display()))
        .and_then(|()| write(&stage))
        .and_then(|t| publish(&stage, dir, last).map(|()| t));
    let _ = std::fs::remove_dir_all(&stage);
    if result.is_err() && created {
        let _ = std::fs::remove_dir(dir); // only when empty
    }
    result
}

fn publish(stage: &Path, dir: &Path, last: &str) -> anyhow::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(stage)
        .with_context(|| format!("cannot list {}", stage.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort_by_key(|n| n == last);
    for n in names {
        let (from, to) = (stage.join(&n), dir.join(&n));
        std::fs::rename(&from, &to)
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
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
        let r: anyhow::Result<()> = write_staged(&out, "report.json", |s| {
            std::fs::write(s.join("lesion_mask.nii.gz"), b"mask")?;
            anyhow::bail!("disk full while writing overlay.png")
        });
        assert!(r.is_err());
        assert!(!out.exists(), "no partial output folder is left");
        write_staged(&out, "report.json", |s| {
            std::fs::write(s.join("report.json"), b"{}")?;
            std::fs::write(s.join("lesion_mask.nii.gz"), b"mask")?;
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
        let r: anyhow::Result<()> = write_staged(&out, "report.json", |s| {
            std::fs::write(s.join("lesion_mask.nii.gz"), b"new")?;
            anyhow::bail!("failed")
        });
        assert!(r.is_err());
        assert_eq!(
            std::fs::read(out.join("lesion_mask.nii.gz")).unwrap(),
            b"mask"
        );
        assert!(!out.join(STAGE).exists());
    }
}
