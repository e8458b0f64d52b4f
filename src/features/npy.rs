//! A 2-D float32 array as a `.npy` file (format v1.0): written by `ser features --out`, written
//! and read back by the feature cache.
//!
//! Layout: magic `\x93NUMPY`, version 1.0, a little-endian u16 header length, the header dict
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }` padded with spaces and a final
//! newline so the data starts on a 64-byte boundary, then R*C little-endian f32 in C order.

use std::io::{Error, ErrorKind};
use std::path::Path;

use ndarray::{Array2, ArrayView2};

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// Writes `data` (R, C) to `path` atomically (see [`crate::fsio::write_atomic`]).
pub fn write_npy_f32(path: &Path, data: ArrayView2<f32>) -> std::io::Result<()> {
    let (rows, cols) = data.dim();
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // 6 magic + 2 version + 2 length + dict + padding + '\n' == multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let header_len = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let header_len_u16 =
        u16::try_from(header_len).map_err(|_| Error::new(ErrorKind::InvalidInput, "npy header too long for v1.0"))?;
    let mut bytes = Vec::with_capacity(10 + header_len + 4 * data.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&header_len_u16.to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.resize(10 + header_len - 1, b' ');
    bytes.push(b'\n');
    // `iter` walks in logical (C) order whatever the memory layout.
    for &v in data.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::fsio::write_atomic(path, &bytes)
}

/// Reads a file written by [`write_npy_f32`] (v1.0, '<f4', C order, 2-D); anything else,
/// truncated or corrupt, is an `InvalidData` error.
pub fn read_npy_f32(path: &Path) -> std::io::Result<Array2<f32>> {
    let bytes = std::fs::read(path)?;
    let bad = |why: &str| Error::new(ErrorKind::InvalidData, format!("{}: {why}", path.display()));
    if bytes.len() < 10 || &bytes[..8] != MAGIC {
        return Err(bad("not a version 1.0 .npy file"));
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = bytes.get(10..10 + header_len).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(bad("not a C-order float32 array"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| bad("no shape in header"))?;
    let dims: Vec<usize> = shape.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.parse()).collect::<Result<_, _>>().map_err(|_| bad("bad shape"))?;
    let [rows, cols] = dims[..] else { return Err(bad("not a 2-D array")) };
    let data = &bytes[10 + header_len..];
    // A corrupt header's shape can be any size: compare without overflowing.
    if rows.checked_mul(cols).and_then(|n| n.checked_mul(4)) != Some(data.len()) {
        return Err(bad("data length does not match the shape"));
    }
    let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Array2::from_shape_vec((rows, cols), values).map_err(|_| bad("bad shape"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};
    use ndarray_npy::ReadNpyExt;

    #[test]
    fn ndarray_npy_reads_back_what_we_write() {
        let dir = std::env::temp_dir().join(format!("ser-npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = Array2::from_shape_fn((3, 5), |(i, j)| i as f32 * 10.0 + j as f32 - 0.5);
        // A Fortran-ordered copy must be written in C order too.
        let mut f = Array2::<f32>::zeros((3, 5).f());
        f.assign(&a);
        for (name, src) in [("c.npy", &a), ("f.npy", &f)] {
            let p = dir.join(name);
            write_npy_f32(&p, src.view()).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!(bytes.len(), 128 + 15 * 4, "header should pad to 64 bytes");
            let back = Array2::<f32>::read_npy(std::fs::File::open(&p).unwrap()).unwrap();
            assert_eq!(back, a);
            assert_eq!(read_npy_f32(&p).unwrap(), a);
        }
        // Truncated or foreign files are errors, never a wrong array.
        let p = dir.join("c.npy");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_npy_f32(&p).is_err());
        std::fs::write(&p, b"garbage").unwrap();
        assert!(read_npy_f32(&p).is_err());
        let empty = Array2::<f32>::zeros((162, 0));
        let p = dir.join("empty.npy");
        write_npy_f32(&p, empty.view()).unwrap();
        assert_eq!(Array2::<f32>::read_npy(std::fs::File::open(&p).unwrap()).unwrap().dim(), (162, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
