//! Copying the source's patient/study attributes into a new object, conformed to the
//! standard: real exports carry wrong explicit VRs (an anonymiser writing Patient's Name as
//! `SH`) and invalid values (`Unknown` as a birth date). Each copied text value is re-encoded
//! with the data dictionary's VR and kept when valid for it; an invalid value is dropped (and
//! logged), which for a Type 2 attribute leaves it empty. Sequences are copied as they are.
//!
//! Hand-written checks: dicom-rs parses but does not validate VR value formats.

use crate::common::{Elem, Obj};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// Whether `v` is a valid value of a text VR (PS3.5 6.2), per value of a multi-valued one.
fn valid(vr: VR, v: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let printable = |s: &str, max: usize| {
        s.chars().count() <= max && !s.chars().any(|c| c.is_control() && c != '\u{1b}')
    };
    match vr {
        VR::DA => v.len() == 8 && digits(v),
        VR::TM => {
            let (hms, frac) = v.split_once('.').unwrap_or((v, ""));
            matches!(hms.len(), 2 | 4 | 6)
                && digits(hms)
                && (frac.is_empty() || (frac.len() <= 6 && digits(frac)))
        }
        VR::AS => v.len() == 4 && digits(&v[..3]) && matches!(&v[3..], "D" | "W" | "M" | "Y"),
        VR::CS => {
            v.len() <= 16
                && v.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_')
        }
        VR::DS => v.len() <= 16 && v.trim().parse::<f64>().is_ok_and(f64::is_finite),
        VR::IS => v.len() <= 12 && v.trim().parse::<i64>().is_ok(),
        VR::UI => v.len() <= 64 && v.split('.').all(digits),
        VR::SH => printable(v, 16),
        VR::LO => printable(v, 64),
        VR::PN => v.split('=').all(|g| printable(g, 64)),
        VR::ST => printable(v, 1024),
        VR::LT => printable(v, 10240),
        VR::UT | VR::UC => true,
        _ => false,
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\0')
}

/// `e` as the standard says it should be written, or `None` when its value is not valid.
pub(crate) fn conform(e: &Elem) -> Option<Elem> {
    let tag = e.tag();
    let Some(vr) = StandardDataDictionary
        .by_tag(tag)
        .and_then(|d| d.vr().exact())
    else {
        return Some(e.clone());
    };
    if vr == VR::SQ || e.vr() == VR::SQ {
        return (e.vr() == vr).then(|| e.clone());
    }
    let Some(prim) = e.value().primitive() else {
        return Some(e.clone());
    };
    let text = match prim {
        PrimitiveValue::Empty => return Some(DataElement::new(tag, vr, PrimitiveValue::Empty)),
        PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => prim.to_str().into_owned(),
        PrimitiveValue::U8(b) => String::from_utf8_lossy(b).into_owned(),
        // Binary values (US, FD...) are typed already.
        _ => return (e.vr() == vr).then(|| e.clone()),
    };
    let values: Vec<String> = text.split('\\').map(|v| trim(v).to_string()).collect();
    if values.iter().all(|v| v.is_empty()) {
        return Some(DataElement::new(tag, vr, PrimitiveValue::Empty));
    }
    if let Some(bad) = values.iter().find(|v| !v.is_empty() && !valid(vr, v)) {
        tracing::info!("source {tag} ({vr:?}) value {bad:?} is not valid; not copied");
        return None;
    }
    if e.vr() != vr {
        tracing::debug!("source {tag} had VR {:?}; written as {vr:?}", e.vr());
    }
    Some(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(values.into()),
    ))
}

/// The conformed elements of `src`.
pub(crate) fn conformed(src: &Obj) -> Obj {
    Obj::from_element_iter(src.iter().filter_map(conform).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;

    fn e(tag: dicom_core::Tag, vr: VR, v: &str) -> Elem {
        DataElement::new(tag, vr, PrimitiveValue::from(v))
    }

    #[test]
    fn wrong_vr_is_fixed_and_invalid_values_dropped() {
        let name = conform(&e(tags::PATIENT_NAME, VR::SH, "Doe^Jane ")).unwrap();
        assert_eq!(name.vr(), VR::PN);
        assert_eq!(name.to_str().unwrap(), "Doe^Jane");
        assert!(conform(&e(tags::PATIENT_BIRTH_DATE, VR::SH, "Unknown ")).is_none());
        let bd = conform(&e(tags::PATIENT_BIRTH_DATE, VR::DA, "19700101")).unwrap();
        assert_eq!(bd.vr(), VR::DA);
        assert!(conform(&e(tags::STUDY_TIME, VR::TM, "101500.25")).is_some());
        assert!(conform(&e(tags::STUDY_TIME, VR::TM, "10:15")).is_none());
        assert!(conform(&e(tags::PATIENT_AGE, VR::AS, "067Y")).is_some());
        assert!(conform(&e(tags::PATIENT_AGE, VR::AS, "67")).is_none());
        assert!(conform(&e(tags::STUDY_ID, VR::SH, "01234567890123456789")).is_none());
        let empty = conform(&e(tags::REFERRING_PHYSICIAN_NAME, VR::SH, "  ")).unwrap();
        assert_eq!(empty.vr(), VR::PN);
        assert!(matches!(
            empty.value().primitive(),
            Some(PrimitiveValue::Empty)
        ));
    }
}
