// TandemSystem
//
// Owns: every POSIX call Tandem makes on files and processes (open, read,
// write, fsync, rename, link, flock, stat, directory listing, rlimits,
// signals), wrapped once with EINTR retried and errno turned into
// `SystemError`, the way swift-system does it.
//
// Must not import: any Tandem module: only Foundation and CSystem.
