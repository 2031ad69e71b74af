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
        let mut results = self.save_states(&[(tag, state)]);
        results.pop().unwrap_or(Ok(()))
    }

    /// Save several states with one group commit (two syncs in all, see
    /// `fs_unix::replace_all`): the daemon's batch of recoveries (issue 11).
    /// One result per state, in order.
    pub fn save_states(&self, states: &[(&Tag, &RuntimeState)]) -> Vec<Result<(), StoreError>> {
        let dir = self.state_files_dir();
        if let Err(e) = files::own_dir(&dir) {
            let text = e.to_string();
            return states
                .iter()
                .map(|_| Err(StoreError::io(&dir, io::Error::new(e.kind(), text.clone()))))
                .collect();
        }
        let mut files = Vec::with_capacity(states.len());
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(states.len());
        for (tag, state) in states {
            let path = self.state_path(tag);
            match serde_json::to_vec_pretty(state) {
                Ok(mut body) => {
                    body.push(b'\n');
                    files.push((path, body));
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(StoreError::Unwritable {
                    path,
                    reason: e.to_string(),
                })),
            }
        }
        let mut written = files::replace_all(&files, FileKind::State)
            .into_iter()
            .zip(&files)
            .map(|(r, (path, _))| r.map_err(|e| StoreError::io(path, e)));
        for result in results.iter_mut().filter(|r| r.is_ok()) {
            *result = written.next().unwrap_or(Ok(()));
        }
        results
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
    fn several_states_are_saved_with_one_group_commit() {
        let (dir, store) = tmp();
        let tags: Vec<Tag> = (1..=3)
            .map(|i| Tag::new(&format!("vip{i}")).unwrap())
            .collect();
        store
            .save_state(&tags[0], &RuntimeState::default())
            .unwrap();
        let states: Vec<RuntimeState> = (0..3)
            .map(|i| RuntimeState {
                in_service: i != 1,
                ..RuntimeState::default()
            })
            .collect();
        let batch: Vec<(&Tag, &RuntimeState)> = tags.iter().zip(&states).collect();
        let results = store.save_states(&batch);
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        for (tag, state) in &batch {
            assert_eq!(&store.load_state(tag).unwrap(), *state);
        }
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(store.state_files_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
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
