//! Resource definitions: one TOML file per resource,
//! `<config_dir>/resources/<tag>.toml`, readable and editable by hand. A
//! message about a broken file names it, the line and the column, and
//! never quotes a line of it.

use std::fs;
use std::io;
use std::path::PathBuf;

use super::{FileKind, Store, StoreError, fs as files};
use crate::resource::{Definition, Tag};

/// What [`Store::load_all`] found.
#[derive(Debug, Default)]
pub struct Definitions {
    pub loaded: Vec<Definition>,
    /// One error per file that could not be read; each names its file.
    pub broken: Vec<StoreError>,
}

/// No definition is this large; a larger file is refused unread.
const MAX_DEFINITION_BYTES: u64 = 1 << 20;

impl Store {
    /// Every defined tag, sorted. Files that are not `<tag>.toml` with a
    /// valid tag are ignored (editor backups, temporary files).
    pub fn list_tags(&self) -> Result<Vec<Tag>, StoreError> {
        let dir = self.resources_dir();
        match files::check_own_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
        let entries = fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let mut tags = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(".toml") else {
                continue;
            };
            if let Ok(tag) = Tag::new(stem) {
                tags.push(tag);
            }
        }
        tags.sort();
        Ok(tags)
    }

    /// Whether a file (or a link, even a dangling one) holds `tag`'s name.
    pub fn exists(&self, tag: &Tag) -> bool {
        files::is_present(&self.definition_path(tag))
    }

    pub fn load_definition(&self, tag: &Tag) -> Result<Definition, StoreError> {
        let path = self.definition_path(tag);
        let bytes = match files::read_regular(&path, MAX_DEFINITION_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownTag(tag.to_string()));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        parse_definition(path, tag, bytes)
    }

    /// Every definition that can be read, and an error naming each file
    /// that cannot: one broken file never hides the others (issue 10).
    /// Fails only when the directory itself cannot be read.
    pub fn load_all(&self) -> Result<Definitions, StoreError> {
        let mut all = Definitions::default();
        for tag in self.list_tags()? {
            match self.load_definition(&tag) {
                Ok(def) => all.loaded.push(def),
                // Deleted since the listing: not there, not broken.
                Err(StoreError::UnknownTag(_)) => {}
                Err(e) => all.broken.push(e),
            }
        }
        Ok(all)
    }

    fn definition_text(&self, def: &Definition) -> Result<String, StoreError> {
        // A validated definition always encodes; should it not, the message
        // says so, rather than calling the (unwritten) file corrupt.
        let body = toml::to_string(def).map_err(|e| StoreError::Unwritable {
            path: self.definition_path(&def.tag),
            reason: e.to_string(),
        })?;
        Ok(format!(
            "# ipkit resource definition (see `man ipkit` / README, \"Configuration\").\n\
             # Edit by hand if you like; `ipkit show {}` checks it.\n{body}",
            def.tag
        ))
    }

    /// Write a definition, replacing the one of the same tag.
    pub fn save_definition(&self, def: &Definition) -> Result<(), StoreError> {
        let path = self.definition_path(&def.tag);
        let text = self.definition_text(def)?;
        let dir = self.resources_dir();
        files::own_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        files::replace(&path, text.as_bytes(), FileKind::Definition)
            .map_err(|e| StoreError::io(&path, e))
    }

    /// Create a new definition; refuses an existing tag (even a dangling
    /// link of that name). Reads no other definition (there is nothing to
    /// check them against).
    pub fn create_definition(&self, def: &Definition) -> Result<(), StoreError> {
        self.create_definitions(std::slice::from_ref(def))?
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Create several new definitions with one group commit under one
    /// taking of the definitions' lock (two syncs in all, `fs::create_all`),
    /// for whoever sets up many resources at once (issue 11: a bench of
    /// 10,000). Like [`Store::create_definition`], each refuses an existing
    /// tag (`Exists`), and a crash leaves each file absent or whole. One
    /// result per definition, in order; the error when the lock or the
    /// directory is not to be had.
    pub fn create_definitions(
        &self,
        defs: &[Definition],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let dir = self.resources_dir();
        let _lock = self.lock_definitions()?;
        files::own_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(defs.len());
        // The files to write, and which definition each is.
        let mut files = Vec::with_capacity(defs.len());
        let mut of = Vec::with_capacity(defs.len());
        for (i, def) in defs.iter().enumerate() {
            if self.exists(&def.tag) {
                results.push(Err(StoreError::Exists(def.tag.to_string())));
                continue;
            }
            match self.definition_text(def) {
                Ok(text) => {
                    files.push((self.definition_path(&def.tag), text.into_bytes()));
                    of.push(i);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let written = files::create_all(&files, FileKind::Definition);
        for ((r, (path, _)), i) in written.into_iter().zip(&files).zip(of) {
            results[i] = match r {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(StoreError::Exists(defs[i].tag.to_string()))
                }
                Err(e) => Err(StoreError::io(path, e)),
            };
        }
        Ok(results)
    }

    /// Create a new definition if `check`, given every other definition,
    /// agrees (e.g. no other one protects the same address). The checks
    /// and the write are one step under the definitions' lock, and the
    /// file is created exclusively: of concurrent creates of one tag or
    /// one address, exactly one wins (issue 10).
    pub fn create_definition_checked<E: From<StoreError>>(
        &self,
        def: &Definition,
        check: impl FnOnce(&Definitions) -> Result<(), E>,
    ) -> Result<(), E> {
        let path = self.definition_path(&def.tag);
        let text = self.definition_text(def)?;
        let _lock = self.lock_definitions()?;
        if self.exists(&def.tag) {
            return Err(StoreError::Exists(def.tag.to_string()).into());
        }
        check(&self.load_all()?)?;
        match files::create_new(&path, text.as_bytes(), FileKind::Definition) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StoreError::Exists(def.tag.to_string()).into())
            }
            Err(e) => Err(StoreError::io(&path, e).into()),
        }
    }

    pub fn delete_definition(&self, tag: &Tag) -> Result<(), StoreError> {
        let path = self.definition_path(tag);
        match files::remove(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownTag(tag.to_string()));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        let state = self.state_path(tag);
        match files::remove(&state) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&state, e)),
        }
    }
}

