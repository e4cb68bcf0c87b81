//! A minimal client of the GDB remote serial protocol, enough to drive qemu-user's gdbstub:
//! software breakpoints (`Z0`/`z0`), the aarch64 core registers (`g`), memory (`m`/`M`),
//! thread selection (`Hg`), continue with or without a signal (`c`/`C`) and stop replies.
//!
//! Why its own client rather than `gdb-multiarch`: GDB 13 against QEMU 7.2's user-mode stub
//! on a multi-threaded Go program failed ("Invalid remote reply" on thread queries, then
//! "target is running"). This client asks only what it needs and treats what it reads as
//! untrusted bytes: every malformed packet is an [`Error`] that says what and where, never
//! a panic, and every wait has a deadline.
//!
//! What QEMU 7.2's user-mode stub (Debian bookworm) does, as measured with this client:
//! - `-g PATH` listens on a Unix socket when PATH is not a number, and the guest does not
//!   start until a debugger connects;
//! - it acknowledges every packet and answers `QStartNoAckMode` with an empty reply (no
//!   no-ack mode), so [`Client::handshake`] asks for it only when `qSupported` offers it;
//! - every signal the guest is about to receive stops the receiving thread and is
//!   reported (`T10thread:...` for SIGURG): the client must pass it on with `C10`;
//! - only the stopped thread waits; the others keep running, and `vCont`'s thread ids do
//!   not choose which thread resumes: all of the stub's state is global, so the stub can
//!   serve one stopped thread at a time (two threads stopped at once can wedge it).

pub mod packet;
pub mod stop;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub use stop::{Stop, ThreadId, signal};

/// What went wrong talking to the stub. The text names the command and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the connection failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// No answer before the deadline.
    #[error("{0}: no answer from the stub before the deadline")]
    Timeout(String),
    /// The stub closed the connection (the program ended, or the stub gave up).
    #[error("{0}: the stub closed the connection")]
    Closed(String),
    /// The stub sent something that is not the protocol, or not an answer to the command.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The stub refused a command (`E NN`, or an empty reply: not supported).
    #[error("{command}: the stub answered {reply:?}")]
    Refused {
        /// The command.
        command: String,
        /// Its reply.
        reply: String,
    },
}

/// A byte stream to a stub with read timeouts.
pub trait Transport: Read + Write {
    /// Sets the timeout of the next reads (`None`: block).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;
}

impl Transport for UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
}

impl Transport for std::net::TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, timeout)
    }
}

/// The aarch64 core registers in the order of GDB's `org.gnu.gdb.aarch64.core` feature,
/// which is what QEMU's `g` reply holds: x0-x30, sp, pc (8 bytes each, little-endian),
/// then cpsr (4 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registers {
    /// x0 to x30 (x28 is Go's `g`, x29 the frame pointer, x30 the link register).
    pub x: [u64; 31],
    /// The stack pointer.
    pub sp: u64,
    /// The program counter.
    pub pc: u64,
    /// The flags.
    pub cpsr: u32,
}

impl Registers {
    /// Bytes of x0-x30, sp and pc.
    const CORE: usize = 33 * 8;

    /// Parses a `g` reply (hex). Anything after cpsr (FP registers, when the stub sends
    /// them) is ignored.
    pub fn parse(reply: &[u8]) -> Result<Registers, Error> {
        let bytes = packet::from_hex(reply).ok_or_else(|| {
            Error::Protocol(format!("the `g` reply is not hex ({} bytes)", reply.len()))
        })?;
        if bytes.len() < Registers::CORE + 4 {
            return Err(Error::Protocol(format!(
                "the `g` reply holds {} bytes; the aarch64 core registers are {}",
                bytes.len(),
                Registers::CORE + 4
            )));
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let mut x = [0u64; 31];
        for (i, r) in x.iter_mut().enumerate() {
            *r = word(i);
        }
        let mut c = [0u8; 4];
        c.copy_from_slice(&bytes[Registers::CORE..Registers::CORE + 4]);
        Ok(Registers {
            x,
            sp: word(31),
            pc: word(32),
            cpsr: u32::from_le_bytes(c),
        })
    }
}

/// What the stub said it supports (`qSupported`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// The raw reply.
    pub reply: String,
    /// Whether the connection runs without acknowledgements now.
    pub no_ack: bool,
}

/// A connection to a stub.
pub struct Client<T: Transport> {
    io: T,
    /// Bytes received and not yet taken.
    buf: Vec<u8>,
    /// Whether packets are still acknowledged (until no-ack mode).
    acks: bool,
    /// Stop replies that arrived while a command waited for its answer.
    stops: std::collections::VecDeque<Stop>,
    /// How long a command waits for its answer.
    timeout: Duration,
    /// Packets exchanged (both directions), for `--trace`-style diagnostics.
    pub exchanged: u64,
}

