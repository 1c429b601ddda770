//! Writing an AccessKey as a mounted Secret lays it out, for clients under test that read
//! their key from a credentials directory.

use std::path::Path;
use std::time::SystemTime;

use eip_cloud::credentials::{FILE_ACCESS_KEY_ID, FILE_ACCESS_KEY_SECRET};

/// Writes `id` and `secret` into `dir` under the file names
/// [`eip_cloud::credentials::FileCredentials`] reads, each with modification time `mtime`
/// (kubelet swaps the files on rotation, and the reader re-reads on a changed time).
pub fn write_credentials_dir(
    dir: &Path,
    id: &str,
    secret: &str,
    mtime: SystemTime,
) -> std::io::Result<()> {
    for (name, value) in [(FILE_ACCESS_KEY_ID, id), (FILE_ACCESS_KEY_SECRET, secret)] {
        let path = dir.join(name);
        std::fs::write(&path, value)?;
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(mtime)?;
    }
    Ok(())
}
