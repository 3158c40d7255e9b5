// TandemNN
//
// Owns: Layers with hand-written forward and backward passes, losses, SGD,
// initialisation and the reference models.
//
// Must not import: files, processes or ranks: only TandemTensor.
