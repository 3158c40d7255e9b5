// TandemMonitoring
//
// Owns: Drift (population stability index per column, image statistics, label
// shift, live metrics of a version) and scheduled retraining, which launches
// training as a job and reads its summary.
//
// Must not import: the trainer: retraining starts `tandem train` through a
// launcher.
