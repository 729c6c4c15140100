//! DIMSE command sets (PS3.7) for C-STORE and C-ECHO, which dicom-ul leaves to its users:
//! building them with a correct CommandGroupLength and reading the fields we need.
//! Commands are always Implicit VR Little Endian.

use crate::error::{ensure, Result};
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
pub fn encode(elements: Vec<DataElement<InMemDicomObject>>) -> Result<Vec<u8>> {
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

/// The VR of a command element (PS3.7 E.1); unknown ones are kept as raw bytes (UN).
fn command_vr(element: u16) -> VR {
    match element {
        0x0000 => VR::UL,
        0x0002 | 0x0003 | 0x1000 | 0x1001 => VR::UI,
        0x0600 | 0x1030 => VR::AE,
        0x0902 => VR::LO,
        0x0100 | 0x0110 | 0x0120 | 0x0700 | 0x0800 | 0x0900 | 0x1020..=0x1023 | 0x1031 => VR::US,
        _ => VR::UN,
    }
}

/// Decodes a command set: a flat list of group-0000 elements in Implicit VR Little Endian
/// (PS3.7 E.1, no sequences, no other groups). The bytes come from any peer, so they are
/// walked here by hand, header by header, and every declared length is checked against what
/// remains before a byte is copied: given command bytes, dicom-parser allocated what they
/// declared (3.5 GB from 11 bytes, and 4 GB from a 531-byte set that passed the data-set
/// guard), both found by the `serve_pdu` fuzz target. Nothing else is needed from a parser.
///
/// # Errors
/// A truncated header, an element outside group 0000, a length past the end, or a value
/// whose size does not fit its VR.
pub fn decode(bytes: &[u8]) -> Result<InMemDicomObject> {
    let mut obj = InMemDicomObject::new_empty();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        ensure!(
            Dicom,
            rest.len() >= 8,
            "DIMSE command set refused: truncated element header at byte {at}"
        );
        let group = u16::from_le_bytes([rest[0], rest[1]]);
        let element = u16::from_le_bytes([rest[2], rest[3]]);
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        ensure!(Dicom,
            group == 0,
            "DIMSE command set refused: element ({group:04X},{element:04X}) is not in the command group"
        );
        ensure!(Dicom,
            len <= rest.len() - 8,
            "DIMSE command set refused: element (0000,{element:04X}) declares {len} bytes but only {} remain",
            rest.len() - 8
        );
        let v = &rest[8..8 + len];
        let vr = command_vr(element);
        let value = match vr {
            VR::US | VR::UL => {
                let w = if vr == VR::US { 2 } else { 4 };
                ensure!(
                    Dicom,
                    len % w == 0,
                    "DIMSE command set refused: (0000,{element:04X}) {vr:?} of {len} bytes"
                );
                if vr == VR::US {
                    PrimitiveValue::U16(
                        v.chunks_exact(2)
                            .map(|c| u16::from_le_bytes([c[0], c[1]]))
                            .collect(),
                    )
                } else {
                    PrimitiveValue::U32(
                        v.chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    )
                }
            }
            VR::UN => PrimitiveValue::U8(v.iter().copied().collect()),
            _ => PrimitiveValue::from(String::from_utf8_lossy(v).trim_end_matches(['\0', ' '])),
        };
        obj.put(DataElement::new(Tag(0, element), vr, value));
        at += 8 + len;
    }
    Ok(obj)
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
pub fn store_rq(msg_id: u16, sop_class: &str, sop_instance: &str) -> Result<Vec<u8>> {
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
) -> Result<Vec<u8>> {
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
pub fn echo_rsp(msg_id: u16) -> Result<Vec<u8>> {
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

    /// Found by the `serve_pdu` fuzz target: 11 bytes declaring a 3.5 GB element; and a
    /// command set outside group 0000.
    #[test]
    fn a_command_set_declaring_more_bytes_than_it_has_is_refused_before_parsing() {
        let bytes = [
            0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0xd5, 0x00, 0x02, 0x00,
        ];
        let e = decode(&bytes).unwrap_err().to_string();
        assert!(e.contains("not in the command group"), "{e}");
        // The same declared length inside the command group.
        let bytes = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0xd5, 0x00, 0x02, 0x00,
        ];
        let e = decode(&bytes).unwrap_err().to_string();
        assert!(
            e.contains("declares 3573548032 bytes but only 3 remain"),
            "{e}"
        );
        // The second finding (531 bytes that passed the data-set guard, 4 GB in the parser)
        // began with an element of group 0007 and zero-length headers; its shape:
        let mut second = vec![0u8; 531];
        second[0] = 0x07;
        second[0x1a] = 0x40;
        assert!(decode(&second).is_err());
        // A real command set still decodes.
        let rq = store_rq(3, "1.2.840.10008.5.1.4.1.1.4", "1.2.3").unwrap();
        let cmd = decode(&rq).unwrap();
        assert_eq!(field_u16(&cmd, tags::MESSAGE_ID), Some(3));
    }

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
