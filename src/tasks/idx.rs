//! MNIST-format IDX files and the MNIST / Fashion-MNIST data sets built from them.
//!
//! An IDX file is a big-endian header, the magic number `0x0000_08TT` with `TT` the number of
//! dimensions (`0x0803`: unsigned bytes, 3 dimensions: images × rows × columns; `0x0801`:
//! unsigned bytes, 1 dimension: labels), one 32-bit size per dimension, then the data. Files may
//! be gzip-compressed (recognised by the gzip magic `1f 8b`, whatever the file name). Pixels are
//! scaled to [0, 1] as `byte / 255`. Every error names the file; nothing here panics on file
//! content.

use super::Dataset;
use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest decompressed file accepted (guards against a corrupt or hostile gzip stream).
const MAX_BYTES: u64 = 1 << 31;
/// Classes of MNIST and Fashion-MNIST.
pub const N_CLASSES: usize = 10;

/// Images of an IDX image file, pixels scaled to [0, 1], row-major (count × rows·cols).
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<f64>,
}

/// Reads an IDX image file (magic 0x00000803), raw or gzipped.
pub fn read_images(path: &Path) -> Result<Images> {
    let bytes = read_bytes(path)?;
    let (dims, data) = parse(&bytes, IMAGES_MAGIC, 3, "image", path)?;
    Ok(Images {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: data.iter().map(|&b| f64::from(b) / 255.0).collect(),
    })
}

/// Reads an IDX label file (magic 0x00000801), raw or gzipped.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_bytes(path)?;
    let (_, data) = parse(&bytes, LABELS_MAGIC, 1, "label", path)?;
    Ok(data.to_vec())
}

/// The whole file, decompressed when it starts with the gzip magic.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw =
        std::fs::read(path).with_context(|| format!("cannot read IDX file {}", path.display()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(&raw[..])
        .take(MAX_BYTES + 1)
        .read_to_end(&mut out)
        .with_context(|| {
            format!(
                "{}: not a valid gzip file (truncated or corrupt)",
                path.display()
            )
        })?;
    if out.len() as u64 > MAX_BYTES {
        bail!(
            "{}: decompresses to more than {MAX_BYTES} bytes",
            path.display()
        );
    }
    Ok(out)
}

/// Checks magic and sizes of an IDX file of unsigned bytes with `ndims` dimensions; returns
/// the dimensions and the data bytes.
fn parse<'a>(
    bytes: &'a [u8],
    magic: u32,
    ndims: usize,
    what: &str,
    path: &Path,
) -> Result<(Vec<usize>, &'a [u8])> {
    let header = 4 * (1 + ndims);
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < 4 {
        bail!(
            "{}: too short for an IDX {what} file ({} bytes)",
            path.display(),
            bytes.len()
        );
    }
    let found = word(0);
    if found != magic {
        bail!(
            "{}: not an IDX {what} file: magic number {found:#010x}, expected {magic:#010x}",
            path.display()
        );
    }
    if bytes.len() < header {
        bail!(
            "{}: truncated IDX header ({} of {header} bytes)",
            path.display(),
            bytes.len()
        );
    }
    let dims: Vec<usize> = (0..ndims).map(|d| word(4 + 4 * d) as usize).collect();
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n as u64 <= MAX_BYTES)
        .with_context(|| {
            format!(
                "{}: impossible sizes {dims:?} in the header",
                path.display()
            )
        })?;
    let have = bytes.len() - header;
    if have != want {
        bail!(
            "{}: the header promises {dims:?} = {want} bytes of data but the file holds {have}{}",
            path.display(),
            if have < want {
                " (truncated)"
            } else {
                " (trailing bytes)"
            }
        );
    }
    Ok((dims, &bytes[header..]))
}

/// Which IDX data set a task reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxSet {
    Mnist,
    FashionMnist,
}

impl IdxSet {
    fn how_to_get(self) -> &'static str {
        match self {
            IdxSet::Mnist => {
                "put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, \
                 t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz) into task.data_dir"
            }
            IdxSet::FashionMnist => {
                "install Debian's package dataset-fashion-mnist (apt-get install \
                 dataset-fashion-mnist, files in /usr/share/datasets/fashion-mnist/) or put the \
                 four Fashion-MNIST IDX files into task.data_dir"
            }
        }
    }
}

/// `dir/name`, or `dir/name.gz` when only that exists.
fn find(dir: &Path, name: &str, set: IdxSet) -> Result<PathBuf> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if raw.is_file() {
        return Ok(raw);
    }
    if gz.is_file() {
        return Ok(gz);
    }
    bail!(
        "missing data file {} (or {}): {}",
        raw.display(),
        gz.display(),
        set.how_to_get()
    )
}

