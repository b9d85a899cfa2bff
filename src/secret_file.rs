//! Secrets read from files. Every secret read is registered with the contract so that it can
//! never appear in the module's output.

use crate::ansible::{register_secret, Result};
use crate::fail;

/// The largest secret file read: secrets are short; anything larger is the wrong file.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a secret file, failing with the option and the path named, never the content. The
/// content is trimmed of surrounding whitespace, as Synapse does for
/// `registration_shared_secret_path` and `register_new_matrix_user --password-file`.
///
/// The file must be a regular file of at most [`MAX_SECRET_FILE`] bytes: it is opened without
/// blocking, so a FIFO or a device such as /dev/zero fails at once instead of hanging or filling
/// memory. A UTF-8 byte order mark, which some editors add unseen, is removed with a warning.
pub fn read_file(option: &str, path: &str) -> Result<String> {
    let shown = crate::ansible::escape_text(path);
    let raw = crate::ansible::read_regular_file(path, MAX_SECRET_FILE)
        .map_err(|e| fail!("{option}: cannot read {shown}: {e}"))?;
    let text = String::from_utf8(raw).map_err(|_| fail!("{option}: {shown} is not UTF-8 text"))?;
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            crate::ansible::warn(format!(
                "{option}: {shown} starts with a UTF-8 byte order mark, which was removed (an editor adds it unseen; save the file as UTF-8 without BOM)"
            ));
            rest
        }
        None => text.as_str(),
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Err(fail!("{option}: {shown} is empty"));
    }
    register_secret(secret);
    Ok(secret.to_string())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secrets_are_trimmed_and_errors_name_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "  s3cret~^&*value\n").unwrap();
        assert_eq!(
            read_file("shared_secret_file", p.to_str().unwrap()).unwrap(),
            "s3cret~^&*value"
        );
        std::fs::write(&p, "\n\n").unwrap();
        let e = read_file("shared_secret_file", p.to_str().unwrap()).unwrap_err();
        assert!(
            e.0.starts_with("shared_secret_file:") && e.0.contains("is empty"),
            "{e}"
        );
        let e = read_file("password_file", "/nonexistent/pw").unwrap_err();
        assert!(
            e.0.starts_with("password_file: cannot read /nonexistent/pw"),
            "{e}"
        );
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_file("password_file", p.to_str().unwrap())
            .unwrap_err()
            .0
            .contains("not UTF-8"));
    }

    #[test]
    fn a_byte_order_mark_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, "\u{feff}bom-secret-value\n").unwrap();
        assert_eq!(
            read_file("shared_secret_file", p.to_str().unwrap()).unwrap(),
            "bom-secret-value"
        );
    }

    #[test]
    fn devices_fifos_and_huge_files_fail_at_once() {
        let e = read_file("password_file", "/dev/zero").unwrap_err();
        assert!(e.0.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = read_file("password_file", fifo.to_str().unwrap()).unwrap_err();
        assert!(e.0.contains("not a regular file"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_SECRET_FILE as usize + 1]).unwrap();
        let e = read_file("password_file", big.to_str().unwrap()).unwrap_err();
        assert!(e.0.contains("bytes allowed"), "{e}");
        let e = read_file("password_file", dir.path().to_str().unwrap()).unwrap_err();
        assert!(e.0.contains("directory"), "{e}");
    }
}
