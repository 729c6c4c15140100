//! Taking in one DICOM instance (from the C-STORE listener or an HTTP upload): check it,
//! decide whether it belongs to a diffusion (DWI) series, and store it under the data folder.
//!
//! Every UID that becomes part of a file name must be a valid DICOM UID (digits and dots,
//! at most 64 characters, no empty component), so no received value can name a path outside
//! the data folder; the final path is also checked to lie under it.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};
use std::path::{Path, PathBuf};
use strokeseg_io::dicom::DicomLimits;

/// Why an instance was refused. The listener answers with a failure status, HTTP with 400.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// The bytes are not a readable DICOM data set.
    #[error("not a readable DICOM instance: {0}")]
    Unreadable(String),
    /// A required attribute is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A UID is not a valid DICOM UID (and will not be used as a file name).
    #[error("{name} {value:?} is not a valid DICOM UID")]
    BadUid {
        /// Which attribute.
        name: &'static str,
        /// Its value (as received).
        value: String,
    },
    /// Storing failed on our side.
    #[error("cannot store: {0}")]
    Io(String),
    /// The study would grow past `max_study_mib` (the memory bound per study); the study is
    /// marked ([`OVER_LIMIT_FILE`]) so that its job fails instead of processing a part of it.
    #[error("{0}")]
    StudyTooLarge(String),
    /// The SOP Instance UID was received before with different content (issue 16 item 14).
    /// Policy: the first copy is kept and results made from it stay valid; the different
    /// resend is refused and logged. An identical resend is accepted as a duplicate.
    #[error(
        "SOP Instance UID {0} was already received with different content; the first copy is \
         kept (send a corrected image with a new SOP Instance UID)"
    )]
    Conflict(String),
}

/// Identifiers of a received instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIds {
    /// StudyInstanceUID.
    pub study: String,
    /// SeriesInstanceUID.
    pub series: String,
    /// SOPInstanceUID.
    pub sop: String,
    /// SOPClassUID.
    pub sop_class: String,
}

/// Whether an instance is used for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Part of a diffusion series (DWI, trace or ADC): processed.
    Diffusion,
    /// Anything else (CT, T1, FLAIR, reports…): stored and not processed, for this reason.
    Ignored(String),
}

/// A checked instance, ready to be written.
pub struct Checked {
    /// Its identifiers.
    pub ids: InstanceIds,
    /// Modality (empty when absent).
    pub modality: String,
    /// DWI or not, and why.
    pub kind: Kind,
    /// Size of the instance as received (bytes), counted against `max_study_mib`.
    pub bytes: u64,
    /// Who and what the study is, as received (shown on the worklist; never logged).
    pub patient: PatientInfo,
    obj: DefaultDicomObject,
}

/// Patient and study identifiers as received, for the worklist. Patient data: kept in the
/// job database, shown to signed-in users, never written to logs or URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PatientInfo {
    /// PatientID (0010,0020).
    pub patient_id: String,
    /// PatientName (0010,0010), `^` between name parts as in DICOM.
    pub patient_name: String,
    /// AccessionNumber (0008,0050).
    pub accession: String,
    /// StudyDescription (0008,1030).
    pub study_description: String,
    /// StudyDate (0008,0020), YYYYMMDD.
    pub study_date: String,
}

/// Marker in a study's folder (`DATA/studies/<study>/`) saying it outgrew `max_study_mib`;
/// holds the reason, which becomes the job's error.
pub const OVER_LIMIT_FILE: &str = "OVER_LIMIT";

/// Bytes of the regular files under `dir` (0 when it does not exist): what a study already
/// holds on disk when the service restarts.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The text of an element, trimmed of padding; `None` when absent or not text.
fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let v = obj.element_opt(tag).ok().flatten()?.to_str().ok()?;
    let t = v.trim_matches(|c: char| c == ' ' || c == '\0').to_string();
    (!t.is_empty()).then_some(t)
}