impl<T: Transport> Client<T> {
    /// A client on `io`; each command waits at most `timeout` for its answer.
    pub fn new(io: T, timeout: Duration) -> Client<T> {
        Client {
            io,
            buf: Vec::new(),
            acks: true,
            stops: Default::default(),
            timeout,
            exchanged: 0,
        }
    }

    /// `qSupported`, then no-ack mode if the stub offers it.
    pub fn handshake(&mut self) -> Result<Features, Error> {
        let reply = self.command("qSupported:multiprocess+;swbreak+;vContSupported+")?;
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let mut no_ack = false;
        if reply.split(';').any(|f| f == "QStartNoAckMode+") {
            let r = self.command("QStartNoAckMode")?;
            if r == b"OK" {
                self.acks = false;
                no_ack = true;
            }
        }
        Ok(Features { reply, no_ack })
    }

    /// `?`: why the target is stopped now (at the start: the first thread, before the
    /// program's first instruction).
    pub fn stop_reason(&mut self) -> Result<Stop, Error> {
        self.send("?")?;
        let payload = self.reply("?", Instant::now() + self.timeout)?;
        Stop::parse(&payload)
    }

    /// `Z0,ADDR,4`: a software breakpoint before the instruction at `addr`.
    pub fn insert_breakpoint(&mut self, addr: u64) -> Result<(), Error> {
        self.expect_ok(&format!("Z0,{addr:x},4"))
    }

    /// `z0,ADDR,4`.
    pub fn remove_breakpoint(&mut self, addr: u64) -> Result<(), Error> {
        self.expect_ok(&format!("z0,{addr:x},4"))
    }

    /// `Hg`: the thread whose registers the next `g` reads.
    pub fn select_thread(&mut self, thread: ThreadId) -> Result<(), Error> {
        self.expect_ok(&format!("Hg{thread}"))
    }

    /// `g`: the selected thread's aarch64 core registers.
    pub fn read_registers(&mut self) -> Result<Registers, Error> {
        let reply = self.command("g")?;
        if reply.first() == Some(&b'E') && reply.len() == 3 {
            return Err(Error::Refused {
                command: "g".into(),
                reply: String::from_utf8_lossy(&reply).into_owned(),
            });
        }
        Registers::parse(&reply)
    }

    /// `m ADDR,LEN`: `len` bytes of guest memory.
    pub fn read_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, Error> {
        let command = format!("m{addr:x},{len:x}");
        let reply = self.command(&command)?;
        match packet::from_hex(&reply) {
            Some(bytes) if bytes.len() == len => Ok(bytes),
            _ => Err(Error::Refused {
                command,
                reply: String::from_utf8_lossy(&reply).into_owned(),
            }),
        }
    }

