//! The collection matrix.users as it ships, installed: from MATRIX_USERS_COLLECTIONS_PATH (`make
//! test` and `make test-collection` install the built tarball there), or else from the tarball
//! that `make collection` left in target/collection/, installed once per test run into a
//! temporary path with the controller's ansible-galaxy.

use super::util::{cache_dir, repo};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The directory that holds ansible_collections/matrix/users.
pub fn collections_path() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(p) = std::env::var_os("MATRIX_USERS_COLLECTIONS_PATH") {
            return PathBuf::from(p);
        }
        let tarball = repo().join(format!(
            "target/collection/matrix-users-{}.tar.gz",
            env!("CARGO_PKG_VERSION")
        ));
        assert!(
            tarball.exists(),
            "{} is missing: run `make collection` (or `make test-collection`)",
            tarball.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("collection-")
            .tempdir()
            .unwrap()
            .keep();
        let out = Command::new(cache_dir().join("venv-ansible/bin/ansible-galaxy"))
            .args(["collection", "install", "-p"])
            .arg(&dir)
            .arg(&tarball)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        dir
    })
    .clone()
}

/// plugins/modules of the installed collection.
pub fn collection_modules() -> PathBuf {
    collections_path().join("ansible_collections/matrix/users/plugins/modules")
}

/// The modules the collection ships: one binary each in src/bin/ (the project's one list of
/// them), sorted.
pub fn src_bin_modules() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo().join("src/bin"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    v.sort();
    v
}
