//! The files of src/ depend on each other without cycles (issue 17): a check that reads every
//! file of the library crate, builds the graph of which file uses which, and fails listing each
//! cycle with the line that makes every step of it.
//!
//! The rules, for a graph between files:
//! - A node is a file of the library (`src/**/*.rs` without `src/bin/`, whose binaries are
//!   crates of their own). Inline modules (`mod tests { … }`) are part of their file, so a
//!   unit test's imports count for its file.
//! - `mod` declarations are not edges: a parent naming its children does not use them.
//! - `use` of a path into another file is an edge to the file that defines the item. A path
//!   through a re-export (`pub use child::Item` in a `mod.rs`) goes on to the file that
//!   defines `Item`: the re-exporting file is not a stop on the way.
//! - A `pub use` is an edge of the file that has it only when that file's own code uses the
//!   name too; forwarding alone (and `pub use child::*`) is not a dependency. So a child using
//!   `super::Error` of its parent makes one edge, child -> parent, not a cycle.
//! - Paths in code (`crate::a::f()`, `super::x`, `self::x`, `child_module::x`) are edges like
//!   `use`s; `super::` inside an inline module names the file itself (no edge).
//! - A macro invocation (`fail!`, `crate::choice_enum!`) is an edge to the file that defines the
//!   macro and to every file its body names with `crate::` or `$crate::`: a macro expands into
//!   the invoking file. The body of a `macro_rules!` is no edge of the file that defines it
//!   (unless that file invokes it too).
//! - Comments, doc comments and literals are not code.
//!
//! `ARCHITECTURE_GRAPH=1 cargo test --test it architecture:: -- --include-ignored --nocapture`
//! prints every edge with the line that makes it.

mod graph;
mod source;

use crate::common::repo;
use std::path::Path;

fn library_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(repo())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() && rel != "src/bin" {
                walk(&path, out);
            } else if rel.ends_with(".rs") {
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("src"), &mut out);
    out.sort();
    out
}

#[test]
fn src_modules_have_no_import_cycles() {
    let sources = library_sources();
    assert!(sources.len() > 10, "read src/: {} files", sources.len());
    let g = graph::build(&sources);
    assert!(
        g.edges.len() > sources.len(),
        "the check found the files' uses: {} edges",
        g.edges.len()
    );
    if std::env::var_os("ARCHITECTURE_GRAPH").is_some() {
        // The whole graph, one edge a line with the place that makes it.
        for ((from, to), why) in &g.edges {
            eprintln!("{} -> {}    {why}", g.files[*from], g.files[*to]);
        }
    }
    let cycles = graph::cycles(&g);
    assert!(cycles.is_empty(), "{}", graph::report(&g, &cycles));
}

/// The rules above, on small made-up crates.
mod rules {
    use super::graph::{build, cycles, report};

