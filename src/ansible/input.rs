//! Reading what Ansible hands a module: the arguments file, and files named by options.

use super::error::{Error, Result};
use super::mask::escape_text;
use crate::fail;
use serde_json::{Map, Value};

/// The largest arguments file read (a bulk import of many thousand users fits).
pub const MAX_ARGS_FILE: u64 = 64 << 20;

/// Reads a regular file of at most `limit` bytes, without ever blocking: the file is opened
/// non-blocking (a FIFO with no writer cannot hang the open), and anything but a regular file
/// (a FIFO, a device such as /dev/zero, a directory) is refused before a byte is read.
pub fn read_regular_file(path: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error as IoError, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    const O_NONBLOCK: i32 = 0x0004;
    #[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
    const O_NONBLOCK: i32 = 0o4000;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(IoError::new(ErrorKind::InvalidInput, what));
    }
    if meta.len() > limit {
        return Err(IoError::new(
            ErrorKind::InvalidData,
            format!(
                "it is {} bytes, more than the {limit} bytes allowed",
                meta.len()
            ),
        ));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(IoError::new(
            ErrorKind::InvalidData,
            format!("it holds more than the {limit} bytes allowed"),
        ));
    }
    Ok(buf)
}

/// Standard input, at most `limit` bytes (more is an error, not a truncation).
fn read_stdin(limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        let msg = format!("standard input holds more than the {limit} bytes allowed");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
    }
    Ok(buf)
}

/// Reads and parses the args file named by argv[1]; `-` reads the arguments from standard input
/// (the collection's action plugin sends them there: they never touch the target's disk).
pub fn read_args(arg: Option<&str>) -> Result<Map<String, Value>> {
    let path = arg.ok_or_else(|| {
        Error::new(
            "no arguments file given: this is an Ansible module, run as `<module> <args-file>` \
             where the file holds a JSON object of options",
        )
    })?;
    let bytes = if path == "-" {
        read_stdin(MAX_ARGS_FILE)
    } else {
        read_regular_file(path, MAX_ARGS_FILE)
    }
    .map_err(|e| fail!("cannot read the arguments file {}: {e}", escape_text(path)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| fail!("the arguments file {} is not UTF-8", escape_text(path)))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(fail!(
            "the arguments file {path} must hold a JSON object of options"
        )),
        Err(e) => Err(fail!("the arguments file {path} is not valid JSON: {e}")),
    }
}
