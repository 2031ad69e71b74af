//! The man pages: ipkit(1) and one per command (clap), ipkit.toml(5), ocf_ipkit_vip(7).
//!
//! `ipkit man --out-dir DIR` writes a man tree: `DIR/man1/ipkit.1`,
//! `DIR/man1/ipkit-restore.1`, ..., `DIR/man5/ipkit.toml.5` (hand-written,
//! `contrib/man/ipkit.toml.5`) and `DIR/man7/ocf_ipkit_vip.7` (generated
//! from the agent's parameter table, [`super::agent_page`]).

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::Cli;

/// ipkit.toml(5), the daemon's configuration file (its source is kept
/// next to the sample `contrib/ipkit.toml`).
pub const CONFIG_PAGE: &str = include_str!("../../contrib/man/ipkit.toml.5");

/// ipkit(1) on its own (what `ipkit man` prints).
pub fn main_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// Write every page under `root` (`root/man1`, `root/man5`, `root/man7`);
/// returns the files written.
pub fn write_tree(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let section = |n: u8| -> std::io::Result<PathBuf> {
        let dir = root.join(format!("man{n}"));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    };
    let man1 = section(1)?;
    clap_mangen::generate_to(Cli::command(), &man1)?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(&man1)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    written.sort();
    let config = section(5)?.join("ipkit.toml.5");
    std::fs::write(&config, CONFIG_PAGE)?;
    written.push(config);
    let agent = section(7)?.join("ocf_ipkit_vip.7");
    std::fs::write(&agent, super::agent_page::render())?;
    written.push(agent);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_has_every_command_and_both_extra_pages() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_tree(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        for want in [
            "man1/ipkit.1",
            "man1/ipkit-restore.1",
            "man1/ipkit-quickcheck.1",
            "man1/ipkit-daemon.1",
            "man1/ipkit-doctor.1",
            "man5/ipkit.toml.5",
            "man7/ocf_ipkit_vip.7",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        // One page per visible command, and the top-level page.
        let commands = Cli::command()
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .count();
        let section1 = names.iter().filter(|n| n.starts_with("man1/")).count();
        assert_eq!(section1, commands + 1, "{names:?}");
    }

    use crate::config::Config;

    const SAMPLE: &str = include_str!("../../contrib/ipkit.toml");

    /// What ipkit.toml(5) says of one key.
    #[derive(Debug)]
    struct DocumentedKey {
        section: &'static str,
        key: String,
        /// None: "Default: none", or a required key.
        default: Option<String>,
    }

    /// The two tables of the file, with a minimal valid body for each.
    const SECTIONS: [(&str, &str); 2] = [
        ("daemon", "[daemon]\n"),
        ("peer", "[[peer]]\nname = \"n\"\nurl = \"http://h:1\"\n"),
    ];

    fn de_roff(s: &str) -> String {
        s.replace("\\(dq", "\"").replace("\\-", "-")
    }

    /// The keys of ipkit.toml(5): every `.TP` item under `.SH "[daemon]"`
    /// and `.SH "[[peer]]"`, with the default its text states.
    fn documented_keys() -> Vec<DocumentedKey> {
        let lines: Vec<&str> = CONFIG_PAGE.lines().collect();
        let mut section = None;
        let mut out: Vec<DocumentedKey> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if let Some(title) = line.strip_prefix(".SH ") {
                section = match title {
                    "\"[daemon]\"" => Some("daemon"),
                    "\"[[peer]]\"" => Some("peer"),
                    _ => None,
                };
            } else if *line == ".TP"
                && let Some(section) = section
            {
                let item = lines[i + 1].strip_prefix(".BR ").expect(lines[i + 1]);
                let (key, kind) = item.split_once(' ').expect(item);
                let mut default = None;
                if !kind.contains("required") {
                    let body = lines[i + 2..]
                        .iter()
                        .position(|l| *l == ".TP" || l.starts_with(".SH "))
                        .map_or(&lines[i + 2..], |end| &lines[i + 2..i + 2 + end]);
                    let at = body
                        .iter()
                        .position(|l| l.starts_with("Default:"))
                        .unwrap_or_else(|| panic!("{key}: no \"Default:\" line"));
                    let stated = body[at].trim_start_matches("Default:").trim();
                    default = match stated {
                        "none." => None,
                        "" => {
                            let value = body[at + 1].strip_prefix(".BR ").expect(body[at + 1]);
                            Some(de_roff(value.trim_end_matches(" .")))
                        }
                        other => panic!("{key}: unreadable default {other:?}"),
                    };
                }
                out.push(DocumentedKey {
                    section,
                    key: key.to_owned(),
                    default,
                });
            }
        }
        out
    }

    /// The keys the daemon's parser accepts in a table, read from its
    /// refusal of an unknown one ("unknown field `x`, expected one of
    /// `a`, `b`, ...").
    fn parser_keys(body: &str) -> Vec<String> {
        let err = Config::parse(&format!("{body}zz_not_a_key = 1\n")).unwrap_err();
        let (_, expected) = err.split_once("expected").expect(&err);
        let keys: Vec<String> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert!(!keys.is_empty(), "{err}");
        keys
    }

    /// `#key = value` lines of the sample, by section.
    fn sample_keys() -> Vec<(&'static str, String, String)> {
        let mut section = "";
        let mut out = Vec::new();
        for line in SAMPLE.lines() {
            match line {
                "[daemon]" => section = "daemon",
                "#[[peer]]" => section = "peer",
                _ => {
                    if let Some((key, value)) =
                        line.strip_prefix('#').and_then(|l| l.split_once(" = "))
                    {
                        out.push((section, key.to_owned(), value.to_owned()));
                    }
                }
            }
        }
        out
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn the_config_page_lists_exactly_the_keys_the_parser_accepts() {
        let documented = documented_keys();
        for (section, body) in SECTIONS {
            let page: Vec<String> = documented
                .iter()
                .filter(|d| d.section == section)
                .map(|d| d.key.clone())
                .collect();
            assert_eq!(
                sorted(page),
                sorted(parser_keys(body)),
                "[{section}]: ipkit.toml(5) against the parser"
            );
        }
    }

    #[test]
    fn the_config_page_states_the_parser_defaults() {
        for d in documented_keys() {
            let Some(default) = &d.default else { continue };
            let (_, body) = SECTIONS.iter().find(|(s, _)| *s == d.section).unwrap();
            let with = Config::parse(&format!("{body}{} = {default}\n", d.key))
                .unwrap_or_else(|e| panic!("{} = {default}: {e}", d.key));
            assert_eq!(with, Config::parse(body).unwrap(), "{} = {default}", d.key);
        }
    }

    #[test]
    fn the_sample_has_every_key_commented_with_the_documented_default() {
        assert_eq!(Config::parse(SAMPLE).unwrap(), Config::default());
        let sample = sample_keys();
        for (section, body) in SECTIONS {
            let keys: Vec<String> = sample
                .iter()
                .filter(|(s, _, _)| *s == section)
                .map(|(_, k, _)| k.clone())
                .collect();
            assert_eq!(
                sorted(keys),
                sorted(parser_keys(body)),
                "[{section}] of the sample"
            );
        }
        for d in documented_keys() {
            if let Some(default) = d.default {
                let (_, _, value) = sample
                    .iter()
                    .find(|(s, k, _)| *s == d.section && *k == d.key)
                    .unwrap();
                assert_eq!(*value, default, "{} in the sample", d.key);
            }
        }
    }
}
