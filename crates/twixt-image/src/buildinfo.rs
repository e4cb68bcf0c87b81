//! The `.go.buildinfo` blob: where a Go binary records the toolchain version it was
//! built with (`runtime.buildVersion`), read without running the binary.
//!
//! Layout (Go 1.18+, "inline" format, flag bit 2): a 32-byte header starting with
//! `\xff Go buildinf:`, then the version as a uvarint length and bytes, then the module
//! info the same way. Older binaries stored pointers instead; twixt does not read those
//! (their pclntab is unsupported anyway).

const MAGIC: &[u8] = b"\xff Go buildinf:";
const FLAG_INLINE: u8 = 2;
const HEADER_LEN: usize = 32;

/// Reads the Go version string (`go1.23.4`) from `.go.buildinfo` bytes.
pub fn parse_build_info(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(MAGIC) {
        return Err("build info does not start with the Go buildinf magic".into());
    }
    let flags = *bytes
        .get(MAGIC.len() + 1)
        .ok_or("build info header truncated")?;
    if flags & FLAG_INLINE == 0 {
        return Err("build info uses the pre-Go 1.18 pointer format".into());
    }
    let rest = bytes
        .get(HEADER_LEN..)
        .ok_or("build info header truncated")?;
    let (len, used) = uvarint(rest).ok_or("build info version length is not a valid varint")?;
    let len = usize::try_from(len).map_err(|_| "build info version length too large")?;
    let text = rest
        .get(used..used.saturating_add(len))
        .ok_or("build info version string runs past the section")?;
    let version = std::str::from_utf8(text).map_err(|_| "build info version is not UTF-8")?;
    if !version.starts_with("go") {
        return Err(format!(
            "build info version {version:?} does not start with \"go\""
        ));
    }
    Ok(version.to_string())
}

fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(version: &str, flags: u8) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.push(8); // pointer size
        b.push(flags);
        b.resize(HEADER_LEN, 0);
        b.push(version.len() as u8);
        b.extend_from_slice(version.as_bytes());
        b
    }

    #[test]
    fn reads_inline_version() {
        assert_eq!(parse_build_info(&blob("go1.23.4", 2)).unwrap(), "go1.23.4");
    }

    #[test]
    fn rejects_pointer_format_and_garbage() {
        assert!(parse_build_info(&blob("go1.17", 0)).is_err());
        assert!(parse_build_info(b"hello").is_err());
        let mut truncated = blob("go1.23.4", 2);
        truncated.truncate(HEADER_LEN + 3);
        assert!(parse_build_info(&truncated).is_err());
    }
}
