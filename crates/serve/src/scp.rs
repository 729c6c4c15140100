//! The DICOM listener: a C-STORE (and C-ECHO) service class provider on dicom-ul, one thread
//! per association. A malformed instance gets a failure status and the association goes
//! on; a broken association is dropped; the listener itself never stops on bad input.

use crate::dimse;
use crate::error::{bail, ensure, Result};
use crate::ingest;
use crate::Shared;
use dicom_dictionary_std::tags;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::Association;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::{Pdu, ServerAssociation, ServerAssociationOptions};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts open associations; the count drops when the guard does.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections until the service stops. Beyond `max_associations` open at once, a
/// connection is answered with A-ASSOCIATE-RJ (transient, local limit exceeded) and closed,
/// so idle or hostile peers cannot pile up threads (issue 16 item 15).
pub(crate) fn listen(listener: TcpListener, shared: Arc<Shared>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(s) => {
                if open.fetch_add(1, Ordering::SeqCst) >= shared.cfg.max_associations {
                    open.fetch_sub(1, Ordering::SeqCst);
                    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    tracing::warn!(
                        "DICOM association from {peer} rejected: {} associations already open (max_associations)",
                        shared.cfg.max_associations
                    );
                    reject_busy(s);
                    continue;
                }
                let guard = Open(Arc::clone(&open));
                let shared = Arc::clone(&shared);
                let spawned = std::thread::Builder::new()
                    .name("dicom-assoc".into())
                    .spawn(move || {
                        let _guard = guard;
                        let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                        if let Err(e) = association(s, &shared) {
                            tracing::warn!("DICOM association from {peer} ended: {e:#}");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!("cannot start a thread for a DICOM association: {e}");
                }
            }
            Err(e) => tracing::warn!("DICOM listener: accept failed: {e}"),
        }
    }
}

/// Reads the peer's request (briefly) and answers A-ASSOCIATE-RJ: transient, local limit
/// exceeded. Errors are ignored: the connection is closed either way.
fn reject_busy(mut s: TcpStream) {
    use dicom_ul::pdu::{
        AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
        AssociationRJSource,
    };
    use std::io::Read;
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 16 * 1024];
    let _ = s.read(&mut buf);
    let rj = Pdu::from(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let _ = dicom_ul::write_pdu(&mut s, &rj);
    let _ = s.shutdown(std::net::Shutdown::Both);
}

fn options(
    ae_title: &str,
) -> ServerAssociationOptions<
    '_,
    dicom_ul::association::server::AcceptAny,
    dicom_ul::association::server::DefaultNegotiation,
> {
    let mut o = ServerAssociationOptions::new()
        .accept_any()
        .ae_title(ae_title)
        // Any storage SOP class is accepted: non-diffusion objects are stored and ignored.
        .promiscuous(true)
        .with_abstract_syntax(dimse::VERIFICATION)
        .read_timeout(Duration::from_secs(120))
        .write_timeout(Duration::from_secs(120));
    for ts in TransferSyntaxRegistry.iter() {
        if !ts.is_unsupported() {
            o = o.with_transfer_syntax(ts.uid());
        }
    }
    o
}

/// A C-STORE in progress on one association.
#[derive(Default)]
struct Pending {
    command: Vec<u8>,
    data: Vec<u8>,
    msg_id: u16,
    sop_class: String,
    sop_instance: String,
}

/// A DIMSE command set is a few hundred bytes; more than this is not one.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

fn association(stream: TcpStream, shared: &Shared) -> Result<()> {
    let opts = options(&shared.cfg.ae_title);
    let mut assoc = opts.establish(stream)?;
    tracing::info!("DICOM association from {}", assoc.peer_ae_title());
    let mut p = Pending::default();
    loop {
        match assoc.receive()? {
            Pdu::PData { data } => {
                for pdv in data {
                    if let Err(e) = handle_pdv(&mut assoc, pdv, &mut p, shared) {
                        // Tell the peer (A-ABORT) rather than leave it waiting.
                        let _ = assoc.abort();
                        return Err(e);
                    }
                }
            }
            Pdu::ReleaseRQ => {
                let _ = assoc.send(&Pdu::ReleaseRP);
                return Ok(());
            }
            Pdu::AbortRQ { source } => {
                tracing::info!("DICOM association aborted by peer: {source:?}");
                return Ok(());
            }
            other => tracing::debug!("ignoring PDU {}", other.short_description()),
        }
    }
}