    /// A little-endian u64 at `addr`.
    pub fn read_u64(&mut self, addr: u64) -> Result<u64, Error> {
        let b = self.read_memory(addr, 8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(&b);
        Ok(u64::from_le_bytes(w))
    }

    /// `M ADDR,LEN:HEX`: writes guest memory.
    pub fn write_memory(&mut self, addr: u64, bytes: &[u8]) -> Result<(), Error> {
        self.expect_ok(&format!(
            "M{addr:x},{:x}:{}",
            bytes.len(),
            packet::to_hex(bytes)
        ))
    }

    /// `c`, or `C SIG` to resume the stopped thread with a signal (GDB numbering). No
    /// reply: the next thing the stub sends is a stop ([`Client::wait_stop`]).
    pub fn resume(&mut self, signal: Option<u8>) -> Result<(), Error> {
        match signal {
            Some(s) => self.send(&format!("C{s:02x}")),
            None => self.send("c"),
        }
    }

    /// The next stop, or `None` if none came before `deadline`. A connection the stub
    /// closed is [`Error::Closed`].
    pub fn wait_stop(&mut self, deadline: Instant) -> Result<Option<Stop>, Error> {
        if let Some(s) = self.stops.pop_front() {
            return Ok(Some(s));
        }
        loop {
            match self.next_packet("waiting for a stop", deadline) {
                Ok(p) if Stop::looks_like(&p) => return Stop::parse(&p).map(Some),
                Ok(p) => {
                    // An answer nobody asked for (a retransmission): not a stop.
                    tracing::debug!(
                        packet = %String::from_utf8_lossy(&p),
                        "stub packet while waiting for a stop"
                    );
                }
                Err(Error::Timeout(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a command and returns its reply; stop replies that arrive first are kept
    /// for [`Client::wait_stop`].
    pub fn command(&mut self, command: &str) -> Result<Vec<u8>, Error> {
        self.send(command)?;
        self.reply(command, Instant::now() + self.timeout)
    }

    fn expect_ok(&mut self, command: &str) -> Result<(), Error> {
        let reply = self.command(command)?;
        if reply == b"OK" {
            Ok(())
        } else {
            Err(Error::Refused {
                command: command.into(),
                reply: String::from_utf8_lossy(&reply).into_owned(),
            })
        }
    }

    /// The reply to `command`: the first packet that is not a stop (for `?`, the first).
    fn reply(&mut self, command: &str, deadline: Instant) -> Result<Vec<u8>, Error> {
        loop {
            let p = self.next_packet(command, deadline)?;
            if command != "?" && Stop::looks_like(&p) {
                self.stops.push_back(Stop::parse(&p)?);
                continue;
            }
            return Ok(p);
        }
    }

    fn send(&mut self, command: &str) -> Result<(), Error> {
        let framed = packet::frame(command);
        self.write_all(command, &framed)?;
        self.exchanged += 1;
        tracing::trace!(command, "-> stub");
        if self.acks {
            // The stub acknowledges the packet; `-` asks for it again.
            let deadline = Instant::now() + self.timeout;
            let mut resent = 0;
            loop {
                match self.next_item(command, deadline)? {
                    packet::Item::Ack => break,
                    packet::Item::Nack if resent < 3 => {
                        resent += 1;
                        self.write_all(command, &framed)?;
                    }
                    packet::Item::Nack => {
                        return Err(Error::Protocol(format!(
                            "{command}: the stub rejected the packet 4 times"
                        )));
                    }
                    packet::Item::Packet(p) => {
                        // A stop that crossed our command on the wire: acknowledged at
                        // once (the stub's thread waits for it) and kept.
                        self.write_all(command, b"+")?;
                        if Stop::looks_like(&p) {
                            self.stops.push_back(Stop::parse(&p)?);
                        }
                    }
                    packet::Item::Corrupt => self.write_all(command, b"-")?,
                }
            }
        }
        Ok(())
    }

    fn write_all(&mut self, what: &str, bytes: &[u8]) -> Result<(), Error> {
        self.io
            .write_all(bytes)
            .and_then(|()| self.io.flush())
            .map_err(|source| Error::Io {
                what: format!("{what}: sending to the stub"),
                source,
            })
    }

    /// The next packet (acknowledged when acks are on); acks in between are skipped.
    fn next_packet(&mut self, what: &str, deadline: Instant) -> Result<Vec<u8>, Error> {
        loop {
            match self.next_item(what, deadline)? {
                packet::Item::Packet(p) => {
                    if self.acks {
                        self.write_all(what, b"+")?;
                    }
                    self.exchanged += 1;
                    tracing::trace!(packet = %String::from_utf8_lossy(&p), "<- stub");
                    return Ok(p);
                }
                packet::Item::Corrupt => {
                    if self.acks {
                        self.write_all(what, b"-")?;
                    }
                }
                packet::Item::Ack | packet::Item::Nack => {}
            }
        }
    }

    fn next_item(&mut self, what: &str, deadline: Instant) -> Result<packet::Item, Error> {
        loop {
            if let Some(item) = packet::take(&mut self.buf)? {
                return Ok(item);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(what.into()));
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.io
                .set_read_timeout(Some(wait))
                .map_err(|source| Error::Io {
                    what: format!("{what}: setting a read timeout"),
                    source,
                })?;
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed(what.into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Error::Timeout(what.into()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(Error::Closed(what.into()));
                }
                Err(source) => {
                    return Err(Error::Io {
                        what: format!("{what}: reading from the stub"),
                        source,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_parse_from_a_qemu_reply() {
        let mut bytes = Vec::new();
        for i in 0..33u64 {
            bytes.extend_from_slice(&(0x1000 + i).to_le_bytes());
        }
        bytes.extend_from_slice(&0x6000_0000u32.to_le_bytes());
        let r = Registers::parse(packet::to_hex(&bytes).as_bytes()).unwrap();
        assert_eq!(r.x[28], 0x101c);
        assert_eq!(r.x[30], 0x101e);
        assert_eq!(r.sp, 0x101f);
        assert_eq!(r.pc, 0x1020);
        assert_eq!(r.cpsr, 0x6000_0000);
        assert!(Registers::parse(b"00").is_err());
        assert!(Registers::parse(b"xyz").is_err());
    }
}
