//! Resource definitions: one TOML file per resource,
//! `<config_dir>/resources/<tag>.toml`, readable and editable by hand.

use std::fs;
use std::io;
use std::path::Path;

use super::{Store, StoreError, fs as files, write_atomic};
use crate::resource::{Definition, Tag};

impl Store {
    /// Every defined tag, sorted. Files that are not `<tag>.toml` with a
    /// valid tag are ignored (editor backups, temporary files).
    pub fn list_tags(&self) -> Result<Vec<Tag>, StoreError> {
        let dir = self.resources_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
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

    pub fn exists(&self, tag: &Tag) -> bool {
        self.definition_path(tag).exists()
    }

    pub fn load_definition(&self, tag: &Tag) -> Result<Definition, StoreError> {
        let path = self.definition_path(tag);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownTag(tag.to_string()));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let def: Definition = toml::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string().trim_end().to_owned(),
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

    /// Every definition. A broken file is an error naming it.
    pub fn load_all(&self) -> Result<Vec<Definition>, StoreError> {
        self.list_tags()?
            .iter()
            .map(|t| self.load_definition(t))
            .collect()
    }

    pub fn save_definition(&self, def: &Definition) -> Result<(), StoreError> {
        let path = self.definition_path(&def.tag);
        // A validated definition always encodes; should it not, the message
        // says so, rather than calling the (unwritten) file corrupt.
        let body = toml::to_string(def).map_err(|e| StoreError::Unwritable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# ipkit resource definition (see `man ipkit` / README, \"Configuration\").\n\
             # Edit by hand if you like; `ipkit show {}` checks it.\n{body}",
            def.tag
        );
        write_atomic(&path, text.as_bytes())
    }

    /// Create a new definition; refuses an existing tag.
    pub fn create_definition(&self, def: &Definition) -> Result<(), StoreError> {
        if self.exists(&def.tag) {
            return Err(StoreError::Exists(def.tag.to_string()));
        }
        self.save_definition(def)
    }

    pub fn delete_definition(&self, tag: &Tag) -> Result<(), StoreError> {
        let path = self.definition_path(tag);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownTag(tag.to_string()));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        files::sync_dir(dir).map_err(|e| StoreError::io(dir, e))?;
        let state = self.state_path(tag);
        match files::remove(&state) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&state, e)),
        }
    }
}