/// Whether `s` is a valid DICOM UID (PS3.5 §9.1): components of digits separated by single
/// dots, no leading zero in a multi-digit component, at most 64 characters.
#[must_use]
pub fn is_valid_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && !(c.len() > 1 && c.starts_with('0'))
        })
}

fn uid(obj: &InMemDicomObject, tag: Tag, name: &'static str) -> Result<String, Rejected> {
    let v = text(obj, tag).ok_or(Rejected::Missing(name))?;
    if is_valid_uid(&v) {
        Ok(v)
    } else {
        Err(Rejected::BadUid { name, value: v })
    }
}

/// The rule for "is this a diffusion series we should process?".
///
/// Modality must be MR (CT, PT, SR… are never diffusion). Among MR images, a diffusion image
/// is recognised by what the scanner records about diffusion, most specific first: a
/// b-value (standard (0018,9087), inside an MR Diffusion Sequence — also per frame for
/// Enhanced MR — or the Siemens/GE/Philips private tags the study reader understands);
/// ImageType containing DIFFUSION, TRACE or ADC; or, for older exports that carry neither,
/// a SeriesDescription naming diffusion (DWI, DIFF, ADC, TRACE, EP2D_DIFF). T1, T2, FLAIR,
/// SWI and localizers carry none of these and are ignored, with the reason logged.
#[must_use]
pub fn classify(obj: &InMemDicomObject) -> Kind {
    let modality = text(obj, tags::MODALITY).unwrap_or_default().to_uppercase();
    if modality != "MR" {
        let m = if modality.is_empty() {
            "absent"
        } else {
            modality.as_str()
        };
        return Kind::Ignored(format!("Modality {m} is not MR"));
    }
    if strokeseg_io::dicom::b_value(obj).is_some() || enhanced_b_value(obj) {
        return Kind::Diffusion;
    }
    let image_type = text(obj, tags::IMAGE_TYPE)
        .unwrap_or_default()
        .to_uppercase();
    if image_type
        .split('\\')
        .any(|v| matches!(v.trim(), "DIFFUSION" | "TRACE" | "ADC"))
    {
        return Kind::Diffusion;
    }
    let desc = text(obj, tags::SERIES_DESCRIPTION).unwrap_or_default();
    let words = desc.to_uppercase();
    let named = words
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| matches!(w, "DWI" | "DIFF" | "DIFFUSION" | "ADC" | "TRACE" | "TRACEW"))
        || words.contains("EP2D_DIFF");
    if named {
        return Kind::Diffusion;
    }
    Kind::Ignored(format!(
        "MR without diffusion information (no b-value, ImageType {image_type:?}, SeriesDescription {desc:?})"
    ))
}

/// Whether the first per-frame functional group of an Enhanced MR object holds a b-value.
fn enhanced_b_value(obj: &InMemDicomObject) -> bool {
    let Some(items) = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
    else {
        return false;
    };
    items
        .iter()
        .take(4)
        .any(|it| strokeseg_io::dicom::b_value(it).is_some())
}