/// A TOML error as `line L, column C: what`, without the excerpt of the
/// file the parser's own rendering carries (the file may not be ours to
/// show: a definition that is really someone's secret).
fn toml_reason(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// The definition of `tag` in `bytes`, read from `path` (named in the
/// errors): UTF-8, TOML, its own tag, valid. The parser every definition
/// file goes through; public for the fuzzer (`fuzz/`).
#[doc(hidden)]
pub fn parse_definition(
    path: PathBuf,
    tag: &Tag,
    bytes: Vec<u8>,
) -> Result<Definition, StoreError> {
    let text = String::from_utf8(bytes).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    let def: Definition = toml::from_str(&text).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        reason: toml_reason(&text, &e),
    })?;
    if &def.tag != tag {
        return Err(StoreError::Corrupt {
            path,
            reason: format!(
                "the file says tag = {:?}, its name says {tag:?}",
                def.tag.as_str()
            ),
        });
    }
    def.validate().map_err(|e| StoreError::Corrupt {
        path,
        reason: e.to_string(),
    })?;
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{SECRET, def, tmp};
    use super::*;

    #[test]
    fn definitions_round_trip_and_create_refuses_an_existing_tag() {
        let (dir, store) = tmp();
        let d = def("vip");
        store.create_definition(&d).unwrap();
        assert!(matches!(
            store.create_definition(&d),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(store.load_definition(&d.tag).unwrap(), d);
        assert_eq!(store.list_tags().unwrap(), vec![d.tag.clone()]);
        store.delete_definition(&d.tag).unwrap();
        assert!(matches!(
            store.load_definition(&d.tag),
            Err(StoreError::UnknownTag(_))
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn several_definitions_are_created_with_one_group_commit() {
        let (dir, store) = tmp();
        store.create_definition(&def("vip2")).unwrap();
        let defs = [def("vip1"), def("vip2"), def("vip3"), def("vip1")];
        let results = store.create_definitions(&defs).unwrap();
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Exists(_))),
            "{results:?}"
        );
        assert!(results[2].is_ok(), "{results:?}");
        // The same tag twice in one batch: the second is refused.
        assert!(
            matches!(results[3], Err(StoreError::Exists(_))),
            "{results:?}"
        );
        for d in &defs[..3] {
            assert_eq!(store.load_definition(&d.tag).unwrap(), *d);
        }
        // Nothing but the definitions (and the lock) is left behind.
        let mut names: Vec<String> = fs::read_dir(store.resources_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".lock", "vip1.toml", "vip2.toml", "vip3.toml"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn of_concurrent_creates_of_one_address_exactly_one_wins() {
        let (dir, store) = tmp();
        let wins: usize = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..10)
                .map(|i| {
                    let store = &store;
                    scope.spawn(move || {
                        let d = def(&format!("vip{i}"));
                        store
                            .create_definition_checked(&d, |all| {
                                if all.loaded.iter().any(|o| o.address == d.address) {
                                    Err(StoreError::Exists(d.address.to_string()))
                                } else {
                                    Ok(())
                                }
                            })
                            .is_ok()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| usize::from(r.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
        assert_eq!(store.load_all().unwrap().loaded.len(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_files_name_the_file() {
        let (dir, store) = tmp();
        let d = def("vip");
        store.create_definition(&d).unwrap();
        fs::write(store.definition_path(&d.tag), "tag = [").unwrap();
        let e = store.load_definition(&d.tag).unwrap_err().to_string();
        assert!(e.contains("vip.toml") && e.contains("corrupt"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)] // makes a symbolic link
    #[test]
    fn a_symlinked_definition_is_refused_without_reading_it() {
        let (dir, store) = tmp();
        let tag = Tag::new("evil").unwrap();
        fs::create_dir_all(dir.join("etc/resources")).unwrap();
        let secret = dir.join("shadow");
        fs::write(&secret, format!("{SECRET}\n")).unwrap();
        std::os::unix::fs::symlink(&secret, store.definition_path(&tag)).unwrap();
        let e = store.load_definition(&tag).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("evil.toml") && text.contains("symbolic link"),
            "{text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
        assert!(store.exists(&tag), "a link is a file that is there");
        // A dangling link is there too: create refuses the tag.
        fs::remove_file(&secret).unwrap();
        assert!(store.exists(&tag));
        let mut d = def("evil");
        d.tag = tag;
        assert!(matches!(
            store.create_definition(&d),
            Err(StoreError::Exists(_))
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn messages_about_a_broken_definition_never_quote_it() {
        let (dir, store) = tmp();
        let d = def("vip");
        store.create_definition(&d).unwrap();
        fs::write(store.definition_path(&d.tag), format!("{SECRET}\n")).unwrap();
        let e = store.load_definition(&d.tag).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{text}");
        assert!(
            text.contains("vip.toml") && text.contains("line 1"),
            "{text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)] // makes a symbolic link
    #[test]
    fn load_all_keeps_the_good_and_names_the_broken() {
        let (dir, store) = tmp();
        store.create_definition(&def("good")).unwrap();
        let res = dir.join("etc/resources");
        fs::write(res.join("cut.toml"), "tag = \"cut\"\naddress = \"198.5").unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), res.join("gone.toml")).unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all.loaded, vec![def("good")]);
        let names: Vec<String> = all.broken.iter().map(|e| e.to_string()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].contains("cut.toml"), "{names:?}");
        assert!(names[1].contains("gone.toml"), "{names:?}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_definition_that_is_not_utf8_is_corrupt_not_an_io_error() {
        let (dir, store) = tmp();
        let d = def("vip");
        store.create_definition(&d).unwrap();
        fs::write(store.definition_path(&d.tag), b"tag = \"vip\"\n\xff\xfe").unwrap();
        let e = store.load_definition(&d.tag).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("UTF-8"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
