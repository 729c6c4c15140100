//! A C-STORE service class user on dicom-ul: sends DICOM files to a node (our results to a
//! PACS, and test studies to our own listener).

use crate::dimse;
use crate::error::{bail, ensure, err, Result, ServeError};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextResultReason};
use dicom_ul::{ClientAssociation, ClientAssociationOptions, Pdu};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// An open association for C-STORE.
pub struct Scu {
    assoc: ClientAssociation<TcpStream>,
    msg_id: u16,
}

/// What the receiver answered for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// DIMSE status (0 = success).
    pub status: u16,
    /// ErrorComment, when given.
    pub comment: Option<String>,
}

impl Scu {
    /// Opens an association from `calling` to `called` at `address` (host:port), proposing
    /// each SOP class with the given transfer syntaxes.
    ///
    /// # Errors
    /// Connection or negotiation failures.
    pub fn connect(
        address: &str,
        calling: &str,
        called: &str,
        contexts: &[(String, Vec<String>)],
    ) -> Result<Scu> {
        let mut o = ClientAssociationOptions::new()
            .calling_ae_title(calling.to_string())
            .called_ae_title(called.to_string())
            .max_pdu_length(65_536);
        for (class, ts) in contexts {
            o = o.with_presentation_context(class.clone(), ts.clone());
        }
        let assoc = o.establish_with(address).map_err(|e| {
            err!(
                Dicom,
                "cannot open a DICOM association with {called}@{address}: {e}"
            )
        })?;
        Ok(Scu { assoc, msg_id: 0 })
    }

    /// The accepted presentation context for `class`, preferring transfer syntax `ts`:
    /// (context id, transfer syntax).
    fn context_for(&self, class: &str, ts: &str) -> Option<(u8, String)> {
        let ok: Vec<_> = self
            .assoc
            .presentation_contexts()
            .iter()
            .filter(|c| {
                c.abstract_syntax.trim_end_matches('\0') == class
                    && c.reason == PresentationContextResultReason::Acceptance
            })
            .collect();
        ok.iter()
            .find(|c| c.transfer_syntax.trim_end_matches('\0') == ts)
            .or_else(|| ok.first())
            .map(|c| (c.id, c.transfer_syntax.trim_end_matches('\0').to_string()))
    }

    /// Sends one data set already encoded in the accepted transfer syntax of `class`.
    ///
    /// # Errors
    /// No accepted context for `class`, or a network error.
    pub fn store_raw(
        &mut self,
        class: &str,
        instance: &str,
        dataset: &[u8],
    ) -> Result<StoreStatus> {
        let (pc, _) = self.context_for(class, EXPLICIT_LE).ok_or_else(|| {
            err!(
                Dicom,
                "the receiver accepted no presentation context for {class}"
            )
        })?;
        self.send(pc, class, instance, dataset)
    }

    fn send(&mut self, pc: u8, class: &str, instance: &str, dataset: &[u8]) -> Result<StoreStatus> {
        self.msg_id = self.msg_id.wrapping_add(1);
        let cmd = dimse::store_rq(self.msg_id, class, instance)?;
        self.assoc.send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd,
            }],
        })?;
        {
            let mut w = self.assoc.send_pdata(pc);
            w.write_all(dataset)
                .map_err(|e| ServeError::io("cannot send the data set", e))?;
            w.finish()
                .map_err(|e| ServeError::io("cannot send the data set", e))?;
        }
        let mut command = Vec::new();
        loop {
            match self.assoc.receive()? {
                Pdu::PData { data } => {
                    for mut v in data {
                        if v.value_type == PDataValueType::Command {
                            command.append(&mut v.data);
                            if v.is_last {
                                let rsp = dimse::decode(&command)?;
                                return Ok(StoreStatus {
                                    status: dimse::field_u16(&rsp, tags::STATUS).ok_or_else(
                                        || err!(Dicom, "C-STORE-RSP without a Status"),
                                    )?,
                                    comment: rsp
                                        .element_opt(tags::ERROR_COMMENT)
                                        .ok()
                                        .flatten()
                                        .and_then(|e| e.to_str().ok())
                                        .map(|s| s.trim().to_string()),
                                });
                            }
                        }
                    }
                }
                Pdu::AbortRQ { source } => bail!(Dicom, "association aborted: {source:?}"),
                other => bail!(Dicom, "unexpected PDU {}", other.short_description()),
            }
        }
    }

    /// Sends one opened DICOM file (re-encoded only between uncompressed transfer syntaxes).
    ///
    /// # Errors
    /// No usable presentation context, encoding or network errors.
    pub fn store_object(&mut self, obj: &DefaultDicomObject) -> Result<StoreStatus> {
        let class = obj
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_string();
        let instance = obj
            .meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_string();
        let file_ts = obj
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        let (pc, ts) = self.context_for(&class, &file_ts).ok_or_else(|| {
            err!(
                Dicom,
                "the receiver accepted no presentation context for {class}"
            )
        })?;
        ensure!(
            Dicom,
            ts == file_ts || [EXPLICIT_LE, IMPLICIT_LE].contains(&file_ts.as_str()),
            "the receiver wants {ts} but the file is in {file_ts} (no transcoding)"
        );
        let syntax = TransferSyntaxRegistry
            .get(&ts)
            .ok_or_else(|| err!(Dicom, "unknown transfer syntax {ts}"))?;
        let mut bytes = Vec::new();
        obj.write_dataset_with_ts(&mut bytes, syntax)?;
        self.send(pc, &class, &instance, &bytes)
    }

    /// Ends the association politely.
    ///
    /// # Errors
    /// Network errors.
    pub fn release(self) -> Result<()> {
        self.assoc.release()?;
        Ok(())
    }
}

/// Sends `files` over one association; returns each file's status. Fails on the first
/// network error; a refused instance is reported in its status.
///
/// # Errors
/// Unreadable files, connection or negotiation failures.
pub fn store_files(
    address: &str,
    calling: &str,
    called: &str,
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, StoreStatus)>> {
    let objs = files
        .iter()
        .map(|f| {
            dicom_object::open_file(f).map_err(|e| err!(Dicom, "{}: cannot read: {e}", f.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut contexts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &objs {
        let class = o
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_string();
        let ts = o
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        let e = contexts.entry(class).or_default();
        for t in [ts.as_str(), EXPLICIT_LE, IMPLICIT_LE] {
            if !e.iter().any(|x| x == t) {
                e.push(t.to_string());
            }
        }
    }
    let contexts: Vec<_> = contexts.into_iter().collect();
    let mut scu = Scu::connect(address, calling, called, &contexts)?;
    let mut out = Vec::with_capacity(files.len());
    for (f, o) in files.iter().zip(&objs) {
        let st = scu
            .store_object(o)
            .map_err(|e| err!(Dicom, "{}: C-STORE failed: {e}", f.display()))?;
        out.push((f.clone(), st));
    }
    scu.release()?;
    Ok(out)
}

/// All regular files under `dir`, sorted (for sending a whole series folder).
///
/// # Errors
/// Unreadable folders.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .map_err(|e| ServeError::io(format!("{}: cannot list", d.display()), e))?
        {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
