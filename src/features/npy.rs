//! A 2-D float32 array as a `.npy` file (written and read by `ndarray-npy`): written by
//! `ser features --out`, written and read back by the feature cache.

use std::io::{Error, ErrorKind};
use std::path::Path;

use ndarray::{Array2, ArrayView2};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

/// Writes `data` (R, C) to `path` as '<f4' in C order, atomically (see
/// [`crate::fsio::write_atomic`]).
pub fn write_npy_f32(path: &Path, data: ArrayView2<f32>) -> std::io::Result<()> {
    // ndarray-npy writes a Fortran-ordered array as such: keep every file in C order.
    let data = data.as_standard_layout();
    let mut bytes = Vec::with_capacity(128 + 4 * data.len());
    data.write_npy(&mut bytes).map_err(Error::other)?;
    crate::fsio::write_atomic(path, &bytes)
}

/// Reads a 2-D float32 `.npy` file; anything else, truncated or corrupt, is an `InvalidData` error.
pub fn read_npy_f32(path: &Path) -> std::io::Result<Array2<f32>> {
    let bytes = std::fs::read(path)?;
    let bad = |why: String| Error::new(ErrorKind::InvalidData, format!("{}: {why}", path.display()));
    // Training reads cache entries back for every batch, and ndarray-npy's general header parser
    // takes three times as long as reading the file: the header `write_npy_f32` writes is read here.
    if let Some((shape, data)) = own_header(&bytes) {
        if shape.0.checked_mul(shape.1).and_then(|n| n.checked_mul(4)) != Some(data.len()) {
            return Err(bad("data length does not match the shape".into()));
        }
        let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        return Array2::from_shape_vec(shape, values).map_err(|e| bad(e.to_string()));
    }
    // A corrupt header's shape can claim any size, and `read_npy` allocates what it claims before
    // reading: check the claim against the file first.
    let mut rest = &bytes[..];
    let header = Header::from_reader(&mut rest).map_err(|e| bad(e.to_string()))?;
    let claimed = header.shape.iter().try_fold(4usize, |n, &d| n.checked_mul(d));
    if claimed != Some(rest.len()) {
        return Err(bad("data length does not match the shape".into()));
    }
    Array2::<f32>::read_npy(&bytes[..]).map_err(|e| bad(e.to_string()))
}

/// The shape and data of a file whose header is exactly what [`write_npy_f32`] writes (format 1.0,
/// '<f4', C order, two dimensions); None for any other, which the general parser reads.
fn own_header(bytes: &[u8]) -> Option<((usize, usize), &[u8])> {
    let rest = bytes.strip_prefix(b"\x93NUMPY\x01\x00")?;
    let (len, rest) = rest.split_at_checked(2)?;
    let (dict, data) = rest.split_at_checked(u16::from_le_bytes([len[0], len[1]]) as usize)?;
    let dict = std::str::from_utf8(dict).ok()?.strip_prefix("{'descr': '<f4', 'fortran_order': False, 'shape': (")?;
    let (shape, tail) = dict.split_once(')')?;
    if !matches!(tail.trim_end_matches([' ', '\n']), "}" | ", }") {
        return None;
    }
    let (rows, cols) = shape.split_once(", ")?;
    Some(((rows.parse().ok()?, cols.parse().ok()?), data))
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
            // Version 1.0, then the dict: C order float32 whatever the memory layout.
            let header = b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5)";
            assert_eq!(&bytes[..header.len()], header, "{:?}", String::from_utf8_lossy(&bytes[..128]));
            assert_eq!(bytes[127], b'\n');
            let back = Array2::<f32>::read_npy(std::fs::File::open(&p).unwrap()).unwrap();
            assert_eq!(back, a);
            assert_eq!(read_npy_f32(&p).unwrap(), a);
            assert!(own_header(&bytes).is_some(), "read without the general parser");
        }
        // Truncated or foreign files are errors, never a wrong array.
        let p = dir.join("c.npy");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_npy_f32(&p).is_err());
        std::fs::write(&p, b"garbage").unwrap();
        assert!(read_npy_f32(&p).is_err());
        // A shape far larger than the file is refused before anything is allocated for it.
        let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 8), }\n";
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        huge.extend((dict.len() as u16).to_le_bytes());
        huge.extend(dict);
        huge.extend([0u8; 32]);
        std::fs::write(&p, huge).unwrap();
        assert_eq!(read_npy_f32(&p).unwrap_err().kind(), ErrorKind::InvalidData);
        // Other element types are refused, not reinterpreted.
        let ints = ndarray::Array2::<i32>::zeros((2, 2));
        let mut bytes = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&ints, &mut bytes).unwrap();
        std::fs::write(&p, bytes).unwrap();
        assert!(read_npy_f32(&p).is_err());
        let empty = Array2::<f32>::zeros((162, 0));
        let p = dir.join("empty.npy");
        write_npy_f32(&p, empty.view()).unwrap();
        assert_eq!(Array2::<f32>::read_npy(std::fs::File::open(&p).unwrap()).unwrap().dim(), (162, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
