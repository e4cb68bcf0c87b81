//! Stop replies (`T05thread:p01.1a2b;`, `S05`, `W02`, `X0b`) and thread ids.
//!
//! Signal numbers in the protocol are GDB's own numbering, not the target's: SIGTRAP is 5,
//! SIGURG is 16 ([`signal`]). qemu-user translates between them.

use std::fmt;

use crate::Error;

/// GDB's signal numbers (gdb/signals.def) for the signals twixt names.
pub mod signal {
    /// SIGTRAP: a breakpoint (or single step) stopped the thread.
    pub const TRAP: u8 = 5;
    /// SIGURG: the Go runtime's preemption signal (`sigPreempt`).
    pub const URG: u8 = 16;
}

/// A thread id: `TID` or, with the multiprocess extension, `pPID.TID` (both hex).
/// qemu-user's thread ids are the host thread ids of the guest's threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId {
    /// The process, when the stub uses the multiprocess form.
    pub pid: Option<u64>,
    /// The thread.
    pub tid: u64,
}

impl ThreadId {
    /// Parses `p1.1a2b` or `1a2b`.
    pub fn parse(text: &str) -> Result<ThreadId, Error> {
        let bad = || Error::Protocol(format!("thread id {text:?} is not [pPID.]TID in hex"));
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|_| bad());
        match text.strip_prefix('p') {
            Some(rest) => {
                let (pid, tid) = rest.split_once('.').ok_or_else(bad)?;
                Ok(ThreadId {
                    pid: Some(hex(pid)?),
                    tid: hex(tid)?,
                })
            }
            None => Ok(ThreadId {
                pid: None,
                tid: hex(text)?,
            }),
        }
    }
}

impl fmt::Display for ThreadId {
    /// The form the stub sent (for `Hg` and the like).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(p) => write!(f, "p{p:x}.{:x}", self.tid),
            None => write!(f, "{:x}", self.tid),
        }
    }
}

/// Why the target stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A thread stopped with a signal (GDB numbering), e.g. SIGTRAP at a breakpoint, or a
    /// signal the program was about to receive (qemu-user reports every one).
    Signal {
        /// GDB's number of the signal.
        signal: u8,
        /// The thread, when the reply names it.
        thread: Option<ThreadId>,
    },
    /// The process exited with this status.
    Exited {
        /// The exit status (its low 8 bits).
        code: u8,
    },
    /// A signal killed the process.
    Killed {
        /// GDB's number of the signal.
        signal: u8,
    },
}

impl Stop {
    /// Whether a payload is a stop reply (as opposed to the reply to a command). No reply
    /// to a command this client sends starts with these letters followed by two hex digits.
    pub fn looks_like(payload: &[u8]) -> bool {
        payload.len() >= 3
            && matches!(payload[0], b'T' | b'S' | b'W' | b'X')
            && payload[1].is_ascii_hexdigit()
            && payload[2].is_ascii_hexdigit()
    }

    /// Parses a stop reply payload.
    pub fn parse(payload: &[u8]) -> Result<Stop, Error> {
        let text = std::str::from_utf8(payload)
            .map_err(|_| Error::Protocol("a stop reply that is not text".into()))?;
        let bad = || Error::Protocol(format!("stop reply {text:?} is not T/S/W/X and a hex byte"));
        let kind = text.chars().next().ok_or_else(bad)?;
        let num = text
            .get(1..3)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(bad)?;
        match kind {
            'S' => Ok(Stop::Signal {
                signal: num,
                thread: None,
            }),
            'T' => {
                // T05thread:p01.1a2b;core:0;...: the pairs after the number.
                let mut thread = None;
                for pair in text[3..].split(';').filter(|p| !p.is_empty()) {
                    if let Some(t) = pair.strip_prefix("thread:") {
                        thread = Some(ThreadId::parse(t)?);
                    }
                }
                Ok(Stop::Signal {
                    signal: num,
                    thread,
                })
            }
            'W' => Ok(Stop::Exited { code: num }),
            'X' => Ok(Stop::Killed { signal: num }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_stop_replies_parse() {
        assert_eq!(
            Stop::parse(b"T05thread:p01.188a;").unwrap(),
            Stop::Signal {
                signal: signal::TRAP,
                thread: Some(ThreadId {
                    pid: Some(1),
                    tid: 0x188a
                })
            }
        );
        assert_eq!(
            Stop::parse(b"T10thread:47af;").unwrap(),
            Stop::Signal {
                signal: signal::URG,
                thread: Some(ThreadId {
                    pid: None,
                    tid: 0x47af
                })
            }
        );
        assert_eq!(Stop::parse(b"W02").unwrap(), Stop::Exited { code: 2 });
        assert_eq!(Stop::parse(b"X0b").unwrap(), Stop::Killed { signal: 11 });
        assert!(Stop::parse(b"T5").is_err());
        assert!(Stop::parse(b"T05thread:pz;").is_err());
        assert!(Stop::looks_like(b"T05thread:1;"));
        assert!(!Stop::looks_like(b"OK"));
        assert!(!Stop::looks_like(b"E14"));
        assert!(!Stop::looks_like(b"PacketSize=1000"));
    }

    #[test]
    fn thread_ids_print_as_they_came() {
        for t in ["p1.188a", "188a"] {
            assert_eq!(ThreadId::parse(t).unwrap().to_string(), t);
        }
    }
}