/// Images and labels of one split as a classification set (targets `u_high` / `u_low`).
fn load_split(dir: &Path, prefix: &str, set: IdxSet, u_high: f64, u_low: f64) -> Result<Dataset> {
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"), set)?;
    let lab_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"), set)?;
    let images = read_images(&img_path)?;
    let labels = read_labels(&lab_path)?;
    if labels.len() != images.count {
        bail!(
            "{} holds {} labels but {} holds {} images",
            lab_path.display(),
            labels.len(),
            img_path.display(),
            images.count
        );
    }
    if let Some((i, l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= N_CLASSES)
    {
        bail!(
            "{}: label {l} of item {i} is not a class 0..{N_CLASSES}",
            lab_path.display()
        );
    }
    let n_in = images.rows * images.cols;
    let labels = labels.into_iter().map(usize::from).collect();
    Ok(Dataset::classification(
        n_in,
        images.pixels,
        labels,
        N_CLASSES,
        u_high,
        u_low,
    ))
}

/// Sizes of the splits of an IDX task; `None` takes everything available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Option<usize>,
    /// Taken from the end of the training file.
    pub val: usize,
    pub test: Option<usize>,
}

/// Loads MNIST or Fashion-MNIST from `dir`: validation = the last `split.val` items of the
/// training file, training = the first `split.train` of the items before them (all by default),
/// test = the first `split.test` items of the test file (all by default).
pub fn load(
    dir: &Path,
    set: IdxSet,
    split: Split,
    u_high: f64,
    u_low: f64,
) -> Result<(Dataset, Dataset, Dataset)> {
    let full = load_split(dir, "train", set, u_high, u_low)?;
    let n = full.len();
    if split.val >= n {
        bail!(
            "task.val_size ({}) must be smaller than the {n} training items",
            split.val
        );
    }
    let rest = n - split.val;
    let train_n = split.train.unwrap_or(rest);
    if train_n > rest {
        bail!(
            "task.train_size ({train_n}) + task.val_size ({}) exceed the {n} training items",
            split.val
        );
    }
    let train = full.select(&(0..train_n).collect::<Vec<_>>());
    let val = full.select(&(rest..n).collect::<Vec<_>>());
    let test_full = load_split(dir, "t10k", set, u_high, u_low)?;
    let test_n = split.test.unwrap_or(test_full.len());
    if test_n > test_full.len() {
        bail!(
            "task.test_size ({test_n}) exceeds the {} test items",
            test_full.len()
        );
    }
    let test = test_full.select(&(0..test_n).collect::<Vec<_>>());
    Ok((train, val, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// An IDX file of bytes with the given magic and dimensions.
    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend(data);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn msg<T: std::fmt::Debug>(r: Result<T>) -> String {
        format!("{:#}", r.unwrap_err())
    }

    #[test]
    fn raw_and_gzipped_files_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 2 * 3).map(|i| (i * 20) as u8).collect();
        let bytes = idx(IMAGES_MAGIC, &[2, 2, 3], &data);
        let (raw, zipped) = (dir.path().join("a"), dir.path().join("b.gz"));
        std::fs::write(&raw, &bytes).unwrap();
        std::fs::write(&zipped, gz(&bytes)).unwrap();
        let a = read_images(&raw).unwrap();
        assert_eq!((a.count, a.rows, a.cols), (2, 2, 3));
        assert_eq!(a.pixels[1], 20.0 / 255.0);
        assert_eq!(a.pixels[11], 220.0 / 255.0);
        assert_eq!(a, read_images(&zipped).unwrap());
        let labels = dir.path().join("l.gz");
        std::fs::write(&labels, gz(&idx(LABELS_MAGIC, &[3], &[7, 0, 9]))).unwrap();
        assert_eq!(read_labels(&labels).unwrap(), vec![7, 0, 9]);
    }

    #[test]
    fn malformed_files_are_named_and_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad-idx");
        let write = |b: &[u8]| std::fs::write(&path, b).unwrap();
        let missing = dir.path().join("nope");
        let e = msg(read_images(&missing));
        assert!(e.contains("nope") && e.contains("cannot read"), "{e}");
        write(&idx(LABELS_MAGIC, &[2], &[1, 2]));
        let e = msg(read_images(&path));
        assert!(e.contains("bad-idx") && e.contains("0x00000801") && e.contains("0x00000803"));
        write(&idx(IMAGES_MAGIC, &[2, 2, 2], &[0; 7]));
        let e = msg(read_images(&path));
        assert!(
            e.contains("bad-idx") && e.contains("truncated") && e.contains('7'),
            "{e}"
        );
        write(&idx(IMAGES_MAGIC, &[1, 2, 2], &[0; 5]));
        assert!(msg(read_images(&path)).contains("trailing"));
        write(&IMAGES_MAGIC.to_be_bytes()[..]);
        assert!(msg(read_images(&path)).contains("truncated IDX header"));
        write(&[0, 0]);
        assert!(msg(read_labels(&path)).contains("too short"));
        write(&idx(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[]));
        assert!(msg(read_images(&path)).contains("impossible sizes"));
        let mut z = gz(&idx(LABELS_MAGIC, &[100], &[1; 100]));
        z.truncate(z.len() / 2);
        write(&z);
        let e = msg(read_labels(&path));
        assert!(e.contains("bad-idx") && e.contains("gzip"), "{e}");
    }

    fn write_set(dir: &Path, n_train: usize, n_test: usize, gzipped: bool) {
        let put = |name: &str, bytes: Vec<u8>| {
            let (name, bytes) = match gzipped {
                true => (format!("{name}.gz"), gz(&bytes)),
                false => (name.to_string(), bytes),
            };
            std::fs::write(dir.join(name), bytes).unwrap();
        };
        for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
            let pixels: Vec<u8> = (0..n * 4).map(|i| (i % 256) as u8).collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
            put(
                &format!("{prefix}-images-idx3-ubyte"),
                idx(IMAGES_MAGIC, &[n as u32, 2, 2], &pixels),
            );
            put(
                &format!("{prefix}-labels-idx1-ubyte"),
                idx(LABELS_MAGIC, &[n as u32], &labels),
            );
        }
    }

    #[test]
    fn splits_take_validation_from_the_end_of_the_training_file() {
        for gzipped in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_set(dir.path(), 20, 8, gzipped);
            let split = Split {
                train: Some(5),
                val: 4,
                test: None,
            };
            let (train, val, test) = load(dir.path(), IdxSet::Mnist, split, 1.0, 0.1).unwrap();
            assert_eq!((train.len(), val.len(), test.len()), (5, 4, 8));
            assert_eq!(train.n_in, 4);
            assert_eq!(val.labels.as_ref().unwrap(), &vec![6, 7, 8, 9]);
            assert_eq!(val.x_row(0)[0], 64.0 / 255.0);
            assert_eq!(train.y_row(3)[3], 1.0);
            assert_eq!(train.y_row(3)[2], 0.1);
            let all = Split {
                train: None,
                val: 0,
                test: Some(3),
            };
            let (train, val, test) = load(dir.path(), IdxSet::Mnist, all, 1.0, 0.1).unwrap();
            assert_eq!((train.len(), val.len(), test.len()), (20, 0, 3));
        }
    }

    #[test]
    fn missing_files_bad_labels_and_oversized_splits_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let split = Split {
            train: None,
            val: 2,
            test: None,
        };
        let e = msg(load(dir.path(), IdxSet::FashionMnist, split, 1.0, 0.1));
        assert!(e.contains("train-images-idx3-ubyte") && e.contains("dataset-fashion-mnist"));
        write_set(dir.path(), 6, 3, false);
        let too_many = Split {
            train: Some(5),
            ..split
        };
        assert!(
            msg(load(dir.path(), IdxSet::Mnist, too_many, 1.0, 0.1)).contains("task.train_size")
        );
        let big_test = Split {
            test: Some(4),
            ..split
        };
        assert!(msg(load(dir.path(), IdxSet::Mnist, big_test, 1.0, 0.1)).contains("task.test_size"));
        let labels = dir.path().join("train-labels-idx1-ubyte");
        std::fs::write(&labels, idx(LABELS_MAGIC, &[6], &[0, 1, 2, 10, 3, 4])).unwrap();
        let e = msg(load(dir.path(), IdxSet::Mnist, split, 1.0, 0.1));
        assert!(
            e.contains("train-labels-idx1-ubyte") && e.contains("label 10"),
            "{e}"
        );
        std::fs::write(&labels, idx(LABELS_MAGIC, &[5], &[0; 5])).unwrap();
        let e = msg(load(dir.path(), IdxSet::Mnist, split, 1.0, 0.1));
        assert!(e.contains("5 labels") && e.contains("6 images"), "{e}");
    }
}
