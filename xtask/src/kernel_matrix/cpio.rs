//! A newc ("070701") cpio archive writer: the initramfs format the kernel unpacks into its
//! root file system before running `/init`. The kernel is the reader that matters: every
//! kernel-matrix guest boots from one of these.

use std::io::{self, Write};

/// One archive member.
pub enum Entry<'a> {
    /// A directory (mode 0755).
    Dir(&'a str),
    /// A regular file with its permission bits (e.g. 0o755).
    File(&'a str, u32, &'a [u8]),
    /// A character device node (e.g. `dev/console`, 5:1), which the kernel needs before
    /// devtmpfs is mounted to give `/init` its console.
    CharDevice(&'a str, u32, u32),
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// Writes `entries` and the trailer. Names are relative (`init`, `bin/x`); parents must
/// come before their children.
pub fn write(out: &mut impl Write, entries: &[Entry<'_>]) -> io::Result<()> {
    let mut offset = 0usize;
    for (index, entry) in entries.iter().enumerate() {
        let (name, mode, data, rdev) = match *entry {
            Entry::Dir(name) => (name, S_IFDIR | 0o755, &[][..], (0, 0)),
            Entry::File(name, perm, data) => (name, S_IFREG | perm, data, (0, 0)),
            Entry::CharDevice(name, major, minor) => {
                (name, S_IFCHR | 0o600, &[][..], (major, minor))
            }
        };
        let ino = u32::try_from(index + 1).expect("fewer than 2^32 entries");
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        member(out, &mut offset, name, ino, mode, nlink, data, rdev)?;
    }
    member(out, &mut offset, "TRAILER!!!", 0, 0, 1, &[], (0, 0))?;
    // The kernel reads the archive in 512-byte blocks, as cpio(1) writes it.
    pad(out, &mut offset, 512)
}

#[allow(clippy::too_many_arguments)]
fn member(
    out: &mut impl Write,
    offset: &mut usize,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    data: &[u8],
    (rdev_major, rdev_minor): (u32, u32),
) -> io::Result<()> {
    let size = u32::try_from(data.len()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is over 4 GiB"))
    })?;
    let namesize = u32::try_from(name.len() + 1).expect("short names");
    let fields = [
        ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev_major, rdev_minor, namesize, 0,
    ];
    let mut header = String::from("070701");
    for field in fields {
        header.push_str(&format!("{field:08x}"));
    }
    emit(out, offset, header.as_bytes())?;
    emit(out, offset, name.as_bytes())?;
    emit(out, offset, &[0])?;
    pad(out, offset, 4)?;
    emit(out, offset, data)?;
    pad(out, offset, 4)
}

fn emit(out: &mut impl Write, offset: &mut usize, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    *offset += bytes.len();
    Ok(())
}

fn pad(out: &mut impl Write, offset: &mut usize, to: usize) -> io::Result<()> {
    let fill = (to - *offset % to) % to;
    emit(out, offset, &vec![0; fill])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, entries).expect("writing to memory");
        out
    }

    #[test]
    fn a_member_is_a_header_a_padded_name_and_padded_data() {
        let out = archive(&[Entry::File("init", 0o755, b"hello")]);
        let header = std::str::from_utf8(&out[..110]).expect("ascii header");
        assert!(header.starts_with("070701"));
        let field = |i: usize| u32::from_str_radix(&header[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(1), 0o100755, "mode");
        assert_eq!(field(6), 5, "file size");
        assert_eq!(field(11), 5, "name size with its NUL");
        // 110 + "init\0" = 115, padded to 116; then the data.
        assert_eq!(&out[110..116], b"init\0\0");
        assert_eq!(&out[116..121], b"hello");
        assert_eq!(out.len() % 512, 0);
    }

    #[test]
    fn the_archive_ends_with_the_trailer_and_devices_carry_their_numbers() {
        let out = archive(&[Entry::Dir("dev"), Entry::CharDevice("dev/console", 5, 1)]);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("TRAILER!!!"));
        let console = text.find("dev/console").expect("the device member");
        let header = &text[console - 110..console];
        let field = |i: usize| u32::from_str_radix(&header[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(1) & 0o170000, S_IFCHR);
        assert_eq!((field(9), field(10)), (5, 1));
    }
}
