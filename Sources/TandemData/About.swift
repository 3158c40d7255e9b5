// TandemData
//
// Owns: Files from outside and the datasets made of them: CSV and image
// ingest, HDF5 (the only importer of CHDF5, CJPEG and CPNG) with the isolation
// check, content hashes, batch readers, image transforms (augmentation and
// acquisition shifts), and the one atomic writer
// (`AtomicOutput`, `AtomicFile`), file lock (`FileLock`) and error shape
// (`FileError`).
//
// Must not import: any model, run or store module: only TandemTensor and TandemSystem.
