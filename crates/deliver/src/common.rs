//! Pieces shared by the SEG and Secondary Capture writers: element constructors, coded
//! concepts, the modules copied from the source (Patient, General Study, ...), the new
//! series' modules, and saving with a file meta table.

use crate::{DeliverError, DeliverOptions};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileDicomObject, FileMetaTableBuilder, InMemDicomObject};
use std::path::Path;
use strokeseg_io::dicom::DicomProvenance;

pub(crate) type Obj = InMemDicomObject;
pub(crate) type Elem = DataElement<InMemDicomObject>;

/// An element with a value.
pub(crate) fn elem(tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) -> Elem {
    DataElement::new(tag, vr, v.into())
}

/// An element of zero length (Type 2 attributes with no known value).
pub(crate) fn empty(tag: Tag, vr: VR) -> Elem {
    DataElement::new(tag, vr, PrimitiveValue::Empty)
}

/// A sequence element.
pub(crate) fn seq(tag: Tag, items: Vec<Obj>) -> Elem {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// A sequence element with one item made of `elems`.
pub(crate) fn seq1(tag: Tag, elems: Vec<Elem>) -> Elem {
    seq(tag, vec![Obj::from_element_iter(elems)])
}

/// A multi-valued DS element.
pub(crate) fn ds_multi(tag: Tag, v: &[f64]) -> Elem {
    let s: Vec<String> = v.iter().map(|&x| strokeseg_io::dicom::ds(x)).collect();
    elem(tag, VR::DS, PrimitiveValue::Strs(s.into()))
}

/// A coded concept (Code Sequence Macro) as one sequence item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Code {
    pub value: &'static str,
    pub scheme: &'static str,
    pub meaning: &'static str,
}

impl Code {
    pub(crate) fn item(self) -> Obj {
        Obj::from_element_iter([
            elem(tags::CODE_VALUE, VR::SH, self.value),
            elem(tags::CODING_SCHEME_DESIGNATOR, VR::SH, self.scheme),
            elem(tags::CODE_MEANING, VR::LO, self.meaning),
        ])
    }

    /// `tag` as a sequence holding this code.
    pub(crate) fn seq(self, tag: Tag) -> Elem {
        seq(tag, vec![self.item()])
    }
}

/// (DA, TM) of now, local time.
pub(crate) fn now() -> (String, String) {
    let t = chrono::Local::now();
    (
        t.format("%Y%m%d").to_string(),
        t.format("%H%M%S%.6f").to_string(),
    )
}

/// Type 2 attributes of the Patient and General Study modules, written empty when the source
/// lacks them.
const TYPE2: &[(Tag, VR)] = &[
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// Patient, General Study, General Series, General Equipment and SOP Common attributes of a
/// new instance in a new series of the source study.
pub(crate) struct NewInstance<'a> {
    pub source: &'a DicomProvenance,
    pub opts: &'a DeliverOptions,
    pub sop_class: &'a str,
    pub sop_instance_uid: &'a str,
    pub series_uid: &'a str,
    pub series_number: i64,
    pub series_description: &'a str,
    pub modality: &'a str,
    pub instance_number: i64,
}

impl NewInstance<'_> {
    /// The data set so far (no image attributes yet).
    pub(crate) fn base(&self) -> Result<Obj, DeliverError> {
        if self.source.study_instance_uid.is_empty() {
            return Err(DeliverError::Source(
                "the source has no StudyInstanceUID".into(),
            ));
        }
        let mut o = crate::copy::conformed(&self.source.patient_study);
        for &(t, vr) in TYPE2 {
            if o.get(t).is_none() {
                o.put(empty(t, vr));
            }
        }
        // The copied StudyInstanceUID is the one the provenance names.
        o.put(elem(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            self.source.study_instance_uid.as_str(),
        ));
        let (date, time) = now();
        for e in [
            elem(tags::SOP_CLASS_UID, VR::UI, self.sop_class),
            elem(tags::SOP_INSTANCE_UID, VR::UI, self.sop_instance_uid),
            elem(tags::INSTANCE_CREATION_DATE, VR::DA, date.as_str()),
            elem(tags::INSTANCE_CREATION_TIME, VR::TM, time.as_str()),
            elem(tags::MODALITY, VR::CS, self.modality),
            elem(tags::SERIES_INSTANCE_UID, VR::UI, self.series_uid),
            elem(tags::SERIES_NUMBER, VR::IS, self.series_number.to_string()),
            elem(tags::SERIES_DATE, VR::DA, date.as_str()),
            elem(tags::SERIES_TIME, VR::TM, time.as_str()),
            elem(tags::SERIES_DESCRIPTION, VR::LO, self.series_description),
            elem(tags::MANUFACTURER, VR::LO, self.opts.manufacturer.as_str()),
            elem(
                tags::MANUFACTURER_MODEL_NAME,
                VR::LO,
                self.opts.algorithm_name.as_str(),
            ),
            elem(
                tags::SOFTWARE_VERSIONS,
                VR::LO,
                self.opts.software_version.as_str(),
            ),
            elem(
                tags::INSTANCE_NUMBER,
                VR::IS,
                self.instance_number.to_string(),
            ),
            elem(tags::CONTENT_DATE, VR::DA, date.as_str()),
            elem(tags::CONTENT_TIME, VR::TM, time.as_str()),
        ] {
            o.put(e);
        }
        Ok(o)
    }
}

/// Wraps `obj` with a file meta table (Explicit VR Little Endian).
pub(crate) fn to_file(obj: Obj) -> Result<FileDicomObject<Obj>, DeliverError> {
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME),
    )
    .map_err(|e| DeliverError::Source(format!("cannot build the file meta table: {e}")))
}

/// strokeseg's Implementation Class UID (a fixed 2.25 UID derived from a UUID).
pub(crate) const IMPLEMENTATION_CLASS_UID: &str = "2.25.97613588712207153328306016573283917457";
/// Implementation Version Name (at most 16 characters).
pub(crate) const IMPLEMENTATION_VERSION_NAME: &str = "STROKESEG_010";

/// Saves a file object at `path`, creating its folder.
pub(crate) fn save(file: &FileDicomObject<Obj>, path: &Path) -> Result<(), DeliverError> {
    let werr = |m: String| DeliverError::Write {
        path: path.to_path_buf(),
        message: m,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| werr(e.to_string()))?;
    }
    file.write_to_file(path).map_err(|e| werr(e.to_string()))
}
