//! What the architecture check reads of one Rust source file: its tokens without comments and
//! literals, then its `mod` declarations, top-level items, `use` declarations, paths in code,
//! macro definitions and macro invocations. A small lexer, not a full parser: enough for the
//! paths that tie the crate's files together.

use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier or keyword; `$crate` is one identifier.
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
    /// A string, character or number literal (its text is not code).
    Lit,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

/// The tokens of `src`: comments (doc comments too) dropped, literals reduced to `Lit`.
pub fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        let start_line = line;
        let mut push = |tok: Tok| {
            out.push(Token {
                tok,
                line: start_line,
            })
        };
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some(end) = string_end(&c, i) {
            line += c[i..end].iter().filter(|&&x| x == '\n').count();
            push(Tok::Lit);
            i = end;
        } else if ch == '\'' {
            if next == Some('\\') {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                push(Tok::Lit);
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
                push(Tok::Lit);
            } else {
                // A lifetime or a label.
                i += 1;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit() {
            while i < c.len()
                && (ident_char(c[i])
                    || c[i] == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
            {
                i += 1;
            }
            push(Tok::Lit);
        } else if ch.is_alphabetic() || ch == '_' {
            if ch == 'r' && next == Some('#') && c.get(i + 2).is_some_and(|&x| ident_char(x)) {
                i += 2; // a raw identifier
            }
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch == '$' && c[i + 1..].starts_with(&['c', 'r', 'a', 't', 'e']) {
            i += 6;
            push(Tok::Ident("$crate".into()));
        } else if ch == ':' && next == Some(':') {
            i += 2;
            push(Tok::Sep);
        } else {
            i += 1;
            push(Tok::Punct(ch));
        }
    }
    out
}

/// If a string literal (`"…"`, `b"…"`, `c"…"`, `r#"…"#`, `br"…"`) starts at `i`, the index after it.
fn string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if j > 0 && (c[j - 1].is_alphanumeric() || c[j - 1] == '_') {
        return None; // inside an identifier
    }
    if matches!(c[j], 'b' | 'c') {
        j += 1;
    }
    let raw = c.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let hashes = c[j.min(c.len())..]
        .iter()
        .take_while(|&&x| x == '#')
        .count();
    if !raw && hashes > 0 || c.get(j + hashes) != Some(&'"') {
        return None;
    }
    j += hashes + 1;
    while j < c.len() {
        if !raw && c[j] == '\\' {
            j += 2;
        } else if c[j] == '"'
            && c[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&x| x == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        } else {
            j += 1;
        }
    }
    Some(c.len())
}

/// A `use` declaration, one entry per leaf of its tree.
#[derive(Debug)]
pub struct Use {
    /// `pub` in any form: a re-export.
    pub public: bool,
    /// The module the declaration is in (the file's module, plus inline modules).
    pub scope: Vec<String>,
    /// The path as written (`self` leaves folded into their parent).
    pub path: Vec<String>,
    /// The name it binds; None for a glob (`*`).
    pub binding: Option<String>,
    pub line: usize,
}

/// A path in code (outside `use` declarations).
#[derive(Debug)]
pub struct PathRef {
    pub scope: Vec<String>,
    pub segments: Vec<String>,
    pub line: usize,
}

/// A `macro_rules!` definition.
#[derive(Debug)]
pub struct MacroDef {
    pub name: String,
    pub exported: bool,
    /// The `crate::…` and `$crate::…` paths of its body, without the first segment.
    pub body_paths: Vec<Vec<String>>,
}

/// Everything the graph needs of one file.
#[derive(Debug)]
pub struct SourceFile {
    /// e.g. `src/api/mas.rs`.
    pub path: String,
    /// e.g. `["api", "mas"]`; the crate root is `[]`.
    pub module: Vec<String>,
    /// Names of top-level items (fn, struct, enum, trait, type, const, static, union, mod, macro).
    pub defines: BTreeSet<String>,
    pub uses: Vec<Use>,
    pub paths: Vec<PathRef>,
    /// Macro invocations: name and line.
    pub macro_calls: Vec<(String, usize)>,
    pub macros: Vec<MacroDef>,
    /// How often each identifier occurs outside `use` declarations.
    pub idents_in_code: std::collections::BTreeMap<String, usize>,
}

const ITEM_KEYWORDS: [&str; 9] = [
    "fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod",
];

/// Reads `src`, the file at `path` (relative to the repository, under `src/`).
pub fn parse(path: &str, src: &str) -> SourceFile {
    let t = lex(src);
    let ident = |i: usize| match t.get(i).map(|x| &x.tok) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let is = |i: usize, tok: Tok| t.get(i).map(|x| &x.tok) == Some(&tok);
    let module = module_of(path);
    let mut f = SourceFile {
        path: path.to_string(),
        module: module.clone(),
        defines: BTreeSet::new(),
        uses: Vec::new(),
        paths: Vec::new(),
        macro_calls: Vec::new(),
        macros: Vec::new(),
        idents_in_code: Default::default(),
    };
    // Inline modules: (name, brace depth inside them).
    let (mut inline, mut depth, mut i) = (Vec::<(String, usize)>::new(), 0usize, 0);
    while i < t.len() {
        let scope: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        match &t[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                let public = is(i.wrapping_sub(1), Tok::Ident("pub".into()))
                    || is(i.wrapping_sub(1), Tok::Punct(')'))
                        && (2..6).any(|k| is(i.wrapping_sub(k), Tok::Ident("pub".into())));
                let mut leaves = Vec::new();
                let mut j = i + 1;
                use_tree(&t, &mut j, Vec::new(), &mut leaves);
                for (path, binding) in leaves {
                    f.uses.push(Use {
                        public,
                        scope: scope.clone(),
                        path,
                        binding,
                        line: t[i].line,
                    });
                }
                while j < t.len() && !is(j, Tok::Punct(';')) {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            Tok::Ident(kw) if kw == "macro_rules" && is(i + 1, Tok::Punct('!')) => {
                if let Some(name) = ident(i + 2) {
                    let exported =
                        (1..8).any(|k| is(i.wrapping_sub(k), Tok::Ident("macro_export".into())));
                    let end = matching(&t, i + 3);
                    let mut body_paths = Vec::new();
                    for k in i + 3..end {
                        if matches!(ident(k), Some("crate" | "$crate")) && is(k + 1, Tok::Sep) {
                            body_paths.push(path_at(&t, k)[1..].to_vec());
                        }
                    }
                    if depth == 0 {
                        f.defines.insert(name.to_string());
                    }
                    f.macros.push(MacroDef {
                        name: name.to_string(),
                        exported,
                        body_paths,
                    });
                    // The body is inert where it is defined: it counts where it is invoked.
                    i = end;
                    continue;
                }
            }
            Tok::Ident(kw) if ITEM_KEYWORDS.contains(&kw.as_str()) => {
                if let Some(name) = ident(i + 1) {
                    if depth == 0 && !ITEM_KEYWORDS.contains(&name) && name != "_" {
                        f.defines.insert(name.to_string());
                    }
                    if kw == "mod" && is(i + 2, Tok::Punct('{')) {
                        inline.push((name.to_string(), depth + 1));
                    }
                }
            }
            Tok::Ident(name) => {
                *f.idents_in_code.entry(name.clone()).or_default() += 1;
                let starts_path = !is(i.wrapping_sub(1), Tok::Sep) && is(i + 1, Tok::Sep);
                if starts_path && ident(i + 2).is_some() {
                    let segments = path_at(&t, i);
                    let after = i + 2 * segments.len() - 1;
                    if is(after, Tok::Punct('!')) {
                        f.macro_calls
                            .push((segments.last().unwrap().clone(), t[i].line));
                    }
                    f.paths.push(PathRef {
                        scope,
                        segments,
                        line: t[i].line,
                    });
                } else if !is(i.wrapping_sub(1), Tok::Sep)
                    && is(i + 1, Tok::Punct('!'))
                    && matches!(
                        t.get(i + 2).map(|x| &x.tok),
                        Some(Tok::Punct('(' | '[' | '{'))
                    )
                {
                    f.macro_calls.push((name.clone(), t[i].line));
                }
            }
            _ => {}
        }
        i += 1;
    }
    f
}

/// `src/lib.rs` -> [], `src/a.rs` and `src/a/mod.rs` -> [a], `src/a/b.rs` -> [a, b].
pub fn module_of(path: &str) -> Vec<String> {
    let rel = path.strip_prefix("src/").unwrap_or(path);
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The identifiers of the path starting at `i` (`a::b::c`).
fn path_at(t: &[Token], mut i: usize) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(Tok::Ident(s)) = t.get(i).map(|x| &x.tok) {
        out.push(s.clone());
        if t.get(i + 1).map(|x| &x.tok) != Some(&Tok::Sep) {
            break;
        }
        i += 2;
    }
    out
}

/// The index after the group whose opening delimiter is at `i`.
fn matching(t: &[Token], i: usize) -> usize {
    let mut depth = 0i32;
    for (k, x) in t.iter().enumerate().skip(i) {
        match x.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    t.len()
}

/// Reads a use tree from `*j` into (path, binding) leaves.
fn use_tree(
    t: &[Token],
    j: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    if t.get(*j).map(|x| &x.tok) == Some(&Tok::Sep) {
        return; // `use ::external::…`
    }
    loop {
        match t.get(*j).map(|x| &x.tok) {
            Some(Tok::Punct('{')) => {
                *j += 1;
                while !matches!(t.get(*j).map(|x| &x.tok), Some(Tok::Punct('}')) | None) {
                    use_tree(t, j, path.clone(), out);
                    if t.get(*j).map(|x| &x.tok) == Some(&Tok::Punct(',')) {
                        *j += 1;
                    }
                }
                *j += 1;
                return;
            }
            Some(Tok::Punct('*')) => {
                *j += 1;
                out.push((path, None));
                return;
            }
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                *j += 1;
                if t.get(*j).map(|x| &x.tok) == Some(&Tok::Sep) {
                    path.push(s);
                    *j += 1;
                    continue;
                }
                let mut binding = if s == "self" {
                    path.last().cloned()
                } else {
                    Some(s.clone())
                };
                if s != "self" {
                    path.push(s);
                }
                if matches!(t.get(*j).map(|x| &x.tok), Some(Tok::Ident(a)) if a == "as") {
                    if let Some(Tok::Ident(b)) = t.get(*j + 1).map(|x| &x.tok) {
                        binding = Some(b.clone());
                    }
                    *j += 2;
                }
                out.push((path, binding));
                return;
            }
            _ => return,
        }
    }
}
