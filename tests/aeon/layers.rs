//! The layers of `src/`, held: the order lib.rs's "Layers" section states is read from
//! lib.rs itself, and every `crate::` and `super::` path of the library's code (comments
//! and `#[cfg(test)]` modules aside) is checked against it. A module may use modules of
//! its own layer or below; and no import cycle may join more than two units (a unit is
//! a top-level module or one of its direct children, such as `actors::worker`), nor
//! two units of different top-level modules — the one cycle allowed is an actor and
//! its own child (the Supervisor and its Workers) inside one module.
//!
//! A path is charged to the module that defines the name it reaches, not to the module
//! that re-exports it (`crate::store::Applied` is `store::types`'s), so a facade
//! `mod.rs` does not tie its children into a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One `use`-style path found in a file.
struct Import {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// The library's modules (`a::b` for `src/a/b.rs` or `src/a/b/mod.rs`) and their text.
fn modules(src: &Path) -> BTreeMap<String, (String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(src).expect("under src").with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        out.insert(parts.join("::"), (format!("src/{}", rel.display()), text));
    }
    out
}

/// The text that is code: comments cut, and `#[cfg(test)] mod … { … }` blocks blanked
/// (their lines kept empty, so line numbers stay right).
fn code_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut skip_depth: Option<i64> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let code = line.split("//").next().unwrap_or("");
        if let Some(depth) = skip_depth.as_mut() {
            *depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            if *depth <= 0 {
                skip_depth = None;
            }
            out.push(String::new());
        } else if line.trim() == "#[cfg(test)]"
            && lines.get(i + 1).is_some_and(|next| {
                let next = next.trim();
                (next.starts_with("mod ") || next.starts_with("pub mod ")) && next.ends_with('{')
            })
        {
            out.push(String::new());
            out.push(String::new());
            skip_depth = Some(1);
            i += 1;
        } else {
            out.push(code.to_string());
        }
        i += 1;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `crate::a::b…` and `super::…::a…` path of a line, as absolute components.
fn paths_in(line: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != ':';
        let rest: String = bytes[i..].iter().collect();
        let (base, skip) = if starts_word && rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if starts_word && rest.starts_with("super::") {
            let mut n = 0;
            let mut r = rest.as_str();
            while let Some(after) = r.strip_prefix("super::") {
                n += 1;
                r = after;
            }
            (here[..here.len().saturating_sub(n)].to_vec(), rest.len() - r.len())
        } else {
            i += 1;
            continue;
        };
        let mut j = i + skip;
        let mut path = base;
        loop {
            let start = j;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if j == start {
                break;
            }
            path.push(bytes[start..j].iter().collect());
            if bytes.get(j) == Some(&':') && bytes.get(j + 1) == Some(&':') {
                j += 2;
            } else {
                break;
            }
        }
        found.push(path);
        i = j.max(i + 1);
    }
    found
}

/// The names each module defines (`pub` items and macros), for resolving re-exports.
fn definitions(mods: &BTreeMap<String, (String, String)>) -> BTreeMap<String, BTreeSet<String>> {
    const KINDS: [&str; 8] = ["struct", "enum", "trait", "fn", "type", "const", "static", "mod"];
    let mut defs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, (_, text)) in mods {
        for line in text.lines() {
            let mut words = line.split(|c: char| !is_ident(c) && c != '!').filter(|w| !w.is_empty()).peekable();
            let Some(first) = words.next() else { continue };
            let name = if first == "macro_rules!" {
                words.next()
            } else if first == "pub" {
                let mut words = words.skip_while(|w| ["crate", "super", "in", "async", "unsafe"].contains(w));
                match words.next() {
                    Some(kind) if KINDS.contains(&kind) => words.next(),
                    _ => None,
                }
            } else {
                None
            };
            if let Some(name) = name {
                defs.entry(name.to_string()).or_default().insert(module.clone());
            }
        }
    }
    defs
}

/// The module a path reaches: its longest module prefix, or the one module under that
/// prefix that defines the name the path goes on with (a re-export's source).
fn resolve(
    path: &[String],
    mods: &BTreeMap<String, (String, String)>,
    defs: &BTreeMap<String, BTreeSet<String>>,
) -> Option<String> {
    let depth = (1..=path.len()).rev().find(|&n| mods.contains_key(&path[..n].join("::")))?;
    let module = path[..depth].join("::");
    let Some(name) = path.get(depth) else { return Some(module) };
    let prefix = format!("{module}::");
    let owners: Vec<&String> =
        defs.get(name).into_iter().flatten().filter(|m| **m == module || m.starts_with(&prefix)).collect();
    match owners.as_slice() {
        [only] => Some((*only).clone()),
        _ => Some(module),
    }
}