    /// The cycles of a made-up crate, as file paths joined by " -> ".
    fn cycles_of(files: &[(&str, &str)]) -> Vec<String> {
        let sources: Vec<(String, String)> = files
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        let g = build(&sources);
        let found = cycles(&g);
        if !found.is_empty() {
            // Every hop of a reported cycle names the line that makes it.
            let text = report(&g, &found);
            assert_eq!(
                text.lines().count(),
                1 + found.iter().map(|c| c.len() + 1).sum::<usize>(),
                "{text}"
            );
        }
        found
            .iter()
            .map(|c| {
                c.iter()
                    .map(|&k| g.files[k].as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            })
            .collect()
    }

    const LIB: (&str, &str) = ("src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");

    #[test]
    fn a_use_one_way_and_a_path_the_other_is_a_cycle() {
        let found = cycles_of(&[
            LIB,
            ("src/a.rs", "use crate::b::Thing;\npub fn f(_: Thing) {}\n"),
            (
                "src/b.rs",
                "pub struct Thing;\npub fn g() { crate::a::f(Thing) }\n",
            ),
            ("src/c.rs", "use crate::a::f;\n"),
        ]);
        assert_eq!(found, ["src/a.rs -> src/b.rs"]);
    }

    #[test]
    fn three_files_in_a_ring_and_the_report_names_every_step() {
        let sources = [
            LIB,
            ("src/a.rs", "use crate::b::B;\n"),
            ("src/b.rs", "use crate::c::C;\n"),
            ("src/c.rs", "use super::a::A;\n"),
        ];
        assert_eq!(cycles_of(&sources), ["src/a.rs -> src/b.rs -> src/c.rs"]);
        let owned: Vec<(String, String)> = sources
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        let g = build(&owned);
        let text = report(&g, &cycles(&g));
        for step in [
            "src/a.rs:1: use crate::b::B",
            "src/b.rs:1: use crate::c::C",
            "src/c.rs:1: use super::a::A",
        ] {
            assert!(text.contains(step), "{text}");
        }
    }

    #[test]
    fn comments_doc_comments_and_strings_are_not_uses() {
        let found = cycles_of(&[
            LIB,
            ("src/a.rs", "use crate::b::B;\n"),
            (
                "src/b.rs",
                "//! Used by [`crate::a`].\n/* crate::a::x() */\npub struct B;\n\
                 pub const S: &str = \"crate::a::x\";\npub const R: &str = r#\"crate::a::\"#;\n\
                 pub fn f<'a>(x: &'a str) -> char { let _ = x; 'c' }\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_child_using_its_parent_and_a_parent_re_exporting_its_child_is_no_cycle() {
        let parent = "pub mod spec;\npub use spec::Opt;\npub struct Error;\n";
        let child = "use super::Error;\npub struct Opt(pub Error);\n";
        let user = "use crate::a::Opt;\npub fn f(_: Opt) {}\n";
        let crate_of = |parent: &'static str| {
            [
                ("src/lib.rs", "pub mod a;\npub mod b;\n"),
                ("src/a/mod.rs", parent),
                ("src/a/spec.rs", child),
                ("src/b.rs", user),
            ]
        };
        assert!(cycles_of(&crate_of(parent)).is_empty());
        // The re-export leads to the defining file: b depends on a/spec.rs, not on a/mod.rs.
        let owned: Vec<(String, String)> = crate_of(parent)
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        let g = build(&owned);
        let to = |from: &str, to: &str| {
            let (f, t) = (
                g.files.iter().position(|x| x == from).unwrap(),
                g.files.iter().position(|x| x == to).unwrap(),
            );
            g.edges.contains_key(&(f, t))
        };
        assert!(to("src/b.rs", "src/a/spec.rs") && !to("src/b.rs", "src/a/mod.rs"));
        // A parent whose own code uses the child's item does depend on it: now a cycle.
        let using =
            "pub mod spec;\npub use spec::Opt;\npub struct Error;\npub fn check(_: &Opt) {}\n";
        assert_eq!(
            cycles_of(&crate_of(using)),
            ["src/a/mod.rs -> src/a/spec.rs"]
        );
    }

    #[test]
    fn an_inline_test_module_using_super_is_its_own_file_but_its_imports_count() {
        let found = cycles_of(&[
            LIB,
            ("src/a.rs", "pub fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::b::helper;\n}\n"),
            ("src/b.rs", "pub fn helper() { crate::a::f() }\n"),
        ]);
        assert_eq!(found, ["src/a.rs -> src/b.rs"]);
    }

    #[test]
    fn a_macro_depends_on_what_its_body_names_wherever_it_is_invoked() {
        // macros.rs defines choice!, which expands to $crate::args::Choice; args.rs uses
        // backends.rs, which invokes choice!: a cycle args -> backends -> args that only the
        // macro's body makes (neither file names the other's module otherwise).
        let crate_with = |backends: &'static str| {
            [
                (
                    "src/lib.rs",
                    "pub mod args;\npub mod backends;\npub mod macros;\n",
                ),
                (
                    "src/macros.rs",
                    "#[macro_export]\nmacro_rules! choice {\n    ($n:ident) => { impl $crate::args::Choice for $n {} };\n}\n",
                ),
                (
                    "src/args.rs",
                    "use crate::backends::Store;\npub trait Choice {}\npub fn pick(_: Store) {}\n",
                ),
                ("src/backends.rs", backends),
            ]
        };
        let with_use = "use crate::choice;\npub struct Store;\nchoice!(Store);\n";
        assert_eq!(
            cycles_of(&crate_with(with_use)),
            ["src/args.rs -> src/backends.rs"]
        );
        // Invoked by path, without a use.
        let by_path = "pub struct Store;\ncrate::choice!(Store);\n";
        assert_eq!(
            cycles_of(&crate_with(by_path)),
            ["src/args.rs -> src/backends.rs"]
        );
        // Not invoked: no cycle.
        let unused = "pub struct Store;\n";
        assert!(cycles_of(&crate_with(unused)).is_empty());
    }

    #[test]
    fn external_crates_and_local_names_are_not_edges() {
        let found = cycles_of(&[
            LIB,
            ("src/a.rs", "use serde_json::Value;\nuse std::fmt;\npub fn f(v: Value) -> String { fmt::format(format_args!(\"{v}\")) }\n"),
            ("src/b.rs", "use crate::a::f;\npub enum E { X }\npub fn g() -> E { let _ = f; E::X }\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }
}
