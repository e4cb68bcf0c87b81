//! The framing of the GDB remote serial protocol: `$payload#cs`, where `cs` is the sum of
//! the payload bytes modulo 256 in two hex digits, each packet acknowledged with `+` (or
//! `-`: send it again) until both sides agree to no-ack mode.
//!
//! A reply payload may escape a byte as `}` followed by the byte XOR 0x20, and may
//! run-length encode: `X*n` repeats `X` `n - 29` more times (`n` is a printable byte).
//! The checksum covers the payload as sent, before either is undone.

use crate::Error;

/// The largest payload accepted from the stub. qemu-user's replies are a few hundred
/// bytes (its `PacketSize` is 0x1000): anything this long is not a reply.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// `$payload#cs` for a command. Command payloads here are ASCII without `$`, `#` or `}`
/// (hex numbers, `Z0,`, `M...:hex`), so nothing needs escaping.
pub fn frame(payload: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.push(b'$');
    out.extend_from_slice(payload.as_bytes());
    out.push(b'#');
    out.extend_from_slice(format!("{:02x}", checksum(payload.as_bytes())).as_bytes());
    out
}

/// The protocol checksum: the sum of the bytes modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

/// What the byte stream from the stub holds next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `+`: the last packet sent arrived intact.
    Ack,
    /// `-`: it did not; send it again.
    Nack,
    /// A packet whose checksum matched, escapes and run lengths undone.
    Packet(Vec<u8>),
    /// A packet whose checksum did not match (answer `-`).
    Corrupt,
}

/// Takes the next complete item from the front of `buf` (bytes received and not yet
/// consumed). `Ok(None)`: more bytes are needed. Bytes that start nothing (noise between
/// packets) are dropped, as GDB does.
pub fn take(buf: &mut Vec<u8>) -> Result<Option<Item>, Error> {
    loop {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        match first {
            b'+' => {
                buf.remove(0);
                return Ok(Some(Item::Ack));
            }
            b'-' => {
                buf.remove(0);
                return Ok(Some(Item::Nack));
            }
            b'$' => break,
            _ => {
                buf.remove(0);
            }
        }
    }
    let Some(hash) = buf.iter().position(|b| *b == b'#') else {
        if buf.len() > MAX_PAYLOAD + 4 {
            return Err(Error::Protocol(format!(
                "a packet from the stub is longer than {MAX_PAYLOAD} bytes"
            )));
        }
        return Ok(None);
    };
    if buf.len() < hash + 3 {
        return Ok(None);
    }
    let raw: Vec<u8> = buf[1..hash].to_vec();
    let sum = std::str::from_utf8(&buf[hash + 1..hash + 3])
        .ok()
        .and_then(|s| u8::from_str_radix(s, 16).ok());
    buf.drain(..hash + 3);
    if sum != Some(checksum(&raw)) {
        return Ok(Some(Item::Corrupt));
    }
    Ok(Some(Item::Packet(decode(&raw)?)))
}

/// Undoes escapes (`}` then byte ^ 0x20) and run-length encoding (`X*n`).
pub fn decode(raw: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'}' => {
                let b = raw.get(i + 1).ok_or_else(|| {
                    Error::Protocol("a packet ends inside an escape (`}` last)".into())
                })?;
                out.push(b ^ 0x20);
                i += 2;
            }
            b'*' => {
                let n = raw.get(i + 1).ok_or_else(|| {
                    Error::Protocol("a packet ends inside a run length (`*` last)".into())
                })?;
                let prev = *out.last().ok_or_else(|| {
                    Error::Protocol("a run length (`*`) with nothing before it to repeat".into())
                })?;
                let count = usize::from(n.checked_sub(29).ok_or_else(|| {
                    Error::Protocol(format!("run length byte {n:#04x} is below 29"))
                })?);
                if out.len() + count > MAX_PAYLOAD {
                    return Err(Error::Protocol(format!(
                        "a run-length encoded packet expands past {MAX_PAYLOAD} bytes"
                    )));
                }
                out.extend(std::iter::repeat_n(prev, count));
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Bytes as lowercase hex, the protocol's encoding of memory and registers.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex text to bytes; `None` when it is not an even run of hex digits.
pub fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_checksum() {
        // The example of the GDB manual's "Overview": $m0,8#...
        assert_eq!(frame("qC"), b"$qC#b4".to_vec());
        assert_eq!(frame(""), b"$#00".to_vec());
        assert_eq!(checksum(b"OK"), 0x9a);
    }

    #[test]
    fn items_come_out_in_order() {
        let mut buf = b"+$OK#9a-junk$T05thread:p01.1a;#".to_vec();
        assert_eq!(take(&mut buf).unwrap(), Some(Item::Ack));
        assert_eq!(take(&mut buf).unwrap(), Some(Item::Packet(b"OK".to_vec())));
        assert_eq!(take(&mut buf).unwrap(), Some(Item::Nack));
        // An incomplete packet waits for its checksum.
        assert_eq!(take(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"00");
        assert_eq!(take(&mut buf).unwrap(), Some(Item::Corrupt));
        assert!(buf.is_empty());
    }

    #[test]
    fn escapes_and_run_lengths_are_undone() {
        // "0* " is '0' and 3 more: 0000.
        assert_eq!(decode(b"0* ").unwrap(), b"0000".to_vec());
        assert_eq!(decode(b"a}\x03b").unwrap(), b"a#b".to_vec());
        assert!(decode(b"*x").is_err());
        assert!(decode(b"a}").is_err());
        assert!(decode(b"a*\x01").is_err());
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0xde, 0xad, 0x01]), "dead01");
        assert_eq!(from_hex(b"dead01"), Some(vec![0xde, 0xad, 0x01]));
        assert_eq!(from_hex(b"dea"), None);
        assert_eq!(from_hex(b"zz"), None);
    }
}
