//! The client against a scripted stub on the other end of a Unix socket pair: the exchanges
//! QEMU 7.2's user-mode stub makes (acks on every packet, no no-ack mode, stops for every
//! signal, a stop that crosses a command), and a stub that sends garbage or goes silent.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use twixt_gdbremote::{Client, Error, Stop, ThreadId, packet, signal};

/// The stub's side: reads one framed packet (acknowledging it), returns its payload.
fn read_packet(s: &mut UnixStream) -> Option<String> {
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte).ok()?;
        if byte[0] == b'$' {
            break;
        }
    }
    let mut payload = Vec::new();
    loop {
        s.read_exact(&mut byte).ok()?;
        if byte[0] == b'#' {
            break;
        }
        payload.push(byte[0]);
    }
    let mut sum = [0u8; 2];
    s.read_exact(&mut sum).ok()?;
    s.write_all(b"+").ok()?;
    Some(String::from_utf8(payload).unwrap())
}

/// The stub's side: sends a packet and waits for the client's `+`.
fn send_packet(s: &mut UnixStream, payload: &str) {
    s.write_all(&packet::frame(payload)).unwrap();
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(ack[0], b'+', "the client acknowledges every packet");
}

fn registers_reply(pc: u64, x28: u64) -> String {
    let mut bytes = Vec::new();
    for i in 0..31u64 {
        let v = if i == 28 { x28 } else { i };
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&0x4000_0000u64.to_le_bytes());
    bytes.extend_from_slice(&pc.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    packet::to_hex(&bytes)
}

#[test]
fn a_qemu_72_session() {
    let (ours, mut stub) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        let mut log = Vec::new();
        // qSupported: QEMU 7.2's answer, without QStartNoAckMode+.
        log.push(read_packet(&mut stub).unwrap());
        send_packet(
            &mut stub,
            "PacketSize=1000;qXfer:features:read+;qXfer:auxv:read+;vContSupported+;multiprocess+",
        );
        log.push(read_packet(&mut stub).unwrap()); // ?
        send_packet(&mut stub, "T05thread:p01.188a;");
        log.push(read_packet(&mut stub).unwrap()); // Z0
        send_packet(&mut stub, "OK");
        log.push(read_packet(&mut stub).unwrap()); // c
        // A signal stop, then the breakpoint.
        send_packet(&mut stub, "T10thread:p01.188a;");
        log.push(read_packet(&mut stub).unwrap()); // C10
        send_packet(&mut stub, "T05thread:p01.188b;");
        log.push(read_packet(&mut stub).unwrap()); // Hg
        send_packet(&mut stub, "OK");
        log.push(read_packet(&mut stub).unwrap()); // g
        // Another thread's stop crosses the reply on the wire.
        send_packet(&mut stub, "T10thread:p01.188c;");
        send_packet(&mut stub, &registers_reply(0xaef98, 0x4000_0a80));
        log.push(read_packet(&mut stub).unwrap()); // m
        send_packet(&mut stub, "0200000000000000");
        log.push(read_packet(&mut stub).unwrap()); // M
        send_packet(&mut stub, "OK");
        log.push(read_packet(&mut stub).unwrap()); // M (refused)
        send_packet(&mut stub, "E14");
        log.push(read_packet(&mut stub).unwrap()); // C10
        send_packet(&mut stub, "W02");
        log
    });
    let mut c = Client::new(ours, Duration::from_secs(10));
    let f = c.handshake().unwrap();
    assert!(!f.no_ack);
    assert!(f.reply.contains("multiprocess+"));
    let first = c.stop_reason().unwrap();
    let main = ThreadId {
        pid: Some(1),
        tid: 0x188a,
    };
    assert_eq!(
        first,
        Stop::Signal {
            signal: signal::TRAP,
            thread: Some(main)
        }
    );
    c.insert_breakpoint(0xaef98).unwrap();
    c.resume(None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = c.wait_stop(deadline).unwrap().unwrap();
    assert_eq!(
        s,
        Stop::Signal {
            signal: signal::URG,
            thread: Some(main)
        }
    );
    c.resume(Some(signal::URG)).unwrap();
    let Some(Stop::Signal {
        signal: signal::TRAP,
        thread: Some(t),
    }) = c.wait_stop(deadline).unwrap()
    else {
        panic!("no breakpoint stop");
    };
    c.select_thread(t).unwrap();
    let r = c.read_registers().unwrap();
    assert_eq!((r.pc, r.x[28]), (0xaef98, 0x4000_0a80));
    assert_eq!(c.read_u64(0x4000_0a80 + 152).unwrap(), 2);
    c.write_memory(0x4000_0a80 + 185, &[1, 1]).unwrap();
    let e = c.write_memory(0x10, &[0; 8]).unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e}");
    assert!(e.to_string().contains("E14"), "{e}");
    c.resume(Some(signal::URG)).unwrap();
    // The stop that crossed the `g` reply comes first, then the exit.
    assert_eq!(
        c.wait_stop(deadline).unwrap(),
        Some(Stop::Signal {
            signal: signal::URG,
            thread: Some(ThreadId {
                pid: Some(1),
                tid: 0x188c
            })
        })
    );
    assert_eq!(
        c.wait_stop(deadline).unwrap(),
        Some(Stop::Exited { code: 2 })
    );
    let log = server.join().unwrap();
    assert_eq!(
        log,
        [
            "qSupported:multiprocess+;swbreak+;vContSupported+",
            "?",
            "Z0,aef98,4",
            "c",
            "C10",
            "Hgp1.188b",
            "g",
            "m40000b18,8",
            "M40000b39,2:0101",
            "M10,8:0000000000000000",
            "C10",
        ]
    );
}

