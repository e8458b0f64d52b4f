//! `ser fetch-ravdess`: download the RAVDESS speech archive, check it, unpack it atomically.
//!
//! Where the bytes live at each step, for a target folder `<dir>`:
//! 1. `<dir>.part/archive.zip.part` while downloading. A later run resumes it with an HTTP Range
//!    request from its current length; a server that ignores Range sends the whole file and the
//!    download starts over.
//! 2. The size and MD5 are checked. A mismatch deletes `<dir>.part` (resuming a corrupt file
//!    would only reproduce it) and nothing else is touched.
//! 3. The archive is extracted into `<dir>.part/unpacked`, which is renamed onto `<dir>` only once
//!    every file is written, then `<dir>.part` is removed.
//!
//! So `<dir>` either does not exist or holds the whole archive: a failure at any step leaves at
//! most the `.part` folder, which the next run reuses or replaces.

use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The RAVDESS audio-only speech archive (24 actors x 60 clips, 16-bit 48 kHz WAV). URL, size and
/// MD5 are the published figures from its Zenodo record 1188976
/// (<https://zenodo.org/records/1188976>). Licence: CC BY-NC-SA 4.0.
pub const RAVDESS_SPEECH_URL: &str = "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1";
pub const RAVDESS_SPEECH_SIZE: u64 = 208_468_073;
pub const RAVDESS_SPEECH_MD5: &str = "bc696df654c87fed845eb13823edef8a";

/// Connecting, or waiting for any single read, longer than this is a failed download (which a
/// later run resumes); there is no limit on the whole transfer.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(60);
/// A Range request answered 416 is retried once from the start: at most this many requests.
const MAX_REQUESTS: usize = 2;

/// What to download and how to know it arrived whole.
#[derive(Clone, Debug)]
pub struct Archive {
    pub url: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex digest.
    pub md5: String,
}

/// Why a fetch failed. Each message names the file, folder or URL involved.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The OS error is in the message, not chained, so `{:#}` prints it once.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("--md5 '{0}' is not 32 hexadecimal digits")]
    BadMd5(String),
    #[error("{url}: {reason}{}", resume_hint(*kept))]
    Network { url: String, reason: String, kept: u64 },
    #[error("{url}: the server answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{path}: holds {actual} bytes, expected {expected} (run again to resume the download)")]
    Incomplete { path: PathBuf, expected: u64, actual: u64 },
    #[error("{path}: {actual} bytes, expected {expected}; the download was deleted")]
    WrongSize { path: PathBuf, expected: u64, actual: u64 },
    #[error("{path}: MD5 {actual}, expected {expected}; the download was deleted")]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("{path}: not a usable zip archive ({reason}); the download was deleted")]
    Zip { path: PathBuf, reason: String },
}

/// Tells the user a partial download of `kept` bytes is waiting to be resumed.
fn resume_hint(kept: u64) -> String {
    if kept == 0 {
        String::new()
    } else {
        format!(" ({kept} bytes kept: run again to resume the download)")
    }
}

/// What a fetch did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The target folder already existed; nothing was downloaded.
    AlreadyPresent,
    /// The archive was downloaded (or finished) and its files unpacked into the target.
    Unpacked { files: usize },
}

/// Downloads `archive` and unpacks it into `dir` (see the module docs for the steps).
pub fn fetch(archive: &Archive, dir: &Path) -> Result<Fetched, FetchError> {
    if archive.md5.len() != 32 || !archive.md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::BadMd5(archive.md5.clone()));
    }
    if dir.exists() {
        return Ok(Fetched::AlreadyPresent);
    }
    // Without a trailing slash, so that `<dir>.part` is a sibling and not a child.
    let dir: &Path = &dir.components().collect::<PathBuf>();
    let work = sibling(dir, ".part");
    std::fs::create_dir_all(&work).map_err(io_at(&work))?;
    let part = work.join("archive.zip.part");
    download(archive, &part).inspect_err(|_| {
        // Nothing arrived (no connection, say): no partial download worth keeping.
        if std::fs::metadata(&part).map_or(true, |m| m.len() == 0) {
            discard(&work);
        }
    })?;
    // A wrong archive is deleted; an incomplete one or a disk error keeps it for the next run.
    let forget_wrong_archive = |e: &FetchError| {
        if matches!(e, FetchError::WrongSize { .. } | FetchError::Checksum { .. } | FetchError::Zip { .. }) {
            discard(&work);
        }
    };
    check_archive(archive, &part).inspect_err(forget_wrong_archive)?;
    let staging = work.join("unpacked");
    let files = unpack(&part, &staging, dir).inspect_err(|e| {
        forget_wrong_archive(e);
        discard(&staging);
    })?;
    discard(&work);
    Ok(Fetched::Unpacked { files })
}

/// `<dir><suffix>` beside `dir`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |error| FetchError::Io { path: path.to_path_buf(), error }
}

