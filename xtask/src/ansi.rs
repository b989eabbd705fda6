//! Removing terminal escape sequences from tool output, for text that is measured, parsed or
//! written where no terminal will interpret it (spinner lines, digests, JUnit, annotations).

/// `text` without its escape sequences: whole sequences go, not just the ESC byte, so no
/// `[0m` or `(B` is left behind.
///
/// Covers CSI (`ESC [ ... final`, colours and cursor moves), OSC (`ESC ] ... BEL` or
/// `ESC ] ... ESC \`, e.g. hyperlinks), the string commands DCS/SOS/PM/APC (`ESC P|X|^|_
/// ... ESC \`), character-set selections (`ESC ( B`) and other two-byte escapes.
pub fn strip(text: &str) -> String {
    if !text.contains('\x1b') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates, ended by a byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // String commands: up to BEL (OSC only) or the string terminator ESC \.
            Some(']' | 'P' | 'X' | '^' | '_') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // nF escapes: intermediates (space../) then one final byte, e.g. `ESC ( B`.
            Some(' '..='/') => {
                for c in chars.by_ref() {
                    if !(' '..='/').contains(&c) {
                        break;
                    }
                }
            }
            // Any other escape is ESC plus one byte; a trailing ESC is dropped.
            Some(_) | None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_go_whole() {
        assert_eq!(
            strip("\x1b[1m\x1b[32m   Compiling\x1b[0m foo v0.1.0"),
            "   Compiling foo v0.1.0"
        );
        assert_eq!(strip("plain"), "plain");
    }

    #[test]
    fn character_set_selections_leave_nothing_behind() {
        // What rustfmt's coloured diff writes after each line (tput's sgr0).
        assert_eq!(
            strip("\x1b[31m-old\n\x1b(B\x1b[m\x1b[32m+new"),
            "-old\n+new"
        );
    }

    #[test]
    fn hyperlinks_keep_their_text_only() {
        let link = "\x1b]8;;https://example.com\x1b\\docs\x1b]8;;\x07 here";
        assert_eq!(strip(link), "docs here");
    }

    #[test]
    fn a_trailing_escape_is_dropped() {
        assert_eq!(strip("cut\x1b"), "cut");
        assert_eq!(strip("cut\x1b["), "cut");
    }
}
