//! The progress bar drawn on standard error while captures are read.

use std::io;

/// A progress bar on standard error, drawn only once a run has taken a moment (so short
/// runs print nothing): bytes read of the total with rate and ETA when every input is a
/// plain file, bytes read and rate otherwise (standard input, gzip).
pub(crate) struct Progress {
    enabled: bool,
    start: std::time::Instant,
    names: Vec<String>,
    total: Option<u64>,
    done: Vec<std::sync::atomic::AtomicU64>,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    const DELAY: std::time::Duration = std::time::Duration::from_millis(300);

    pub(crate) fn new(paths: &[&std::path::Path], enabled: bool) -> Progress {
        let total = if enabled {
            paths
                .iter()
                .map(|p| plain_file_size(p))
                .sum::<Option<u64>>()
        } else {
            None
        };
        Progress {
            enabled,
            start: std::time::Instant::now(),
            names: paths
                .iter()
                .map(|p| pcapmail::text::escape(&p.display().to_string()).into_owned())
                .collect(),
            total,
            done: paths.iter().map(|_| Default::default()).collect(),
            bar: Default::default(),
        }
    }

    pub(crate) fn update(&self, file: usize, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.enabled {
            return;
        }
        self.done[file].store(bytes, Relaxed);
        if self.start.elapsed() < Self::DELAY {
            return;
        }
        let Ok(mut bar) = self.bar.lock() else { return };
        let position = self.done.iter().map(|d| d.load(Relaxed)).sum();
        let bar = bar.get_or_insert_with(|| self.new_bar(position));
        bar.set_message(self.names[file].clone());
        bar.set_position(position);
    }

    const BAR: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";
    const SPINNER: &str = "{spinner} {msg}: {bytes} read, {binary_bytes_per_sec}";

    fn new_bar(&self, position: u64) -> indicatif::ProgressBar {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let template = if self.total.is_some() {
            Self::BAR
        } else {
            Self::SPINNER
        };
        // Started with what was read before it appeared, so the rate is not inflated.
        let bar = ProgressBar::with_draw_target(self.total, ProgressDrawTarget::stderr())
            .with_position(position)
            .with_elapsed(self.start.elapsed());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        // Keeps the spinner turning while standard input is slow.
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    pub(crate) fn finish(&self) {
        if let Ok(Some(bar)) = self.bar.lock().as_deref() {
            bar.finish_and_clear();
        }
    }
}

/// The size of a plain, uncompressed capture file; None for standard input, pipes and
/// gzip files (whose decompressed size is not known in advance).
fn plain_file_size(path: &std::path::Path) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut magic = [0u8; 2];
    let mut f = std::fs::File::open(path).ok()?;
    if io::Read::read_exact(&mut f, &mut magic).is_ok() && magic == [0x1f, 0x8b] {
        return None;
    }
    Some(meta.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_templates_parse() {
        for t in [super::Progress::BAR, super::Progress::SPINNER] {
            assert!(indicatif::ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
