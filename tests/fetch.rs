//! `ser fetch-ravdess` against a tiny HTTP server on 127.0.0.1 that serves a small zip in
//! RAVDESS's layout: a whole download, a checksum mismatch, a download cut midway and resumed
//! with a Range request, and a server that ignores Range.

use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;
use common::temp_dir;

/// How the server answers one connection.
#[derive(Clone, Copy)]
enum Answer {
    /// 206 with the requested tail for `Range: bytes=N-`, else 200 with everything.
    HonourRange,
    /// 200 with everything, whatever the request asked.
    IgnoreRange,
    /// 200 announcing the whole length, then only this many bytes before closing the connection.
    CutAfter(usize),
}

/// A server that answers one connection per entry of `answers`, in order, then stops; it records
/// each request's Range start (None without one).
struct Server {
    url: String,
    ranges: Arc<Mutex<Vec<Option<u64>>>>,
    thread: JoinHandle<()>,
}

/// Give up on a client that never comes after this long (a test bug, not a hang).
const SERVER_PATIENCE: Duration = Duration::from_secs(60);

fn serve(body: Vec<u8>, answers: Vec<Answer>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/Audio_Speech_Actors_01-24.zip", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ranges);
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        let mut answers = answers.into_iter();
        let mut next = answers.next();
        while let Some(answer) = next {
            if start.elapsed() > SERVER_PATIENCE {
                return;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    let range = answer_one(stream, &body, answer);
                    seen.lock().unwrap().push(range);
                    next = answers.next();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("accept: {e}"),
            }
        }
    });
    Server { url, ranges, thread }
}

/// Reads one request's head and answers it; returns the Range start it asked for.
fn answer_one(mut stream: TcpStream, body: &[u8], answer: Answer) -> Option<u64> {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let range: Option<u64> =
        head.lines().find_map(|l| l.strip_prefix("range: bytes=")).and_then(|r| r.trim().trim_end_matches('-').parse().ok());
    let (status, first, sent) = match (answer, range) {
        (Answer::HonourRange, Some(from)) if (from as usize) < body.len() => ("206 Partial Content", from as usize, body.len()),
        (Answer::CutAfter(n), _) => ("200 OK", 0, n),
        _ => ("200 OK", 0, body.len()),
    };
    let mut response = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len() - first);
    if first > 0 {
        response += &format!("Content-Range: bytes {first}-{}/{}\r\n", body.len() - 1, body.len());
    }
    response += "\r\n";
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(&body[first..sent]);
    let _ = stream.flush();
    range
}

impl Server {
    /// Waits for the server to finish its answers and returns the requests' Range starts.
    fn finish(self) -> Vec<Option<u64>> {
        self.thread.join().unwrap();
        Arc::try_unwrap(self.ranges).unwrap().into_inner().unwrap()
    }
}

/// The files of the test archive: (path in the zip, bytes).
fn archive_files() -> Vec<(String, Vec<u8>)> {
    (1..=3u8)
        .map(|emotion| {
            let name = format!("Actor_01/03-01-0{emotion}-01-01-01-01.wav");
            // Content only needs to be distinct and a few kB, so that a cut lands midway.
            let bytes = (0..4000u32).map(|i| (i.wrapping_mul(31 + emotion as u32) >> 3) as u8).collect();
            (name, bytes)
        })
        .collect()
}

fn make_zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

fn fetch(target: &Path, url: &str, md5: &str, size: usize) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["fetch-ravdess", "--dir"])
        .arg(target)
        .args(["--url", url, "--md5", md5, "--size", &size.to_string()])
        .output()
        .unwrap()
}

fn assert_unpacked(target: &Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        assert_eq!(&std::fs::read(target.join(name)).unwrap(), bytes, "{name}");
    }
    assert!(!work_folder(target).exists(), "the .part folder should be gone after success");
}

fn work_folder(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn downloads_checks_and_unpacks_then_leaves_an_existing_folder_alone() {
    let files = archive_files();
    let zip = make_zip(&files);
    let dir = temp_dir("whole");
    let target = dir.join("data/ravdess");
    let server = serve(zip.clone(), vec![Answer::HonourRange]);
    let out = fetch(&target, &server.url, &md5_hex(&zip), zip.len());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unpacked 3 files"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_unpacked(&target, &files);
    assert_eq!(server.finish(), vec![None]);

    // A second run finds the folder and makes no request (nothing listens any more).
    let out = fetch(&target, "http://127.0.0.1:9/unused", &md5_hex(&zip), zip.len());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already exists"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checksum_mismatch_is_an_error_and_leaves_nothing() {
    let zip = make_zip(&archive_files());
    let dir = temp_dir("md5");
    let target = dir.join("ravdess");
    let server = serve(zip.clone(), vec![Answer::HonourRange]);
    let wrong = "0123456789abcdef0123456789abcdef";
    let out = fetch(&target, &server.url, wrong, zip.len());
    server.finish();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("archive.zip.part") && err.contains(&format!("expected {wrong}")) && err.contains(&md5_hex(&zip)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!target.exists() && !work_folder(&target).exists(), "nothing may be left behind");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    let out = fetch(&target, "http://127.0.0.1:9/unused", "not-a-digest", zip.len());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--md5 'not-a-digest' is not 32 hexadecimal digits"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let files = archive_files();
    let zip = make_zip(&files);
    let half = zip.len() / 2;
    let dir = temp_dir("resume");
    let target = dir.join("ravdess");
    let server = serve(zip.clone(), vec![Answer::CutAfter(half), Answer::HonourRange]);

    let out = fetch(&target, &server.url, &md5_hex(&zip), zip.len());
    assert!(!out.status.success(), "a cut connection must fail");
    let err = stderr(&out);
    assert!(err.contains(&server.url) && err.contains("run again to resume"), "{err}");
    assert!(!target.exists());
    let part = work_folder(&target).join("archive.zip.part");
    assert_eq!(std::fs::read(&part).unwrap(), zip[..half], "what arrived is kept for the resume");

    let out = fetch(&target, &server.url, &md5_hex(&zip), zip.len());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_unpacked(&target, &files);
    assert_eq!(server.finish(), vec![None, Some(half as u64)]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_that_ignores_range_gets_a_fresh_download() {
    let files = archive_files();
    let zip = make_zip(&files);
    let dir = temp_dir("norange");
    let target = dir.join("ravdess");
    // Given with a trailing slash: the work folder must still be the sibling `ravdess.part`.
    let target_with_slash = PathBuf::from(format!("{}/", target.display()));
    let server = serve(zip.clone(), vec![Answer::CutAfter(1000), Answer::IgnoreRange]);
    assert!(!fetch(&target_with_slash, &server.url, &md5_hex(&zip), zip.len()).status.success());
    assert!(work_folder(&target).join("archive.zip.part").is_file() && !target.exists());
    let out = fetch(&target_with_slash, &server.url, &md5_hex(&zip), zip.len());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_unpacked(&target, &files);
    assert_eq!(server.finish(), vec![None, Some(1000)]);
    std::fs::remove_dir_all(&dir).unwrap();
}
