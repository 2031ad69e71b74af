//! Runtime state: `<state_dir>/state/<tag>.json`, written by the
//! operations under the resource's lock, read by anyone without it.

use std::fs;
use std::io;

use super::{Store, StoreError, write_atomic};
use crate::resource::{RuntimeState, Tag};

impl Store {
    /// Runtime state; a resource that never ran has the default state.
    pub fn load_state(&self, tag: &Tag) -> Result<RuntimeState, StoreError> {
        let path = self.state_path(tag);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RuntimeState::default()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    pub fn save_state(&self, tag: &Tag, state: &RuntimeState) -> Result<(), StoreError> {
        let path = self.state_path(tag);
        let mut body = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Unwritable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        body.push(b'\n');
        write_atomic(&path, &body)
    }
}
