//! Any bytes as what a DICOM peer sends `serve` on an association: a stream of upper-layer
//! PDUs (A-ASSOCIATE-RQ, P-DATA-TF, release, abort, …) read as the listener reads them, and
//! every command fragment of a P-DATA-TF decoded as the DIMSE command set it claims to be,
//! with the fields the listener reads. Refused or accepted, never a panic or abort.
#![no_main]
use dicom_dictionary_std::tags;
use dicom_ul::pdu::{read_pdu, PDataValueType, Pdu};
use libfuzzer_sys::fuzz_target;
use strokeseg_serve::dimse;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    // The listener's maximum PDU length (dicom-ul's default for a server).
    for _ in 0..64 {
        match read_pdu(&mut buf, 16_384, false) {
            Ok(Some(Pdu::PData { data })) => {
                for pdv in data {
                    if pdv.value_type == PDataValueType::Command {
                        if let Ok(cmd) = dimse::decode(&pdv.data) {
                            let _ = dimse::field_u16(&cmd, tags::COMMAND_FIELD);
                            let _ = dimse::field_u16(&cmd, tags::MESSAGE_ID);
                            let _ = dimse::field_uid(&cmd, tags::AFFECTED_SOP_CLASS_UID);
                            let _ = dimse::field_uid(&cmd, tags::AFFECTED_SOP_INSTANCE_UID);
                        }
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    // The same bytes as a whole command set.
    if let Ok(cmd) = dimse::decode(data) {
        let _ = dimse::field_uid(&cmd, tags::AFFECTED_SOP_INSTANCE_UID);
    }
});
