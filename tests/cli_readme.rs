//! The README's reference tables are generated from the code and must stay
//! in step with it: the event catalog (SPEC §3 and the 7xxx extension) with
//! each entry's journal MESSAGE_ID, and the configuration reference.
//!
//! To regenerate the rows: `IPKIT_PRINT_TABLES=1 cargo test --test cli_readme -- --nocapture`.

use ipkit::events::{CATALOG, EXTRA_CATALOG};
use ipkit::log::message_id;
use ipkit::resource::Tunables;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable")
}

fn catalog_rows() -> Vec<String> {
    CATALOG
        .iter()
        .chain(EXTRA_CATALOG.iter())
        .map(|(n, sev, text)| {
            format!(
                "| {n} | {} | `{text}` | `{}` |",
                sev.as_str(),
                message_id(*n, *sev)
            )
        })
        .collect()
}

fn tunable_rows() -> Vec<String> {
    // The TOML keys and defaults, read from Tunables' own serialization so
    // a renamed key or a changed default breaks this test.
    let t = toml::to_string(&Tunables::default()).expect("tunables serialize");
    t.lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| format!("| `{k}` | `{v}` |"))
        .collect()
}

#[test]
fn readme_has_every_catalog_row_with_its_message_id() {
    let rows = catalog_rows();
    if std::env::var_os("IPKIT_PRINT_TABLES").is_some() {
        println!("{}", rows.join("\n"));
    }
    let text = readme();
    assert_eq!(rows.len(), CATALOG.len() + EXTRA_CATALOG.len());
    for row in rows {
        assert!(
            text.contains(&row),
            "README.md lacks the catalog row\n{row}"
        );
    }
}

#[test]
fn readme_has_every_tunable_with_its_default() {
    let rows = tunable_rows();
    if std::env::var_os("IPKIT_PRINT_TABLES").is_some() {
        println!("{}", rows.join("\n"));
    }
    assert!(rows.len() >= 11, "{rows:?}");
    let text = readme();
    for row in rows {
        assert!(
            text.contains(&row),
            "README.md lacks the tunable row starting\n{row}"
        );
    }
}

#[test]
fn readme_documents_every_exit_status() {
    let text = readme();
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |"] {
        assert!(text.contains(code), "README.md lacks exit status {code}");
    }
}
