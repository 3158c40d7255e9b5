// TandemExplain
//
// Owns: Explanations of finished runs: exact linear and integrated-gradient
// contributions per source column, occlusion heatmaps and their PNG overlays.
//
// Must not import: the trainer, the store or scoring.
