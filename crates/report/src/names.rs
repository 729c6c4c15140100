//! File names of the outputs, after BIDS derivatives: NIfTI outputs carry the study's
//! entities, `space-orig` (the study's own DWI grid) and `desc-lesion`, with the BIDS suffixes
//! `mask` (binary) and `probseg` (probabilities); the output root gets a
//! `dataset_description.json` with `DatasetType: derivative`.

/// Suffix of the lesion mask file (after the entities).
pub const MASK_SUFFIX: &str = "_space-orig_desc-lesion_mask.nii.gz";
/// Suffix of the probability map file.
pub const PROB_SUFFIX: &str = "_space-orig_desc-lesion_probseg.nii.gz";

/// The BIDS entities of a study's outputs: a name that starts with BIDS entities
/// (`sub-01_ses-02_dwi` → `sub-01_ses-02`) keeps them; any other name becomes one `sub-`
/// label of its letters and digits (`case 17.nii` → `sub-case17nii`).
#[must_use]
pub fn entities(study: &str) -> String {
    if study.starts_with("sub-") {
        let kept: Vec<&str> = study
            .split('_')
            .take_while(|t| {
                t.split_once('-').is_some_and(|(k, v)| {
                    !k.is_empty()
                        && !v.is_empty()
                        && k.chars().all(|c| c.is_ascii_alphanumeric())
                        && v.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
            .collect();
        if !kept.is_empty() {
            return kept.join("_");
        }
    }
    let label: String = study.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("sub-{}", if label.is_empty() { "study" } else { &label })
}

/// `dataset_description.json` of an output folder (BIDS derivatives).
#[must_use]
pub fn dataset_description() -> serde_json::Value {
    serde_json::json!({
        "Name": "strokeseg lesion segmentation (research use only)",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{
            "Name": "strokeseg",
            "Version": env!("CARGO_PKG_VERSION"),
            "Description": "Acute ischemic infarct segmentation on DWI. Research use only; not a medical device."
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_keep_bids_and_sanitise_the_rest() {
        assert_eq!(entities("sub-strokecase0001"), "sub-strokecase0001");
        assert_eq!(entities("sub-01_ses-02_dwi"), "sub-01_ses-02");
        assert_eq!(
            entities("sub-01_ses-0001_acq-b1000_dwi"),
            "sub-01_ses-0001_acq-b1000"
        );
        assert_eq!(entities("Subject02_DWI"), "sub-Subject02DWI");
        assert_eq!(entities("case 17.nii"), "sub-case17nii");
        assert_eq!(entities("__"), "sub-study");
        assert_eq!(entities("sub-_x"), "sub-subx");
        let mask = format!("{}{MASK_SUFFIX}", entities("sub-01_ses-02_dwi"));
        assert_eq!(mask, "sub-01_ses-02_space-orig_desc-lesion_mask.nii.gz");
    }
}
