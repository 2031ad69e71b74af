//! Runtime state: `<state_dir>/state/<tag>.json`, written by the
//! operations under the resource's lock, read by anyone without it.

use std::io;

use super::{FileKind, Store, StoreError, fs as files};
use crate::resource::{RuntimeState, Tag};

/// No state file is this large; a larger file is refused unread.
const MAX_STATE_BYTES: u64 = 1 << 20;

impl Store {
    /// Runtime state; a resource that never ran has the default state.
    pub fn load_state(&self, tag: &Tag) -> Result<RuntimeState, StoreError> {
        let path = self.state_path(tag);
        match files::read_regular(&path, MAX_STATE_BYTES) {
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
        let dir = self.state_files_dir();
        files::own_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        files::replace(&path, &body, FileKind::State).map_err(|e| StoreError::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tmp;
    use super::*;
    use crate::resource::Operation;
    use std::fs;
    use std::time::SystemTime;

    #[test]
    fn state_round_trips() {
        let (dir, store) = tmp();
        let tag = Tag::new("vip").unwrap();
        let mut st = store.load_state(&tag).unwrap();
        assert_eq!(st, RuntimeState::default());
        st.in_service = true;
        st.record(Operation::Restore, true, Some(6001), SystemTime::UNIX_EPOCH);
        store.save_state(&tag, &st).unwrap();
        assert_eq!(store.load_state(&tag).unwrap(), st);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_state_file_is_named() {
        let (dir, store) = tmp();
        let tag = Tag::new("vip").unwrap();
        fs::create_dir_all(store.state_files_dir()).unwrap();
        fs::write(store.state_path(&tag), "{\"in_service\": tru").unwrap();
        let e = store.load_state(&tag).unwrap_err().to_string();
        assert!(e.contains("vip.json"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)] // makes a symbolic link
    #[test]
    fn a_symlinked_state_file_is_refused() {
        let (dir, store) = tmp();
        let tag = Tag::new("vip").unwrap();
        fs::create_dir_all(dir.join("var/state")).unwrap();
        let outside = dir.join("outside.json");
        fs::write(&outside, "{\"in_service\": true}").unwrap();
        std::os::unix::fs::symlink(&outside, store.state_path(&tag)).unwrap();
        let e = store.load_state(&tag).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }
}