#[test]
fn no_ack_mode_when_offered() {
    let (ours, mut stub) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        read_packet(&mut stub).unwrap();
        send_packet(&mut stub, "PacketSize=4000;QStartNoAckMode+");
        assert_eq!(read_packet(&mut stub).unwrap(), "QStartNoAckMode");
        send_packet(&mut stub, "OK");
        // From here on nothing is acknowledged, and a corrupt packet is dropped.
        let mut buf = [0u8; 64];
        let n = stub.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], packet::frame("Z0,1000,4").as_slice());
        stub.write_all(b"$OK#9a").unwrap();
        stub.write_all(b"$T05thread:1;#00").unwrap(); // bad checksum: dropped
        stub.write_all(&packet::frame("W00")).unwrap();
    });
    let mut c = Client::new(ours, Duration::from_secs(10));
    assert!(c.handshake().unwrap().no_ack);
    c.insert_breakpoint(0x1000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    assert_eq!(
        c.wait_stop(deadline).unwrap(),
        Some(Stop::Exited { code: 0 })
    );
    server.join().unwrap();
}

#[test]
fn a_nack_resends_the_packet() {
    let (ours, mut stub) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = stub.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], packet::frame("z0,1000,4").as_slice());
        stub.write_all(b"-").unwrap();
        assert_eq!(read_packet(&mut stub).unwrap(), "z0,1000,4");
        send_packet(&mut stub, "OK");
    });
    let mut c = Client::new(ours, Duration::from_secs(10));
    c.remove_breakpoint(0x1000).unwrap();
    server.join().unwrap();
}

#[test]
fn silence_is_a_timeout_and_a_hangup_is_closed() {
    let (ours, stub) = UnixStream::pair().unwrap();
    let mut c = Client::new(ours, Duration::from_millis(200));
    let started = Instant::now();
    let e = c.insert_breakpoint(0x1000).unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    assert!(e.to_string().starts_with("Z0,1000,4: no answer"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        c.wait_stop(Instant::now() + Duration::from_millis(50))
            .unwrap(),
        None
    );
    drop(stub);
    let e = c
        .wait_stop(Instant::now() + Duration::from_secs(5))
        .unwrap_err();
    assert!(matches!(e, Error::Closed(_)), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a stub sends, the client answers with a value or an error, never a panic.
    #[test]
    fn garbage_from_the_stub_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (ours, mut stub) = UnixStream::pair().unwrap();
        stub.write_all(&bytes).unwrap();
        drop(stub);
        let mut c = Client::new(ours, Duration::from_millis(100));
        let _ = c.read_registers();
        let _ = c.wait_stop(Instant::now() + Duration::from_millis(10));
    }

    /// Well-formed packets with arbitrary payloads come back out as they went in.
    #[test]
    fn framed_payloads_round_trip(payload in "[0-9a-zA-Z,:;.=+]{0,300}") {
        let mut buf = packet::frame(&payload);
        prop_assert_eq!(
            packet::take(&mut buf).unwrap(),
            Some(packet::Item::Packet(payload.into_bytes()))
        );
    }
}
