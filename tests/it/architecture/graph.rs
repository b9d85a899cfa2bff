//! The dependency graph between the crate's files, its cycles, and the report that lists them.
//! The rules are in `mod.rs`.

use super::source::{parse, SourceFile};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

pub struct Graph {
    /// Paths of the files, e.g. `src/api/mas.rs`; a node is an index into this list.
    pub files: Vec<String>,
    /// from -> to, with the first place in `from` that makes the edge.
    pub edges: BTreeMap<(usize, usize), String>,
}

/// The graph of `sources`: (path under src/, text) of every file of the crate.
pub fn build(sources: &[(String, String)]) -> Graph {
    let files: Vec<SourceFile> = sources.iter().map(|(p, s)| parse(p, s)).collect();
    let resolver = Resolver::new(&files);
    let mut edges = BTreeMap::new();
    let mut add = |from: usize, to: usize, line: usize, why: String| {
        if from != to {
            edges
                .entry((from, to))
                .or_insert_with(|| format!("{}:{line}: {why}", files[from].path));
        }
    };
    for (n, f) in files.iter().enumerate() {
        for u in &f.uses {
            let forwarding = u.public
                && u.binding
                    .as_ref()
                    .is_none_or(|b| !f.idents_in_code.contains_key(b));
            if forwarding {
                continue;
            }
            if let Some(to) = resolver
                .absolute(&u.scope, &u.path)
                .and_then(|p| resolver.resolve(&p, 0))
            {
                let mut why = format!("use {}", u.path.join("::"));
                let name = u.path.last().map(String::as_str).unwrap_or("");
                if resolver.exported_macros(name).any(|(def, _)| def == to) {
                    why.push_str(&format!(" (the macro {name}! of {})", files[to].path));
                }
                add(n, to, u.line, why);
            }
        }
        for p in &f.paths {
            if let Some(to) = resolver
                .absolute(&p.scope, &p.segments)
                .and_then(|a| resolver.resolve(&a, 0))
            {
                add(n, to, p.line, p.segments.join("::"));
            }
        }
        for (name, line) in &f.macro_calls {
            for (def_file, def) in resolver.macros(n, name) {
                add(
                    n,
                    def_file,
                    *line,
                    format!("{name}! (defined in {})", files[def_file].path),
                );
                for body in &def.body_paths {
                    if let Some(to) = resolver.resolve(body, 0) {
                        add(
                            n,
                            to,
                            *line,
                            format!("{name}! expands to crate::{}", body.join("::")),
                        );
                    }
                }
            }
        }
    }
    Graph {
        files: files.iter().map(|f| f.path.clone()).collect(),
        edges,
    }
}

struct Resolver<'a> {
    files: &'a [SourceFile],
    modules: HashMap<Vec<String>, usize>,
}

impl<'a> Resolver<'a> {
    fn new(files: &'a [SourceFile]) -> Resolver<'a> {
        let modules = files
            .iter()
            .enumerate()
            .map(|(n, f)| (f.module.clone(), n))
            .collect();
        Resolver { files, modules }
    }

    /// `segments` as a path from the crate root, for a path written in module `scope`; None for
    /// a path that leaves the crate or starts at a name this check does not follow (a local item,
    /// an imported type, an external crate).
    fn absolute(&self, scope: &[String], segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?.as_str();
        let rest = |k: usize| segments[k..].to_vec();
        match first {
            "crate" | "$crate" => Some(rest(1)),
            "self" => Some([scope, &segments[1..]].concat()),
            "super" => {
                let ups = segments.iter().take_while(|s| *s == "super").count();
                let base = scope.get(..scope.len().checked_sub(ups)?)?;
                Some([base, &segments[ups..]].concat())
            }
            _ => {
                let child = [scope, &segments[..1]].concat();
                self.modules
                    .contains_key(&child)
                    .then(|| [scope, segments].concat())
            }
        }
    }

    /// The file that defines what the absolute path names (a module's file for a module).
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        let mut module: Vec<String> = Vec::new();
        let mut k = 0;
        while k < path.len() {
            let child = [module.as_slice(), &path[k..=k]].concat();
            if !self.modules.contains_key(&child) {
                break;
            }
            module = child;
            k += 1;
        }
        let file = *self.modules.get(&module)?;
        match path.get(k) {
            None => Some(file),
            Some(name) => Some(self.item(file, name, depth)),
        }
    }

    /// The file that defines `name` as seen in `file`: the file itself, or where a `pub use`
    /// of `file` leads, or (at the crate root) where an exported macro is defined.
    fn item(&self, file: usize, name: &str, depth: usize) -> usize {
        let f = &self.files[file];
        if f.defines.contains(name) || depth > 8 {
            return file;
        }
        for u in f.uses.iter().filter(|u| u.public) {
            let Some(target) = self.absolute(&u.scope, &u.path) else {
                continue;
            };
            match &u.binding {
                Some(b) if b == name => {
                    if let Some(to) = self.resolve(&target, depth + 1) {
                        return to;
                    }
                }
                None => {
                    let mut through = target;
                    through.push(name.to_string());
                    if let Some(to) = self.resolve(&through, depth + 1) {
                        if self.files[to].defines.contains(name) {
                            return to;
                        }
                    }
                }
                _ => {}
            }
        }
        if f.module.is_empty() {
            if let Some((def_file, _)) = self.exported_macros(name).next() {
                return def_file;
            }
        }
        file
    }

