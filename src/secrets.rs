//! Secrets read from files. Every secret read is registered with the contract so that it can
//! never appear in the module's output.

use crate::ansible::{register_secret, Result};
use crate::fail;

/// Reads a secret file, failing with the option and the path named, never the content. The
/// content is trimmed of surrounding whitespace, as Synapse does for
/// `registration_shared_secret_path` and `register_new_matrix_user --password-file`.
pub fn read_file(option: &str, path: &str) -> Result<String> {
    let raw = std::fs::read(path).map_err(|e| fail!("{option}: cannot read {path}: {e}"))?;
    let text = String::from_utf8(raw).map_err(|_| fail!("{option}: {path} is not UTF-8 text"))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(fail!("{option}: {path} is empty"));
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
}
