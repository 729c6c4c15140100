//! DIMSE command sets (PS3.7) for C-STORE and C-ECHO, which dicom-ul leaves to its users:
//! building them with a correct CommandGroupLength and reading the fields we need.
//! Commands are always Implicit VR Little Endian.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

/// C-STORE-RQ.
pub const C_STORE_RQ: u16 = 0x0001;
/// C-STORE-RSP.
pub const C_STORE_RSP: u16 = 0x8001;
/// C-ECHO-RQ.
pub const C_ECHO_RQ: u16 = 0x0030;
/// C-ECHO-RSP.
pub const C_ECHO_RSP: u16 = 0x8030;
/// Success.
pub const SUCCESS: u16 = 0x0000;
/// C-STORE failure "Cannot understand".
pub const CANNOT_UNDERSTAND: u16 = 0xC000;
/// C-STORE failure "Out of resources".
pub const OUT_OF_RESOURCES: u16 = 0xA700;
/// Failure "Duplicate SOP Instance" (PS3.7 Annex C): a resend with different content.
pub const DUPLICATE_SOP_INSTANCE: u16 = 0x0111;
/// CommandDataSetType: no data set follows.
const NO_DATASET: u16 = 0x0101;
/// CommandDataSetType: a data set follows.
const HAS_DATASET: u16 = 0x0000;

fn us(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(v))
}

fn ui(tag: Tag, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(v))
}

/// Encodes a command set, adding (0000,0000) CommandGroupLength.
///
/// # Errors
/// Encoding errors (should not happen for these simple elements).
pub fn encode(elements: Vec<DataElement<InMemDicomObject>>) -> anyhow::Result<Vec<u8>> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut obj = InMemDicomObject::from_element_iter(elements);
    let mut body = Vec::new();
    obj.write_dataset_with_ts(&mut body, &ts)?;
    let len = u32::try_from(body.len())?;
    obj.put(DataElement::new(
        tags::COMMAND_GROUP_LENGTH,
        VR::UL,
        PrimitiveValue::from(len),
    ));
    let mut out = Vec::with_capacity(body.len() + 12);
    obj.write_dataset_with_ts(&mut out, &ts)?;
    Ok(out)
}

/// Decodes a command set.
///
/// # Errors
/// When the bytes are not an Implicit VR Little Endian data set.
pub fn decode(bytes: &[u8]) -> anyhow::Result<InMemDicomObject> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    Ok(InMemDicomObject::read_dataset_with_ts(bytes, &ts)?)
}

/// A 16-bit field of a command.
#[must_use]
pub fn field_u16(cmd: &InMemDicomObject, tag: Tag) -> Option<u16> {
    cmd.element_opt(tag).ok().flatten()?.to_int::<u16>().ok()
}

/// A UID field of a command, trimmed of padding.
#[must_use]
pub fn field_uid(cmd: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = cmd.element_opt(tag).ok().flatten()?.to_str().ok()?;
    Some(s.trim_end_matches(['\0', ' ']).to_string())
}

/// C-STORE-RQ command set.
///
/// # Errors
/// Encoding errors.
pub fn store_rq(msg_id: u16, sop_class: &str, sop_instance: &str) -> anyhow::Result<Vec<u8>> {
    encode(vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        us(tags::COMMAND_FIELD, C_STORE_RQ),
        us(tags::MESSAGE_ID, msg_id),
        us(tags::PRIORITY, 0),
        us(tags::COMMAND_DATA_SET_TYPE, HAS_DATASET),
        ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance),
    ])
}

/// C-STORE-RSP command set, with an error comment on failure.
///
/// # Errors
/// Encoding errors.
pub fn store_rsp(
    msg_id: u16,
    sop_class: &str,
    sop_instance: &str,
    status: u16,
    comment: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    let mut e = vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        us(tags::COMMAND_FIELD, C_STORE_RSP),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, msg_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATASET),
        us(tags::STATUS, status),
        ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance),
    ];
    if let Some(c) = comment {
        // ErrorComment is LO: at most 64 characters.
        let c: String = c.chars().filter(|c| !c.is_control()).take(64).collect();
        e.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(c),
        ));
    }
    encode(e)
}

/// C-ECHO-RSP command set.
///
/// # Errors
/// Encoding errors.
pub fn echo_rsp(msg_id: u16) -> anyhow::Result<Vec<u8>> {
    encode(vec![
        ui(tags::AFFECTED_SOP_CLASS_UID, VERIFICATION),
        us(tags::COMMAND_FIELD, C_ECHO_RSP),
        us(tags::MESSAGE_ID_BEING_RESPONDED_TO, msg_id),
        us(tags::COMMAND_DATA_SET_TYPE, NO_DATASET),
        us(tags::STATUS, SUCCESS),
    ])
}

/// Verification SOP Class.
pub const VERIFICATION: &str = "1.2.840.10008.1.1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_length_counts_the_rest() {
        let bytes = store_rq(7, "1.2.840.10008.5.1.4.1.1.4", "1.2.3").unwrap();
        let cmd = decode(&bytes).unwrap();
        let gl = cmd
            .element(tags::COMMAND_GROUP_LENGTH)
            .unwrap()
            .to_int::<u32>()
            .unwrap();
        // The group length element itself is 12 bytes (8 header + 4 value).
        assert_eq!(gl as usize, bytes.len() - 12);
        assert_eq!(field_u16(&cmd, tags::MESSAGE_ID), Some(7));
        assert_eq!(
            field_uid(&cmd, tags::AFFECTED_SOP_INSTANCE_UID).unwrap(),
            "1.2.3"
        );
    }
}
