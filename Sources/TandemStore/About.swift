// TandemStore
//
// Owns: The store: content-addressed datasets and models, snapshot manifests
// (canonical JSON, SHA-256 ids), and the SQLite registry of runs, model
// versions, promotions and retrain decisions.
//
// Must not import: the trainer, scoring or any command: it records what
// TandemRun describes.