fn unit(module: &str) -> String {
    module.split("::").take(2).collect::<Vec<_>>().join("::")
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// The layers lib.rs states, lowest first: each line `//! N. [`a`], [`b`]: …` of its
/// "## Layers" section names the modules of layer N.
fn stated_layers(lib: &str) -> Vec<Vec<String>> {
    let mut layers = Vec::new();
    let mut inside = false;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else { continue };
        let doc = doc.trim();
        if doc.starts_with("## ") {
            inside = doc == "## Layers";
            continue;
        }
        let Some((number, rest)) = doc.split_once(". ") else { continue };
        if !inside || number.parse::<usize>().is_err() {
            continue;
        }
        let names = rest.split(':').next().unwrap_or("");
        let names: Vec<String> =
            names.split("[`").skip(1).filter_map(|s| s.split_once("`]").map(|(name, _)| name.to_string())).collect();
        layers.push(names);
    }
    layers
}

/// Every problem of the tree at `root`: upward imports, unplaced modules, cycles.
fn problems(root: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("src/lib.rs");
    let layers = stated_layers(&lib);
    let layer_of: BTreeMap<&str, usize> =
        layers.iter().enumerate().flat_map(|(n, names)| names.iter().map(move |m| (m.as_str(), n + 1))).collect();
    let mods = modules(&root.join("src"));
    let defs = definitions(&mods);
    let mut problems = Vec::new();
    for declared in lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';')) {
        if !layer_of.contains_key(declared) {
            problems.push(format!("module `{declared}` is in no layer of lib.rs's \"## Layers\""));
        }
    }
    let mut imports = Vec::new();
    for (module, (file, text)) in &mods {
        let here: Vec<String> = module.split("::").map(str::to_string).collect();
        for (n, line) in code_lines(text).iter().enumerate() {
            for path in paths_in(line, &here) {
                if let Some(to) = resolve(&path, &mods, &defs)
                    && unit(&to) != unit(module)
                {
                    imports.push(Import { file: file.clone(), line: n + 1, from: module.clone(), to });
                }
            }
        }
    }
    for i in &imports {
        let (from, to) = (top(&i.from), top(&i.to));
        if let (Some(&lf), Some(&lt)) = (layer_of.get(from), layer_of.get(to))
            && lt > lf
        {
            problems.push(format!(
                "{}.rs:{}: `{from}` (layer {lf}) uses `{}` (layer {lt}): an import that runs upward",
                i.file, i.line, i.to
            ));
        }
    }
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in &imports {
        edges.entry(unit(&i.from)).or_default().insert(unit(&i.to));
    }
    for cycle in cycles(&edges) {
        let one_module = cycle.iter().all(|u| top(u) == top(&cycle[0]));
        if cycle.len() > 2 || !one_module {
            problems.push(format!("an import cycle joins {}: {}", cycle.len(), cycle.join(" ↔ ")));
        }
    }
    problems
}

/// The strongly connected components of more than one unit (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w.as_str()]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w.as_str()) {
                    let low = self.low[v].min(self.index[w.as_str()]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_import_runs_upward_and_no_cycle_spans_more_than_an_actor_and_its_child() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = stated_layers(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap());
    assert!(layers.len() >= 5, "lib.rs states its layers under \"## Layers\" (found {layers:?})");
    let problems = problems(root);
    assert!(problems.is_empty(), "the layers of src/ are broken:\n  {}", problems.join("\n  "));
}

/// The checker itself: an upward import, a re-exported name and a three-unit cycle,
/// in a tree of its own.
#[test]
fn the_checker_sees_an_upward_import_and_a_cycle_and_charges_a_name_to_its_definer() {
    let dir = std::env::temp_dir().join(format!("aeon-layers-{}", uuid::Uuid::new_v4().simple()));
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "src/lib.rs",
        "//! ## Layers\n//!\n//! 1. [`low`]: values\n//! 2. [`high`]: users\n\npub mod high;\npub mod low;\n",
    );
    write("src/low/mod.rs", "mod kinds;\npub use kinds::Kind;\n");
    write("src/low/kinds.rs", "pub struct Kind;\n");
    write("src/high/mod.rs", "pub mod a;\npub mod b;\npub mod c;\nuse crate::low::Kind;\npub struct Top;\n");
    write("src/high/a.rs", "use super::b::B;\npub struct A;\n");
    write("src/high/b.rs", "use super::c::C;\npub struct B;\n");
    write("src/high/c.rs", "use crate::high::a::A; // a comment: crate::low::up::Nothing\npub struct C;\n");
    let clean = problems(&dir);
    assert_eq!(clean.len(), 1, "{clean:?}");
    assert!(clean[0].contains("high::a ↔ high::b ↔ high::c"), "{clean:?}");

    write("src/low/kinds.rs", "pub struct Kind;\nfn f() { let _ = crate::high::Top; }\n");
    let upward = problems(&dir);
    assert!(
        upward.iter().any(|p| p.starts_with("src/low/kinds.rs:2: `low` (layer 1) uses `high` (layer 2)")),
        "{upward:?}"
    );
    assert!(upward.iter().any(|p| p.ends_with("an import cycle joins 2: high ↔ low::kinds")), "{upward:?}");
    std::fs::remove_dir_all(&dir).ok();
}
