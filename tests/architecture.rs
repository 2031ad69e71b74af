//! The layering of docs/architecture.md, checked on the source text: each
//! folder imports only the layers below it, and the fast-changing crates
//! stay inside their one module.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its `#[cfg(test)]` module (tests may reach
/// sideways, e.g. a scenario test builds a SimNet) and without comments.
fn product_code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with("*"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn files_under(rel: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut files = Vec::new();
    if root.is_file() {
        files.push(root);
    } else {
        rust_files(&root, &mut files);
    }
    assert!(
        !files.is_empty(),
        "{rel}: no Rust files (moved? update this test)"
    );
    files
}

/// Every file under `rel` (a folder or a file) names none of `banned`.
fn never(rel: &str, banned: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for f in files_under(rel) {
        let code = product_code(&f);
        for b in banned {
            if code.contains(b) {
                found.push(format!(
                    "{} names {b}",
                    f.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap()
                        .display()
                ));
            }
        }
    }
    found
}

/// The names that mean "a face" from below.
const FACES: &[&str] = &["crate::cli", "crate::ocf", "crate::daemon"];

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let mut problems = Vec::new();
    let below_model = [
        "crate::net",
        "crate::ops",
        "crate::store",
        "crate::cluster",
        "crate::events",
        "crate::log",
    ];
    problems.extend(never("src/resource", &[&below_model[..], FACES].concat()));
    problems.extend(never("src/clock.rs", &[&below_model[..], FACES].concat()));
    problems.extend(never(
        "src/events",
        &[
            &["crate::net", "crate::ops", "crate::store", "crate::cluster"][..],
            FACES,
        ]
        .concat(),
    ));
    problems.extend(never(
        "src/store",
        &[&["crate::net", "crate::ops", "crate::cluster"][..], FACES].concat(),
    ));
    problems.extend(never(
        "src/net",
        &[&["crate::ops", "crate::cluster", "crate::store"][..], FACES].concat(),
    ));
    problems.extend(never("src/net/sim", &["crate::net::linux", "net::windows"]));
    problems.extend(never("src/cluster", &[&["crate::ops"][..], FACES].concat()));
    problems.extend(never(
        "src/ops",
        &[
            &["crate::net::linux", "crate::net::windows", "crate::log"][..],
            FACES,
        ]
        .concat(),
    ));
    problems.extend(never(
        "src/daemon/policy",
        &[
            "crate::net",
            "crate::store",
            "crate::ops",
            "crate::cluster",
            "std::fs",
            "std::net::TcpStream",
            "libc::",
        ],
    ));
    problems.extend(never(
        "src/daemon",
        &[
            "crate::net::linux",
            "crate::net::windows",
            "netlink",
            "LinuxKernel",
            "crate::cli",
            "crate::ocf",
        ],
    ));
    // The doctor's rules are pure: node facts in, findings out (gather.rs
    // is the one part that reads the kernel and the files).
    problems.extend(never(
        "src/doctor/rules",
        &[
            &[
                "crate::store",
                "crate::ops",
                "crate::cluster",
                "crate::net::linux",
                "crate::net::windows",
                "std::fs",
                "libc::",
            ][..],
            FACES,
        ]
        .concat(),
    ));
    problems.extend(never(
        "src/doctor",
        &[&["crate::net::linux", "crate::net::windows"][..], FACES].concat(),
    ));
    problems.extend(never(
        "src/sys",
        &[&["crate::ops", "crate::store", "crate::cluster"][..], FACES].concat(),
    ));
    problems.extend(never(
        "src/config.rs",
        &[&["crate::net", "crate::ops", "crate::store"][..], FACES].concat(),
    ));
    problems.extend(never(
        "src/ocf",
        &["crate::cli", "crate::net::linux", "crate::net::windows"],
    ));
    assert!(
        problems.is_empty(),
        "layering broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_netlink_crates_stay_in_one_module() {
    let mut problems = Vec::new();
    for f in files_under("src") {
        let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        if rel.starts_with("src/net/linux/netlink") {
            continue;
        }
        let code = product_code(&f);
        for c in ["netlink_packet_", "netlink_sys"] {
            if code.contains(c) {
                problems.push(format!("{} names {c}", rel.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn windows_sys_stays_in_one_module() {
    let mut owners = std::collections::BTreeSet::new();
    for f in files_under("src") {
        if product_code(&f).contains("windows_sys::") {
            let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            // The module is the folder (or file) right under src/…/windows.
            owners.insert(rel.parent().unwrap().to_path_buf());
        }
    }
    assert!(
        owners.len() <= 1,
        "windows_sys is named in several modules: {owners:?}"
    );
}

#[test]
fn the_product_library_does_not_export_the_lab() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for m in ["pub mod lab", "pub mod netns"] {
        assert!(!lib.contains(m), "src/lib.rs: {m}");
    }
}

#[test]
fn every_source_file_says_what_it_holds() {
    let mut missing = Vec::new();
    for f in files_under("src")
        .into_iter()
        .chain(files_under("crates/ipkit-lab/src"))
    {
        let text = fs::read_to_string(&f).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(f.display().to_string());
        }
    }
    assert!(missing.is_empty(), "no //! line: {missing:?}");
}