fn send_command(assoc: &mut ServerAssociation<TcpStream>, pc: u8, bytes: Vec<u8>) -> Result<()> {
    assoc.send(&Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type: PDataValueType::Command,
            is_last: true,
            data: bytes,
        }],
    })?;
    Ok(())
}

fn handle_pdv(
    assoc: &mut ServerAssociation<TcpStream>,
    mut pdv: PDataValue,
    p: &mut Pending,
    shared: &Shared,
) -> Result<()> {
    let pc = pdv.presentation_context_id;
    match pdv.value_type {
        PDataValueType::Command => {
            ensure!(
                Dicom,
                p.command.len() + pdv.data.len() <= MAX_COMMAND_BYTES,
                "DIMSE command set over {MAX_COMMAND_BYTES} bytes: association aborted"
            );
            p.command.append(&mut pdv.data);
            if !pdv.is_last {
                return Ok(());
            }
            let cmd = dimse::decode(&std::mem::take(&mut p.command))?;
            let field = dimse::field_u16(&cmd, tags::COMMAND_FIELD).unwrap_or(0);
            let msg_id = dimse::field_u16(&cmd, tags::MESSAGE_ID).unwrap_or(0);
            match field {
                dimse::C_ECHO_RQ => send_command(assoc, pc, dimse::echo_rsp(msg_id)?)?,
                dimse::C_STORE_RQ => {
                    p.msg_id = msg_id;
                    p.sop_class =
                        dimse::field_uid(&cmd, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
                    p.sop_instance =
                        dimse::field_uid(&cmd, tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
                    p.data.clear();
                }
                other => bail!(Dicom, "unsupported DIMSE command 0x{other:04X}"),
            }
        }
        PDataValueType::Data => {
            // One instance is held in memory until its last fragment: bounded like an HTTP
            // upload, so a peer that never ends an instance cannot exhaust memory.
            let limit = shared.cfg.max_upload_mib.saturating_mul(1 << 20);
            ensure!(
                Dicom,
                p.data.len() + pdv.data.len() <= limit,
                "instance {} over max_upload_mib ({} MiB): association aborted",
                p.sop_instance,
                shared.cfg.max_upload_mib
            );
            p.data.append(&mut pdv.data);
            if !pdv.is_last {
                return Ok(());
            }
            let ts = assoc
                .presentation_contexts()
                .iter()
                .find(|c| c.id == pc)
                .map(|c| c.transfer_syntax.clone())
                .unwrap_or_default();
            let data = std::mem::take(&mut p.data);
            let (status, comment) =
                match ingest::from_dataset(&data, &ts, &shared.cfg.dicom_limits())
                    .and_then(|c| shared.accept(c, "dicom"))
                {
                    Ok(_) => (dimse::SUCCESS, None),
                    Err(e) => {
                        tracing::warn!(
                            "rejected instance {} from {}: {e}",
                            p.sop_instance,
                            assoc.peer_ae_title()
                        );
                        let code = match e {
                            ingest::Rejected::Io(_) | ingest::Rejected::StudyTooLarge(_) => {
                                dimse::OUT_OF_RESOURCES
                            }
                            ingest::Rejected::Conflict(_) => dimse::DUPLICATE_SOP_INSTANCE,
                            _ => dimse::CANNOT_UNDERSTAND,
                        };
                        (code, Some(e.to_string()))
                    }
                };
            let rsp = dimse::store_rsp(
                p.msg_id,
                &p.sop_class,
                &p.sop_instance,
                status,
                comment.as_deref(),
            )?;
            send_command(assoc, pc, rsp)?;
        }
    }
    Ok(())
}
