//! The kernel's octal escapes in mount-table and mountinfo fields.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Decodes the kernel's octal escapes (`\ooo`, used for space, tab, newline and
/// backslash). Anything else, including a malformed escape, is kept as is.
pub fn unescape(field: &str) -> OsString {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(value) = octal3(&bytes[i + 1..])
        {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// The byte encoded by three leading octal digits, if they are there and fit in a byte.
fn octal3(bytes: &[u8]) -> Option<u8> {
    let digits = bytes.get(..3)?;
    let mut value: u16 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        value = value * 8 + u16::from(d - b'0');
    }
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_tab_newline_and_backslash_are_decoded() {
        assert_eq!(unescape(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
    }

    #[test]
    fn an_escaped_backslash_is_not_decoded_twice() {
        // `\134` is a backslash; the `043` after it is text, not a second escape.
        assert_eq!(unescape(r"a\134043"), r"a\043");
    }

    #[test]
    fn what_is_not_three_octal_digits_is_kept() {
        assert_eq!(unescape(r"a\09b"), r"a\09b");
        assert_eq!(unescape(r"a\b"), r"a\b");
        assert_eq!(unescape(r"end\04"), r"end\04");
        assert_eq!(unescape(r"trailing\"), r"trailing\");
    }

    #[test]
    fn an_escape_past_a_byte_is_kept() {
        assert_eq!(unescape(r"x\400"), r"x\400");
        assert_eq!(unescape(r"x\777y"), r"x\777y");
    }

    #[test]
    fn non_ascii_bytes_pass_through() {
        assert_eq!(unescape("/mnt/ré"), "/mnt/ré");
    }
}