/// Removes a work folder; the error already being returned is the one worth reporting.
fn discard(folder: &Path) {
    let _ = std::fs::remove_dir_all(folder);
}

/// Brings `part` to the archive's full size, resuming from whatever it already holds.
fn download(archive: &Archive, part: &Path) -> Result<(), FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(NETWORK_TIMEOUT))
        .timeout_recv_response(Some(NETWORK_TIMEOUT))
        .timeout_per_read(Some(NETWORK_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let network =
        |reason: String| FetchError::Network { url: archive.url.clone(), reason, kept: std::fs::metadata(part).map_or(0, |m| m.len()) };
    for _ in 0..MAX_REQUESTS {
        let have = std::fs::metadata(part).map_or(0, |m| m.len());
        if have == archive.size {
            return Ok(());
        }
        // Longer than the archive can be: not a prefix of it, so start over.
        let have = if have > archive.size { 0 } else { have };
        let mut request = agent.get(&archive.url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = request.call().map_err(|e| network(e.to_string()))?;
        let resumed = match response.status().as_u16() {
            206 if have > 0 && content_range_start(&response) == Some(have) => true,
            200 => false,
            // The server cannot serve the rest of what we hold: drop it and ask for everything.
            416 if have > 0 => {
                std::fs::remove_file(part).map_err(io_at(part))?;
                continue;
            }
            status => return Err(FetchError::Status { url: archive.url.clone(), status }),
        };
        let file =
            std::fs::OpenOptions::new().create(true).write(true).append(resumed).truncate(!resumed).open(part).map_err(io_at(part))?;
        let bar = ProgressBar::new(archive.size).with_position(if resumed { have } else { 0 });
        bar.set_style(
            ProgressStyle::with_template("{bytes:>10}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let copied = copy_body(response.into_body().into_reader(), file, &bar);
        bar.finish_and_clear();
        return copied.map_err(|e| match e {
            Copy::Read(e) => network(e.to_string()),
            Copy::Write(error) => FetchError::Io { path: part.to_path_buf(), error },
        });
    }
    Err(network(format!("the server refused {MAX_REQUESTS} requests in a row")))
}

/// The first byte a 206 response holds, from `Content-Range: bytes FIRST-LAST/TOTAL`.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// Which side of a copy failed: reading is the network, writing is the disk.
enum Copy {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Appends the body to `file`, flushed and synced so that a resumed run trusts every byte it finds.
fn copy_body(mut body: impl Read, file: std::fs::File, bar: &ProgressBar) -> Result<(), Copy> {
    let mut out = BufWriter::new(file);
    let mut buffer = vec![0u8; 1 << 16];
    let result = loop {
        match body.read(&mut buffer) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = out.write_all(&buffer[..n]) {
                    break Err(Copy::Write(e));
                }
                bar.inc(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(Copy::Read(e)),
        }
    };
    // Keep what did arrive even when the network failed: that is what a resume starts from.
    let synced = out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
    result.and(synced.map_err(Copy::Write))
}

/// Checks the downloaded file's size and MD5.
fn check_archive(archive: &Archive, part: &Path) -> Result<(), FetchError> {
    let actual = std::fs::metadata(part).map_err(io_at(part))?.len();
    if actual < archive.size {
        return Err(FetchError::Incomplete { path: part.to_path_buf(), expected: archive.size, actual });
    }
    if actual > archive.size {
        return Err(FetchError::WrongSize { path: part.to_path_buf(), expected: archive.size, actual });
    }
    let mut file = std::fs::File::open(part).map_err(io_at(part))?;
    let mut hasher = Md5::new();
    std::io::copy(&mut file, &mut hasher).map_err(io_at(part))?;
    let digest = format!("{:x}", hasher.finalize());
    if digest != archive.md5.to_ascii_lowercase() {
        return Err(FetchError::Checksum { path: part.to_path_buf(), expected: archive.md5.to_ascii_lowercase(), actual: digest });
    }
    Ok(())
}

/// Extracts `zip_path` into `staging`, then renames `staging` onto `dir` (a sibling of the work
/// folder, so its parent exists); returns the file count.
fn unpack(zip_path: &Path, staging: &Path, dir: &Path) -> Result<usize, FetchError> {
    let zip_error = |e: zip::result::ZipError| FetchError::Zip { path: zip_path.to_path_buf(), reason: e.to_string() };
    // A leftover from a run that died while extracting.
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(io_at(staging))?;
    }
    let file = std::fs::File::open(zip_path).map_err(io_at(zip_path))?;
    let mut zip = zip::ZipArchive::new(file).map_err(zip_error)?;
    // `extract` refuses entries whose names would escape `staging` (absolute paths, `..`).
    zip.extract(staging).map_err(zip_error)?;
    let files = (0..zip.len()).filter(|&i| zip.by_index_raw(i).is_ok_and(|e| e.is_file())).count();
    std::fs::rename(staging, dir).map_err(io_at(dir))?;
    Ok(files)
}