fn check(obj: DefaultDicomObject) -> Result<Checked, Rejected> {
    let ids = InstanceIds {
        study: uid(&obj, tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        series: uid(&obj, tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        sop: uid(&obj, tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        sop_class: uid(&obj, tags::SOP_CLASS_UID, "SOPClassUID")?,
    };
    let modality = text(&obj, tags::MODALITY).unwrap_or_default();
    let kind = classify(&obj);
    // Bounded: these are shown, not parsed, and a hostile sender could make them long.
    let field = |t: Tag| {
        text(&obj, t)
            .unwrap_or_default()
            .chars()
            .take(128)
            .collect::<String>()
    };
    let patient = PatientInfo {
        patient_id: field(tags::PATIENT_ID),
        patient_name: field(tags::PATIENT_NAME),
        accession: field(tags::ACCESSION_NUMBER),
        study_description: field(tags::STUDY_DESCRIPTION),
        study_date: field(tags::STUDY_DATE),
    };
    Ok(Checked {
        ids,
        modality,
        kind,
        bytes: 0,
        patient,
        obj,
    })
}

/// Checks a data set received over the network in transfer syntax `ts`.
///
/// # Errors
/// [`Rejected`] when it cannot be read or lacks valid identifiers.
pub fn from_dataset(bytes: &[u8], ts: &str, limits: &DicomLimits) -> Result<Checked, Rejected> {
    use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
    let ts = ts.trim_end_matches('\0');
    let syntax = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| Rejected::Unreadable(format!("unknown transfer syntax {ts}")))?;
    strokeseg_io::dicom::guard::check_dataset(bytes, ts, limits).map_err(Rejected::Unreadable)?;
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, syntax)
        .map_err(|e| Rejected::Unreadable(e.to_string()))?;
    let class = text(&obj, tags::SOP_CLASS_UID).ok_or(Rejected::Missing("SOPClassUID"))?;
    let inst = text(&obj, tags::SOP_INSTANCE_UID).ok_or(Rejected::Missing("SOPInstanceUID"))?;
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(inst)
        .transfer_syntax(ts)
        .build()
        .map_err(|e| Rejected::Unreadable(format!("cannot build file meta: {e}")))?;
    let mut c = check(obj.with_exact_meta(meta))?;
    c.bytes = bytes.len() as u64;
    Ok(c)
}

/// Checks an uploaded DICOM file (Part 10, with or without the 128-byte preamble).
///
/// # Errors
/// [`Rejected`] when it cannot be read or lacks valid identifiers.
pub fn from_file_bytes(bytes: &[u8], limits: &DicomLimits) -> Result<Checked, Rejected> {
    strokeseg_io::dicom::guard::check_part10(std::io::Cursor::new(bytes), limits)
        .map_err(Rejected::Unreadable)?;
    let obj = dicom_object::OpenFileOptions::new()
        .from_reader(bytes)
        .map_err(|e| Rejected::Unreadable(e.to_string()))?;
    let mut c = check(obj)?;
    c.bytes = bytes.len() as u64;
    Ok(c)
}

/// Where an instance is kept: `DATA/studies/<study>/<dwi|other>/<series>/<sop>.dcm`.
///
/// # Errors
/// [`Rejected::BadUid`] if any UID is not a valid UID (so cannot form a path).
pub fn instance_path(
    data_dir: &Path,
    ids: &InstanceIds,
    diffusion: bool,
) -> Result<PathBuf, Rejected> {
    for (name, v) in [
        ("StudyInstanceUID", &ids.study),
        ("SeriesInstanceUID", &ids.series),
        ("SOPInstanceUID", &ids.sop),
    ] {
        if !is_valid_uid(v) {
            return Err(Rejected::BadUid {
                name,
                value: v.clone(),
            });
        }
    }
    let p = study_dir(data_dir, &ids.study)?
        .join(if diffusion { "dwi" } else { "other" })
        .join(&ids.series)
        .join(format!("{}.dcm", ids.sop));
    Ok(p)
}

/// The folder of one study (`DATA/studies/<study>`).
///
/// # Errors
/// [`Rejected::BadUid`] when `study` is not a valid UID.
pub fn study_dir(data_dir: &Path, study: &str) -> Result<PathBuf, Rejected> {
    if !is_valid_uid(study) {
        return Err(Rejected::BadUid {
            name: "StudyInstanceUID",
            value: study.to_string(),
        });
    }
    Ok(data_dir.join("studies").join(study))
}

impl Checked {
    /// Writes the instance under `data_dir` (atomically: temporary file, then rename) and
    /// returns its path.
    ///
    /// # Errors
    /// [`Rejected::Io`] when writing fails.
    pub fn store(&self, data_dir: &Path) -> Result<PathBuf, Rejected> {
        let path = instance_path(data_dir, &self.ids, self.kind == Kind::Diffusion)?;
        // Defence in depth: the UIDs were validated, but never write outside data_dir.
        if !path.starts_with(data_dir)
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(Rejected::Io(format!(
                "refusing to write outside the data folder: {}",
                path.display()
            )));
        }
        let dir = path.parent().unwrap_or(data_dir);
        std::fs::create_dir_all(dir)
            .map_err(|e| Rejected::Io(format!("{}: {e}", dir.display())))?;
        let tmp = dir.join(format!(".{}.part", self.ids.sop));
        self.obj
            .write_to_file(&tmp)
            .map_err(|e| Rejected::Io(format!("{}: {e}", tmp.display())))?;
        if path.is_file() {
            // A resend: the same bytes are a harmless duplicate; different bytes under the
            // same UID are refused, so a finished result never silently changes its input.
            let same = std::fs::read(&tmp).ok() == std::fs::read(&path).ok();
            let _ = std::fs::remove_file(&tmp);
            if same {
                return Ok(path);
            }
            return Err(Rejected::Conflict(self.ids.sop.clone()));
        }
        std::fs::rename(&tmp, &path)
            .map_err(|e| Rejected::Io(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mr(elems: &[(Tag, dicom_core::VR, &str)]) -> InMemDicomObject {
        let mut o = InMemDicomObject::from_element_iter([dicom_core::DataElement::new(
            tags::MODALITY,
            dicom_core::VR::CS,
            dicom_core::PrimitiveValue::from("MR"),
        )]);
        for (t, vr, v) in elems {
            o.put(dicom_core::DataElement::new(
                *t,
                *vr,
                dicom_core::PrimitiveValue::from(*v),
            ));
        }
        o
    }

    #[test]
    fn diffusion_rule() {
        use dicom_core::VR;
        assert_eq!(
            classify(&mr(&[(tags::SERIES_DESCRIPTION, VR::LO, "Ax DWI b1000")])),
            Kind::Diffusion
        );
        assert_eq!(
            classify(&mr(&[(tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY\\ADC")])),
            Kind::Diffusion
        );
        assert_eq!(
            classify(&mr(&[(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                "ep2d_diff_3scan_trace"
            )])),
            Kind::Diffusion
        );
        // Per-frame b-value of an Enhanced MR object.
        let frame = InMemDicomObject::from_element_iter([dicom_core::DataElement::new(
            tags::MR_DIFFUSION_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![InMemDicomObject::from_element_iter([
                dicom_core::DataElement::new(
                    tags::DIFFUSION_B_VALUE,
                    VR::FD,
                    dicom_core::PrimitiveValue::from(1000.0f64),
                ),
            ])]),
        )]);
        let mut enh = mr(&[]);
        enh.put(dicom_core::DataElement::new(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![frame]),
        ));
        assert_eq!(classify(&enh), Kind::Diffusion);
        // Not diffusion: T1 and FLAIR by description, "different" is not "diff".
        for d in ["T1 MPRAGE", "AX FLAIR", "different protocol"] {
            assert!(
                matches!(
                    classify(&mr(&[(tags::SERIES_DESCRIPTION, VR::LO, d)])),
                    Kind::Ignored(_)
                ),
                "{d}"
            );
        }
        let mut ct = mr(&[(tags::SERIES_DESCRIPTION, VR::LO, "DWI")]);
        ct.put(dicom_core::DataElement::new(
            tags::MODALITY,
            VR::CS,
            dicom_core::PrimitiveValue::from("CT"),
        ));
        assert_eq!(classify(&ct), Kind::Ignored("Modality CT is not MR".into()));
    }

    #[test]
    fn uid_grammar() {
        assert!(is_valid_uid("1.2.840.10008.5.1.4.1.1.4"));
        assert!(is_valid_uid("2.25.0"));
        for bad in [
            "",
            "..",
            "../../etc",
            "1..2",
            "1.2.",
            "1.02",
            "1.2/3",
            "1.2\\3",
            &"1".repeat(65),
        ] {
            assert!(!is_valid_uid(bad), "{bad:?} accepted");
        }
        let ids = InstanceIds {
            study: "1.2".into(),
            series: "..".into(),
            sop: "3".into(),
            sop_class: "1.2".into(),
        };
        assert!(instance_path(Path::new("/data"), &ids, true).is_err());
    }
}