    fn exported_macros<'b>(
        &'b self,
        name: &'b str,
    ) -> impl Iterator<Item = (usize, &'a super::source::MacroDef)> + 'b {
        self.files.iter().enumerate().flat_map(move |(n, f)| {
            f.macros
                .iter()
                .filter(move |m| m.exported && m.name == name)
                .map(move |m| (n, m))
        })
    }

    /// The definitions an invocation of `name` in `file` expands: the file's own `macro_rules!`
    /// of that name, or else the crate's exported ones.
    fn macros(&self, file: usize, name: &str) -> Vec<(usize, &'a super::source::MacroDef)> {
        let local: Vec<_> = self.files[file]
            .macros
            .iter()
            .filter(|m| m.name == name)
            .map(|m| (file, m))
            .collect();
        if local.is_empty() {
            self.exported_macros(name).collect()
        } else {
            local
        }
    }
}

/// Every cycle needed to cover each edge that lies on one: for each edge u -> v inside a
/// strongly connected set of files, the shortest way back from v to u. Each cycle starts at its
/// first file in path order, and none is listed twice.
pub fn cycles(g: &Graph) -> Vec<Vec<usize>> {
    let n = g.files.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in g.edges.keys() {
        next[a].push(b);
    }
    let component = strongly_connected(&next);
    let mut found = BTreeSet::new();
    for &(u, v) in g.edges.keys() {
        if component[u] != component[v] {
            continue;
        }
        // Breadth-first from v back to u, inside the component.
        let mut from = vec![usize::MAX; n];
        let mut queue = VecDeque::from([v]);
        from[v] = v;
        while let Some(x) = queue.pop_front() {
            if x == u {
                break;
            }
            for &y in &next[x] {
                if from[y] == usize::MAX && component[y] == component[u] {
                    from[y] = x;
                    queue.push_back(y);
                }
            }
        }
        let mut back = vec![u];
        let mut x = u;
        while x != v {
            x = from[x];
            back.push(x);
        }
        back.reverse(); // v .. u
        let mut cycle = vec![u];
        cycle.extend(back.into_iter().take_while(|&y| y != u));
        let start = (0..cycle.len())
            .min_by_key(|&k| &g.files[cycle[k]])
            .unwrap();
        cycle.rotate_left(start);
        found.insert(cycle);
    }
    let mut list: Vec<Vec<usize>> = found.into_iter().collect();
    list.sort_by_key(|c| {
        (
            c.len(),
            c.iter().map(|&k| g.files[k].clone()).collect::<Vec<_>>(),
        )
    });
    list
}

/// Tarjan's algorithm: the component number of every node.
fn strongly_connected(next: &[Vec<usize>]) -> Vec<usize> {
    struct State<'a> {
        next: &'a [Vec<usize>],
        index: Vec<usize>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        component: Vec<usize>,
        counter: usize,
        components: usize,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = s.counter;
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for k in 0..s.next[v].len() {
            let w = s.next[v][k];
            if s.index[w] == usize::MAX {
                visit(s, w);
                s.low[v] = s.low[v].min(s.low[w]);
            } else if s.on_stack[w] {
                s.low[v] = s.low[v].min(s.index[w]);
            }
        }
        if s.low[v] == s.index[v] {
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                s.component[w] = s.components;
                if w == v {
                    break;
                }
            }
            s.components += 1;
        }
    }
    let n = next.len();
    let mut s = State {
        next,
        index: vec![usize::MAX; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        component: vec![0; n],
        counter: 0,
        components: 0,
    };
    for v in 0..n {
        if s.index[v] == usize::MAX {
            visit(&mut s, v);
        }
    }
    s.component
}

/// The cycles, one per line, each hop with the place that makes it.
pub fn report(g: &Graph, cycles: &[Vec<usize>]) -> String {
    let files: BTreeSet<usize> = cycles.iter().flatten().copied().collect();
    let mut out = format!(
        "src/ has {} import cycle(s) through {} file(s) (a graph between files; the rules are in \
         tests/it/architecture/mod.rs):\n",
        cycles.len(),
        files.len()
    );
    for (k, c) in cycles.iter().enumerate() {
        let names: Vec<&str> = c
            .iter()
            .chain(c.first())
            .map(|&x| g.files[x].as_str())
            .collect();
        out.push_str(&format!("{:>3}. {}\n", k + 1, names.join(" -> ")));
        for hop in 0..c.len() {
            let (a, b) = (c[hop], c[(hop + 1) % c.len()]);
            out.push_str(&format!("       {}\n", g.edges[&(a, b)]));
        }
    }
    out
}
