//! Writing a 2-D float32 array as a `.npy` file (format v1.0), for `ser features --out`.
//!
//! Layout: magic `\x93NUMPY`, version 1.0, a little-endian u16 header length, the header dict
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }` padded with spaces and a final
//! newline so the data starts on a 64-byte boundary, then R*C little-endian f32 in C order.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ndarray::ArrayView2;

/// Writes `data` (R, C) to `path` atomically: to a temporary file in the same directory, then
/// renamed over `path`, so a reader never sees a half-written file.
pub fn write_npy_f32(path: &Path, data: ArrayView2<f32>) -> std::io::Result<()> {
    let (rows, cols) = data.dim();
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // 6 magic + 2 version + 2 length + dict + padding + '\n' == multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let header_len = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let header_len_u16 = u16::try_from(header_len)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "npy header too long for v1.0"))?;

    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{}: not a file path", path.display()))
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);

    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        w.write_all(b"\x93NUMPY\x01\x00")?;
        w.write_all(&header_len_u16.to_le_bytes())?;
        w.write_all(dict.as_bytes())?;
        w.write_all(&vec![b' '; header_len - dict.len() - 1])?;
        w.write_all(b"\n")?;
        // `iter` walks in logical (C) order whatever the memory layout.
        for &v in data.iter() {
            w.write_all(&v.to_le_bytes())?;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
            let back = Array2::<f32>::read_npy(File::open(&p).unwrap()).unwrap();
            assert_eq!(back, a);
        }
        let empty = Array2::<f32>::zeros((162, 0));
        let p = dir.join("empty.npy");
        write_npy_f32(&p, empty.view()).unwrap();
        assert_eq!(Array2::<f32>::read_npy(File::open(&p).unwrap()).unwrap().dim(), (162, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
