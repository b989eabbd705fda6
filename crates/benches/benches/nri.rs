//! NRI's cases: the multiplexer's framing, decoding the `Synchronize` request of a full
//! node (1,000 pods, 4,000 containers), and the multiplexer carrying 4 MiB end to end.

use std::process::ExitCode;

use benches::{Case, Measure};
use nri::mux::{self, Mux, PLUGIN_SERVICE_CONN};
use nri::proto::nri::{Container, LinuxPodSandbox, PodSandbox, SynchronizeRequest};
use protobuf::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CASES: &[Case] = &[
    Case::new("nri/encode-frames-1mib", encode_frames),
    Case::new("nri/decode-frame-headers-1mib", decode_headers),
    Case::new("nri/decode-synchronize-1000-pods", decode_synchronize),
    Case::new("nri/mux-4mib", mux_throughput),
];

const MIB: usize = 1 << 20;

fn encode_frames(measure: &mut Measure) -> Result<(), String> {
    let payload = vec![0x5a_u8; MIB];
    let wire = measure.measure(|| mux::encode_frames(PLUGIN_SERVICE_CONN, &payload));
    let frames = MIB / mux::MAX_SEND_PAYLOAD;
    if wire.len() != MIB + frames * mux::HEADER_LEN {
        return Err(format!("{} wire bytes for {frames} frames", wire.len()));
    }
    Ok(())
}

fn decode_headers(measure: &mut Measure) -> Result<(), String> {
    let wire = mux::encode_frames(PLUGIN_SERVICE_CONN, &vec![0x5a_u8; MIB]);
    let payload = measure.measure(|| {
        let (mut at, mut payload) = (0, 0);
        while at < wire.len() {
            let mut header = [0; mux::HEADER_LEN];
            header.copy_from_slice(&wire[at..at + mux::HEADER_LEN]);
            let header = mux::FrameHeader::decode(header);
            payload += header.len as usize;
            at += mux::HEADER_LEN + header.len as usize;
        }
        payload
    });
    if payload != MIB {
        return Err(format!("headers announce {payload} payload bytes"));
    }
    Ok(())
}

fn synchronize_request() -> SynchronizeRequest {
    let mut request = SynchronizeRequest::new();
    for p in 0..1_000 {
        let mut pod = PodSandbox::new();
        pod.id = format!("{p:064x}");
        pod.name = format!("workload-{p}-7d9f8b6c5d-x2x4z");
        pod.uid = format!("00000000-0000-4000-8000-{p:012}");
        pod.namespace = "default".to_string();
        let mut linux = LinuxPodSandbox::new();
        linux.cgroup_parent = format!("/kubepods/besteffort/pod00000000-0000-4000-8000-{p:012}");
        pod.linux = Some(linux).into();
        for c in 0..4 {
            let mut container = Container::new();
            container.id = format!("{:064x}", p * 4 + c);
            container.pod_sandbox_id = pod.id.clone();
            container.name = format!("container-{c}");
            container.pid = 10_000 + p * 4 + c;
            request.containers.push(container);
        }
        request.pods.push(pod);
    }
    request
}

fn decode_synchronize(measure: &mut Measure) -> Result<(), String> {
    let bytes = synchronize_request()
        .write_to_bytes()
        .map_err(|e| e.to_string())?;
    let decoded = measure.measure(|| SynchronizeRequest::parse_from_bytes(&bytes));
    let decoded = decoded.map_err(|e| e.to_string())?;
    if decoded.pods.len() != 1_000 || decoded.containers.len() != 4_000 {
        return Err(format!(
            "decoded {} pods, {} containers",
            decoded.pods.len(),
            decoded.containers.len()
        ));
    }
    Ok(())
}

fn mux_throughput(measure: &mut Measure) -> Result<(), String> {
    const BYTES: usize = 4 * MIB;
    // One thread: callgrind counts the thread that measures, and a single-threaded
    // scheduler makes the count repeatable.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let (near, far) = tokio::io::duplex(64 * 1024);
    let ((_near_mux, [mut sender]), (_far_mux, [mut receiver])) = {
        let _entered = runtime.enter();
        let near = Mux::new(near, [PLUGIN_SERVICE_CONN]).map_err(|e| e.to_string())?;
        let far = Mux::new(far, [PLUGIN_SERVICE_CONN]).map_err(|e| e.to_string())?;
        (near, far)
    };
    let payload = vec![0xa5_u8; BYTES];
    let mut received = vec![0_u8; BYTES];
    let (sent, read) = measure.measure(|| {
        runtime.block_on(async {
            tokio::join!(
                sender.write_all(&payload),
                receiver.read_exact(&mut received)
            )
        })
    });
    sent.map_err(|e| format!("sending: {e}"))?;
    read.map_err(|e| format!("receiving: {e}"))?;
    if received != payload {
        return Err("the far end received other bytes than were sent".to_string());
    }
    Ok(())
}

fn main() -> ExitCode {
    benches::main(CASES)
}
